//! Alerting rules on the stream, end to end: samples on a real broker,
//! `sluice process` evaluating a rule file in event time, state changes on
//! `sluice.alerts`, notifications in the real Alertmanager — with the
//! processor SIGKILLed while the alert is pending and again right after it
//! fired. Each state change must be on the topic exactly once, at the event
//! time an uninterrupted evaluation gives it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_ingest::publish::{KafkaPublisher, SampleWriter};
use sluice_ingest::topics::client_config;
use sluice_model::kafka::KafkaConfig;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::rules::alert_record::AlertRecord;

use crate::support::alertmanager::Alertmanager;
use crate::support::broker::Broker;
use crate::support::process::strip_ansi;
use crate::support::sluice::TestConfig;

const RULES: &str = r#"groups:
  - name: api
    interval: 1s
    rules:
      - record: job:errors_per_second:max
        expr: max by (job) (errors_per_second)
      - alert: HighErrors
        expr: job:errors_per_second:max > 10
        for: 5s
        labels: { severity: page }
        annotations: { summary: "{{ $labels.job }} fails {{ $value }} times a second" }
"#;

/// Second `s` of the input: above the threshold from 10 s to 39 s.
fn second(t0: i64, s: i64) -> Vec<TimeSeries> {
    let value = if (10..40).contains(&s) { 20.0 } else { 1.0 };
    vec![TimeSeries {
        labels: Labels::new([
            ("__name__", "errors_per_second"),
            ("job", "api"),
            ("instance", "a:1"),
        ]),
        samples: vec![Sample::new(t0 + s * 1000, value)],
    }]
}

async fn publish(p: &KafkaPublisher, t0: i64, seconds: std::ops::RangeInclusive<i64>) {
    for s in seconds {
        p.write(second(t0, s)).await.unwrap();
    }
}

/// Every record of a topic, decoded as alert records.
pub(crate) fn alert_records(kafka: &KafkaConfig) -> Vec<AlertRecord> {
    let topic = "sluice.alerts";
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", "it-alerts")
        .create()
        .unwrap();
    let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return Vec::new();
    };
    let mut tpl = TopicPartitionList::new();
    let mut total = 0;
    for p in md.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .unwrap();
        total += high;
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    if total == 0 {
        return Vec::new();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < total && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(serde_json::from_slice(m.payload().unwrap()).expect("alert record is JSON"));
        }
    }
    out
}

fn checkpoints(kafka: &KafkaConfig) -> i64 {
    let consumer: BaseConsumer = client_config(kafka).create().unwrap();
    consumer
        .fetch_watermarks("sluice.state.rules", 0, Duration::from_secs(5))
        .map_or(0, |(_, h)| h)
}

async fn wait_for_state(kafka: &KafkaConfig, state: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !alert_records(kafka).iter().any(|r| r.state == state) {
        assert!(
            Instant::now() < deadline,
            "no {state} record after 90 s; log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_lifecycle_on_the_topic_and_in_alertmanager_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let am = Alertmanager::start(&dir.path().join("am"));
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections = format!(
        "rule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{{ targets: [\"{}\"] }}]\nrule_evaluation:\n  allowed_lateness: 0s\n  checkpoint_interval: 500ms\n",
        am.address()
    );
    let (kafka, publisher) = broker.samples_publisher().await;
    let now = chrono::Utc::now().timestamp_millis();
    // Event time lies in the past, as it does for real samples: an alert
    // whose `endsAt` is still in the future is not resolved for
    // Alertmanager (and it keeps the later `endsAt` it already has).
    let t0 = now - now % 1000 - 90_000;

    // Life 1: pending, checkpointed, SIGKILLed.
    publish(&publisher, t0, 0..=12).await;
    let mut proc = cfg.start("process");
    wait_for_state(&kafka, "pending", || proc.output()).await;
    let before = checkpoints(&kafka);
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoints(&kafka) <= before {
        assert!(Instant::now() < deadline, "no checkpoint after the pending alert");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proc.kill9();

    // Life 2: fires, SIGKILLed at once (likely before its next checkpoint,
    // so life 3 evaluates the firing again and must not publish it twice).
    let mut proc = cfg.start("process");
    publish(&publisher, t0, 13..=30).await;
    wait_for_state(&kafka, "firing", || proc.output()).await;
    proc.kill9();

    // Life 3: Alertmanager has the firing alert, then sees it resolve.
    let proc = cfg.start("process");
    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        let alerts = am.alerts().await;
        if let Some(a) = alerts.iter().find(|a| a["labels"]["alertname"] == "HighErrors") {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager never got HighErrors; log:\n{}",
            proc.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(firing["startsAt"], iso(t0 + 15_000), "{firing}");
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(firing["annotations"]["summary"], "api fails 20 times a second");
    assert_eq!(firing["status"]["state"], "active");

    publish(&publisher, t0, 31..=60).await;
    wait_for_state(&kafka, "inactive", || proc.output()).await;
    // Resolved: Alertmanager holds the alert with `endsAt` at the
    // resolution (it lists resolved alerts until its garbage collection).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alerts = am.alerts().await;
        let a = alerts.iter().find(|a| a["labels"]["alertname"] == "HighErrors");
        if a.is_none_or(|a| a["endsAt"] == iso(t0 + 40_000)) {
            eprintln!("Alertmanager after the resolution: {a:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager did not get the resolution: {alerts:?}\n{}",
            proc.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Exactly one record per change, at the uninterrupted run's event times.
    let records = alert_records(&kafka);
    let changes: Vec<(String, Option<String>, String)> = records
        .iter()
        .map(|r| (r.state.clone(), r.previous_state.clone(), r.evaluated_at.clone()))
        .collect();
    eprintln!("alert records: {changes:?}");
    assert_eq!(
        changes,
        vec![
            ("pending".to_string(), None, iso(t0 + 10_000)),
            (
                "firing".to_string(),
                Some("pending".to_string()),
                iso(t0 + 15_000)
            ),
            (
                "inactive".to_string(),
                Some("firing".to_string()),
                iso(t0 + 40_000)
            ),
        ]
    );
    let last = records.last().unwrap();
    assert_eq!(last.ends_at.as_deref(), Some(iso(t0 + 40_000).as_str()));
    assert_eq!(
        last.labels.get("alertname").map(String::as_str),
        Some("HighErrors")
    );
    let keys: BTreeMap<&str, usize> = records.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.fingerprint.as_str()).or_default() += 1;
        m
    });
    assert_eq!(keys.len(), 1, "one alert, one key");
    let log = strip_ansi(&proc.output());
    assert!(
        log.contains("restored=true"),
        "life 3 resumed from a checkpoint:\n{log}"
    );
}
