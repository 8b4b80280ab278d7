//! The multi-instance path of the rule evaluator: two `sluice process`
//! instances split the rule groups (`rule_evaluation.shard_index/count`),
//! each reading every partition. Every group's alert is published exactly
//! once, and each alert aggregates series spread over all partitions, so
//! it fires only if its evaluator saw every partition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries, partition_for};

use crate::alerting::alert_records;
use crate::support::broker::Broker;
use crate::support::process::strip_ansi;
use crate::support::sluice::TestConfig;

const GROUPS: usize = 6;
const INSTANCES: usize = 4;

fn rules() -> String {
    let mut y = String::from("groups:\n");
    for g in 0..GROUPS {
        y += &format!(
            "  - name: g{g}\n    interval: 1s\n    rules:\n      - alert: Load{g}\n        expr: sum(load{{group=\"g{g}\"}}) > 35\n"
        );
    }
    y
}

/// Second `s`: every instance at 10 from 5 s to 14 s (sum 40), else 1.
fn second(t0: i64, s: i64) -> Vec<TimeSeries> {
    let v = if (5..15).contains(&s) { 10.0 } else { 1.0 };
    (0..GROUPS)
        .flat_map(|g| {
            (0..INSTANCES).map(move |i| TimeSeries {
                labels: Labels::new([
                    ("__name__", "load".to_string()),
                    ("group", format!("g{g}")),
                    ("instance", format!("i{i}")),
                ]),
                samples: vec![Sample::new(t0 + s * 1000, v)],
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_groups_and_each_alert_sees_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    // Groups are split by a hash of file path and group name, so the path
    // is fixed: under a temporary directory's random name, all six groups
    // land on one instance in 1 run of 32.
    let rules_dir = std::path::Path::new("/tmp/sluice-it-alerting-shards");
    std::fs::create_dir_all(rules_dir).unwrap();
    let rules_file = rules_dir.join("rules.yml");
    std::fs::write(&rules_file, rules()).unwrap();
    let (kafka, publisher) = broker.samples_publisher().await;
    let t0 = 1_700_000_000_000;
    // The series of one group really are spread over the partitions.
    let parts: std::collections::BTreeSet<i32> = second(t0, 0)[..INSTANCES]
        .iter()
        .map(|s| partition_for(&s.labels, kafka.partitions))
        .collect();
    assert!(
        parts.len() > 1,
        "group g0's series all hash to one partition: {parts:?}"
    );
    for s in 0..=30 {
        publisher.write(second(t0, s)).await.unwrap();
    }

    let procs: Vec<_> = (0..2)
        .map(|i| {
            let sub = dir.path().join(format!("instance{i}"));
            std::fs::create_dir_all(&sub).unwrap();
            let mut cfg = TestConfig::new(&sub, broker.address());
            cfg.sections = format!(
                "rule_files: [\"{}\"]\nrule_evaluation:\n  allowed_lateness: 0s\n  checkpoint_interval: 1s\n  shard_index: {i}\n  shard_count: 2\n",
                rules_file.display()
            );
            cfg.start("process")
        })
        .collect();
    let expected = 3 * GROUPS; // pending, firing (for: 0), inactive
    let deadline = Instant::now() + Duration::from_secs(90);
    let records = loop {
        let r = alert_records(&kafka);
        if r.len() >= expected {
            // Let any duplicate arrive before judging.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break alert_records(&kafka);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} records after 90 s; logs:\n{}\n{}",
            r.len(),
            procs[0].output(),
            procs[1].output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut per_group: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for r in &records {
        let at = chrono::DateTime::parse_from_rfc3339(&r.evaluated_at)
            .unwrap()
            .timestamp_millis();
        per_group
            .entry(r.group.clone())
            .or_default()
            .push((r.state.clone(), (at - t0) / 1000));
    }
    eprintln!("records per group: {per_group:?}");
    assert_eq!(per_group.len(), GROUPS);
    for (g, changes) in &per_group {
        assert_eq!(
            changes,
            &vec![
                ("pending".to_string(), 5),
                ("firing".to_string(), 5),
                ("inactive".to_string(), 15)
            ],
            "group {g}"
        );
    }
    // Each instance evaluated its own share, together all groups.
    let owned: Vec<usize> = procs
        .iter()
        .map(|p| {
            let log = strip_ansi(&p.output());
            let line = log
                .lines()
                .find(|l| l.contains("rule evaluator started"))
                .expect("started");
            let n = line
                .split("groups=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            n.parse().unwrap()
        })
        .collect();
    eprintln!("groups per instance: {owned:?}");
    assert_eq!(owned.iter().sum::<usize>(), GROUPS);
    assert!(
        owned.iter().all(|n| *n > 0),
        "both instances own groups: {owned:?}"
    );
}
