//! Sample-to-alert latency: from a sample that crosses a threshold being
//! acknowledged by Kafka to the `firing` record of its alert (`for: 0`)
//! arriving at a consumer of `sluice.alerts`. Ignored by default (a
//! measurement, not a check); `tests/bench/alert_latency.sh` runs it with
//! optimised code and the figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_ingest::publish::SampleWriter;
use sluice_ingest::topics::{client_config, ensure_topics};
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::rules::alert_record::AlertRecord;

use crate::support::broker::Broker;
use crate::support::sluice::TestConfig;

const RULES: &str = "groups:\n  - name: latency\n    interval: 1s\n    rules:\n      - alert: Over\n        expr: level > 10\n";

fn level(t_ms: i64, v: f64) -> Vec<TimeSeries> {
    vec![TimeSeries {
        labels: Labels::new([("__name__", "level"), ("job", "bench")]),
        samples: vec![Sample::new(t_ms, v)],
    }]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/alert_latency.sh"]
async fn bench_sample_to_alert_latency() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections = "rule_files: [rules.yml]\nrule_evaluation:\n  allowed_lateness: 0s\n".into();
    let (kafka, publisher) = broker.samples_publisher().await;
    ensure_topics(&kafka, &["sluice.alerts".to_string()])
        .await
        .unwrap();
    let alerts: StreamConsumer = client_config(&kafka)
        .set("group.id", "bench-alerts")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    // Explicit assignment at the end (tansu's group rebalancing is slow).
    let mut tpl = TopicPartitionList::new();
    for p in 0..kafka.partitions {
        tpl.add_partition_offset("sluice.alerts", p, Offset::End).unwrap();
    }
    alerts.assign(&tpl).unwrap();
    let _proc = cfg.start("process");

    let t0 = chrono::Utc::now().timestamp_millis() / 1000 * 1000 - 3_600_000;
    // Warm up: the evaluator has started and evaluated once.
    publisher.write(level(t0, 1.0)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut latencies_ms = Vec::new();
    for k in 1..=60i64 {
        let crossing = t0 + 2 * k * 1000;
        publisher.write(level(crossing, 20.0)).await.unwrap();
        let acked = Instant::now();
        let deadline = acked + Duration::from_secs(30);
        loop {
            let msg = tokio::time::timeout_at(deadline.into(), alerts.recv())
                .await
                .expect("no firing record within 30 s")
                .unwrap();
            let r: AlertRecord = serde_json::from_slice(msg.payload().unwrap()).unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(&r.evaluated_at)
                .unwrap()
                .timestamp_millis();
            if r.state == "firing" && at == crossing {
                latencies_ms.push(acked.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        // Back below the threshold (the alert resolves) before the next crossing.
        publisher.write(level(crossing + 1000, 1.0)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    latencies_ms.sort_by(f64::total_cmp);
    eprintln!(
        "sample-to-alert latency over {} crossings: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies_ms.len(),
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.9),
        percentile(&latencies_ms, 0.99),
        latencies_ms[latencies_ms.len() - 1]
    );
}
