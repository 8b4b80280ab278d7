//! `/api/v1/rules` and `/api/v1/alerts` of a query role running apart from
//! the rule evaluators, as in the Kubernetes deployment: two `sluice
//! process` shards (each evaluating its share of the groups) and one
//! `sluice query`, three processes on one tansu broker. The query role
//! knows the rules only from what the shards publish on
//! `sluice.rules_status`; it must show every group of both shards in
//! config order and their alerts, skip (and count) records it cannot read,
//! and forget a stopped shard's groups once their records expire
//! (`rule_evaluation.status_ttl`), while the live shard's groups stay
//! listed with no new samples (the checkpoint republishes them). A
//! restarted shard's groups come back with their restored alerts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use sluice_ingest::publish::SampleWriter;
use sluice_ingest::topics::client_config;
use sluice_model::kafka::KafkaConfig;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_rules::status_record::{StatusRecord, key};

use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::{get_json, metric};
use crate::support::process::Proc;
use crate::support::sluice::TestConfig;

const GROUPS: usize = 6;
const INSTANCES: usize = 4;
const T0: i64 = 1_700_000_000_000;
/// Short, so that expiry is seen within the test; refreshed every 1 s.
const STATUS_TTL_S: u64 = 4;

/// Per group: a recording rule, an alert that fires (no `for`) and one
/// that stays pending (`for: 1h`) once the load sum passes 35.
fn rules() -> String {
    let mut y = String::from("groups:\n");
    for g in 0..GROUPS {
        let sum = format!("sum(load{{group=\"g{g}\"}})");
        y += &format!(
            "  - name: g{g}\n    interval: 1s\n    rules:\n      - record: group:load:sum{g}\n        expr: {sum}\n      - alert: Load{g}\n        expr: {sum} > 35\n        labels: {{severity: page}}\n        annotations: {{summary: 'load {{{{ $value }}}}'}}\n      - alert: LoadLong{g}\n        expr: {sum} > 35\n        for: 1h\n"
        );
    }
    y
}

/// Second `s`: every instance at 10 from 5 s on (sum 40), 1 before.
fn second(s: i64) -> Vec<TimeSeries> {
    let v = if s >= 5 { 10.0 } else { 1.0 };
    (0..GROUPS)
        .flat_map(|g| {
            (0..INSTANCES).map(move |i| TimeSeries {
                labels: Labels::new([
                    ("__name__", "load".to_string()),
                    ("group", format!("g{g}")),
                    ("instance", format!("i{i}")),
                ]),
                samples: vec![Sample::new(T0 + s * 1000, v)],
            })
        })
        .collect()
}

fn names(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| g["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The groups of `/api/v1/rules` (`Null` while the API does not answer).
async fn rule_groups(api: &str) -> Value {
    let (s, v) = get_json(&format!("{api}/api/v1/rules")).await;
    if s == 200 {
        v["data"]["groups"].clone()
    } else {
        Value::Null
    }
}

/// `/api/v1/alerts` (`None` while the API does not answer).
async fn alerts(api: &str) -> Option<Vec<Value>> {
    let (s, v) = get_json(&format!("{api}/api/v1/alerts")).await;
    (s == 200).then(|| v["data"]["alerts"].as_array().cloned().unwrap_or_default())
}

/// The alerts every group has once the load passed 35: `Load<g>` firing
/// and `LoadLong<g>` pending, both active since 5 s, value 40.
fn expected_alerts(groups: &[usize]) -> Vec<(String, String, String, String)> {
    let since = sluice_rules::api_json::rfc3339(T0 + 5000);
    groups
        .iter()
        .flat_map(|g| {
            [("Load", "firing"), ("LoadLong", "pending")].map(|(a, st)| {
                (
                    format!("{a}{g}"),
                    st.to_string(),
                    since.clone(),
                    "4e+01".to_string(),
                )
            })
        })
        .collect()
}

fn alert_tuples(alerts: &[Value]) -> Vec<(String, String, String, String)> {
    alerts
        .iter()
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&a["labels"]["alertname"]),
                s(&a["state"]),
                s(&a["activeAt"]),
                s(&a["value"]),
            )
        })
        .collect()
}

/// Which shard's record each group has on the status topic (the newest).
fn owners(kafka: &KafkaConfig) -> BTreeMap<String, u32> {
    let topic = kafka.rules_status_topic();
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", "it-rules-status")
        .create()
        .unwrap();
    let (_, high) = consumer
        .fetch_watermarks(&topic, 0, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = 0;
    while read < high && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read = m.offset() + 1;
            let k = std::str::from_utf8(m.key().unwrap()).unwrap();
            let r = StatusRecord::decode(k, m.payload().unwrap()).expect("the shards publish valid records");
            assert_eq!((r.version, r.shard_count), (1, 2));
            assert!(r.expires_at_ms - r.published_at_ms == STATUS_TTL_S as i64 * 1000);
            out.insert(r.group.name, r.shard_index);
        }
    }
    out
}

fn produce(kafka: &KafkaConfig, records: &[(String, Vec<u8>)]) {
    let p: BaseProducer = client_config(kafka).create().unwrap();
    for (k, v) in records {
        p.send(BaseRecord::to(&kafka.rules_status_topic()).key(k).payload(v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(10)).unwrap();
}

fn start_shard(dir: &std::path::Path, broker: &Broker, rules_file: &std::path::Path, i: usize) -> Proc {
    let sub = dir.join(format!("shard{i}"));
    std::fs::create_dir_all(&sub).unwrap();
    let mut cfg = TestConfig::new(&sub, broker.address());
    cfg.sections = format!(
        "rule_files: [\"{}\"]\nrule_evaluation:\n  allowed_lateness: 0s\n  checkpoint_interval: 1s\n  status_ttl: {STATUS_TTL_S}s\n  shard_index: {i}\n  shard_count: 2\n",
        rules_file.display()
    );
    cfg.start("process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_role_serves_the_rules_and_alerts_of_every_process_shard() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    // Groups are split by a hash of file path and group name: a fixed path
    // (this one splits the six groups 2 + 4, checked below).
    let rules_dir = std::path::Path::new("/tmp/sluice-it-rules-api-split");
    std::fs::create_dir_all(rules_dir).unwrap();
    let rules_file = rules_dir.join("rules.yml");
    std::fs::write(&rules_file, rules()).unwrap();
    let (kafka, publisher) = broker.samples_publisher().await;
    for s in 0..=30 {
        publisher.write(second(s)).await.unwrap();
    }
    let mut shards: Vec<Proc> = (0..2)
        .map(|i| start_shard(dir.path(), &broker, &rules_file, i))
        .collect();
    // The query role has no rule_files: all it knows comes from the topic.
    let qdir = dir.path().join("query");
    std::fs::create_dir_all(&qdir).unwrap();
    let qcfg = TestConfig::new(&qdir, broker.address());
    let query = qcfg.start("query");
    let api = qcfg.api();
    let logs = |shards: &[Proc]| {
        format!(
            "{}\n{}\n{}",
            shards[0].output(),
            shards[1].output(),
            query.output()
        )
    };

    // Every group of both shards, in config order, with its alerts.
    let all: Vec<usize> = (0..GROUPS).collect();
    let want = expected_alerts(&all);
    let started = Instant::now();
    let got = eventually(
        Duration::from_secs(90),
        "every shard's alerts on the query role",
        || {
            let (api, want) = (api.clone(), want.clone());
            async move {
                let a = alert_tuples(&alerts(&api).await?);
                (a == want).then_some(a)
            }
        },
    )
    .await;
    eprintln!(
        "query role shows {} alerts of {GROUPS} groups after {:.1} s",
        got.len(),
        started.elapsed().as_secs_f64()
    );
    let owned = owners(&kafka);
    eprintln!("group owners on sluice.rules_status: {owned:?}");
    assert_eq!(owned.len(), GROUPS);
    let of = |shard: u32| -> Vec<usize> {
        all.iter()
            .copied()
            .filter(|g| owned[&format!("g{g}")] == shard)
            .collect()
    };
    let (zero, one) = (of(0), of(1));
    assert!(
        !zero.is_empty() && !one.is_empty(),
        "both shards own groups: {owned:?}"
    );

    let groups = rule_groups(&api).await;
    assert_eq!(
        names(&groups),
        all.iter().map(|g| format!("g{g}")).collect::<Vec<_>>(),
        "config order"
    );
    for (g, group) in groups.as_array().unwrap().iter().enumerate() {
        assert_eq!(group["file"], rules_file.display().to_string());
        assert_eq!(group["interval"], 1);
        assert_ne!(group["lastEvaluation"], sluice_rules::api_json::NEVER);
        let rules = group["rules"].as_array().unwrap();
        let kinds: Vec<(&str, &str, &str)> = rules
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap(),
                    r["health"].as_str().unwrap(),
                    r["state"].as_str().unwrap_or("-"),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("recording", "ok", "-"),
                ("alerting", "ok", "firing"),
                ("alerting", "ok", "pending")
            ],
            "group g{g}: {group}"
        );
        assert_eq!(rules[1]["labels"]["severity"], "page");
        assert_eq!(rules[1]["annotations"]["summary"], "load {{ $value }}");
        assert_eq!(rules[1]["alerts"][0]["annotations"]["summary"], "load 40");
        assert_eq!(rules[2]["duration"], 3600);
    }
    let (_, only) = get_json(&format!("{api}/api/v1/rules?type=record")).await;
    for g in only["data"]["groups"].as_array().unwrap() {
        assert_eq!(g["rules"].as_array().unwrap().len(), 1, "{g}");
    }
    let (s, bad) = get_json(&format!("{api}/api/v1/rules?type=alerts")).await;
    assert_eq!((s, &bad["errorType"]), (400, &Value::from("bad_data")));

    // Records the query role cannot read are counted and skipped; the
    // groups keep their last status.
    // A record of a later format version (otherwise valid) and garbage.
    let mut poisoned = groups[0].clone();
    poisoned["name"] = "poisoned".into();
    let newer_version = serde_json::json!({
        "version": 2, "shard_index": 0, "shard_count": 2, "order": 0,
        "published_at_ms": 0, "expires_at_ms": i64::MAX, "group": poisoned,
    });
    produce(
        &kafka,
        &[
            ("garbage".into(), b"\x00\x01 not json".to_vec()),
            (
                key(&rules_file.display().to_string(), "poisoned"),
                serde_json::to_vec(&newer_version).unwrap(),
            ),
        ],
    );
    let skipped = eventually(Duration::from_secs(30), "two skipped records counted", || {
        let api = api.clone();
        async move {
            let text = reqwest::get(format!("{api}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let n = metric(&text, "sluice_query_rules_status_invalid_records_total", &[]);
            (n >= 2.0).then_some(n)
        }
    })
    .await;
    assert_eq!(skipped, 2.0);
    assert_eq!(names(&rule_groups(&api).await).len(), GROUPS, "{}", logs(&shards));

    // Shard 0 stops cleanly. Its groups stay listed (last status, last
    // evaluation time) until their records expire, then disappear; shard
    // 1's stay, refreshed by its checkpoints though no sample arrives.
    let stopped = Instant::now();
    assert!(
        shards[0].terminate().is_some_and(|s| s.success()),
        "{}",
        logs(&shards)
    );
    assert_eq!(
        names(&rule_groups(&api).await).len(),
        GROUPS,
        "right after the stop"
    );
    let left: Vec<String> = one.iter().map(|g| format!("g{g}")).collect();
    eventually(
        Duration::from_secs(STATUS_TTL_S + 10),
        "the stopped shard's groups to expire",
        || {
            let (api, left) = (api.clone(), left.clone());
            async move { (names(&rule_groups(&api).await) == left).then_some(()) }
        },
    )
    .await;
    eprintln!(
        "stopped shard's {} groups gone from the query role after {:.1} s (status_ttl {STATUS_TTL_S}s)",
        zero.len(),
        stopped.elapsed().as_secs_f64()
    );
    assert_eq!(alert_tuples(&alerts(&api).await.unwrap()), expected_alerts(&one));
    tokio::time::sleep(Duration::from_secs(2 * STATUS_TTL_S)).await;
    assert_eq!(
        names(&rule_groups(&api).await),
        left,
        "live shard's groups kept alive"
    );

    // Restarted, shard 0 restores its alerts from its checkpoint and its
    // groups are back.
    shards[0] = start_shard(dir.path(), &broker, &rules_file, 0);
    eventually(
        Duration::from_secs(60),
        "the restarted shard's groups back",
        || {
            let (api, want) = (api.clone(), want.clone());
            async move { (alert_tuples(&alerts(&api).await?) == want).then_some(()) }
        },
    )
    .await;

    // A crashed shard (no clean stop) is forgotten the same way.
    shards[1].kill9();
    let zero_names: Vec<String> = zero.iter().map(|g| format!("g{g}")).collect();
    eventually(
        Duration::from_secs(STATUS_TTL_S + 10),
        "the crashed shard's groups to expire",
        || {
            let (api, z) = (api.clone(), zero_names.clone());
            async move { (names(&rule_groups(&api).await) == z).then_some(()) }
        },
    )
    .await;
    assert_eq!(alert_tuples(&alerts(&api).await.unwrap()), expected_alerts(&zero));
}
