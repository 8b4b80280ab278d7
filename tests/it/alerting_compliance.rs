//! Prometheus' alerting-compliance rules
//! (`../shared/testdata/compliance/alert_generator/rules.yaml`, unchanged)
//! on a generated input stream, side by side with Prometheus 2.42.
//!
//! Sluice: the samples go through a real broker into `sluice process`,
//! which publishes every alert state change on `sluice.alerts`. Prometheus:
//! the same samples and rules go to `promtool test rules` (Prometheus
//! 2.42's own rule manager, evaluated on virtual time), as a test file
//! generated from what Sluice published: at every evaluation time the
//! `ALERTS` series Sluice's states imply, and the firing alerts with their
//! labels and annotations. promtool passing means Prometheus computes the
//! same states, labels and annotations at every evaluation (templates with
//! `define`/`template` and `query` included).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::rules::alert_record::AlertRecord;

use crate::alerting::alert_records;
use crate::support::broker::Broker;
use crate::support::sluice::TestConfig;
use crate::support::testdata;

const STEP_MS: i64 = 15_000;
const STEPS: i64 = 80; // 20 minutes
const EVAL_MS: i64 = 30_000;

/// One input series: its labels and a value per step.
struct Input {
    labels: Vec<(&'static str, &'static str)>,
    value: fn(i64) -> f64,
}

/// Above the threshold in `[from, to)` minutes, else 0.
fn high(t_ms: i64, from_min: i64, to_min: i64, v: f64) -> f64 {
    if (from_min * 60_000..to_min * 60_000).contains(&t_ms) {
        v
    } else {
        0.0
    }
}

fn inputs() -> Vec<Input> {
    let base = |alert: &'static str, group: &'static str| {
        vec![
            ("__name__", "alert_generator_test_suite"),
            ("alertname", alert),
            ("rulegroup", group),
        ]
    };
    let with = |mut l: Vec<(&'static str, &'static str)>, k, v| {
        l.push((k, v));
        l
    };
    vec![
        // Fires for 3 m from 2 m in two variants; Rule2 needs both firing.
        Input {
            labels: with(
                base("NewAlerts_OrderCheck_Rule1", "NewAlerts_OrderCheck"),
                "variant",
                "one",
            ),
            value: |t| high(t, 2, 12, 20.0),
        },
        Input {
            labels: with(
                base("NewAlerts_OrderCheck_Rule1", "NewAlerts_OrderCheck"),
                "variant",
                "two",
            ),
            value: |t| high(t, 3, 12, 20.0),
        },
        // Pending 6 m, firing, then resolved.
        Input {
            labels: base(
                "PendingAndFiringAndResolved_SimpleAlert",
                "PendingAndFiringAndResolved",
            ),
            value: |t| high(t, 1, 10, 15.0),
        },
        // Pending, cleared before `for`; the other never crosses 99.
        Input {
            labels: base(
                "PendingAndResolved_AlwaysInactive_PendingAlert",
                "PendingAndResolved_AlwaysInactive",
            ),
            value: |t| high(t, 1, 3, 50.0),
        },
        Input {
            labels: base(
                "PendingAndResolved_AlwaysInactive_InactiveAlert",
                "PendingAndResolved_AlwaysInactive",
            ),
            value: |t| high(t, 1, 3, 50.0),
        },
        // for: 0 and for: 15s.
        Input {
            labels: base("ZeroFor_SmallFor_ZeroFor", "ZeroFor_SmallFor"),
            value: |t| high(t, 2, 4, 11.0),
        },
        Input {
            labels: base("ZeroFor_SmallFor_SmallFor", "ZeroFor_SmallFor"),
            value: |t| high(t, 2, 5, 14.0),
        },
        // Read by the template query.
        Input {
            labels: with(
                with(
                    vec![
                        ("__name__", "alert_generator_test_suite"),
                        ("rulegroup", "ZeroFor_SmallFor"),
                    ],
                    "for",
                    "template",
                ),
                "id",
                "1",
            ),
            value: |_| 1.0,
        },
        Input {
            labels: with(
                with(
                    vec![
                        ("__name__", "alert_generator_test_suite"),
                        ("rulegroup", "ZeroFor_SmallFor"),
                    ],
                    "for",
                    "template",
                ),
                "id",
                "2",
            ),
            value: |_| 2.0,
        },
    ]
}

/// The promtool notation of a label set.
fn selector(name: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap()))
        .collect();
    format!("{name}{{{}}}", inner.join(", "))
}

/// At each evaluation time, the alerts Sluice's records say are active.
fn states_at(records: &[AlertRecord], t_ms: i64) -> Vec<&AlertRecord> {
    let at = |r: &AlertRecord| {
        chrono::DateTime::parse_from_rfc3339(&r.evaluated_at)
            .unwrap()
            .timestamp_millis()
    };
    let mut last: BTreeMap<&str, &AlertRecord> = BTreeMap::new();
    for r in records.iter().filter(|r| at(r) <= t_ms) {
        last.insert(&r.fingerprint, r);
    }
    last.into_values().filter(|r| r.state != "inactive").collect()
}

/// The promtool test file for Sluice's records.
fn promtool_file(rules: &std::path::Path, records: &[AlertRecord]) -> String {
    let mut y = format!(
        "rule_files: [{}]\nevaluation_interval: 30s\ntests:\n  - interval: 15s\n    input_series:\n",
        rules.display()
    );
    for input in inputs() {
        let labels: BTreeMap<String, String> = input
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let values: Vec<String> = (0..STEPS)
            .map(|i| format!("{}", (input.value)(i * STEP_MS)))
            .collect();
        y += &format!(
            "      - series: '{}'\n        values: \"{}\"\n",
            selector("alert_generator_test_suite", &labels),
            values.join(" ")
        );
    }
    y += "    promql_expr_test:\n";
    let mut t = 0;
    while t < STEPS * STEP_MS {
        y += &format!(
            "      - expr: ALERTS\n        eval_time: {}s\n        exp_samples:\n",
            t / 1000
        );
        for r in states_at(records, t) {
            let mut l = r.labels.clone();
            l.insert("alertstate".into(), r.state.clone());
            y += &format!(
                "          - labels: '{}'\n            value: 1\n",
                selector("ALERTS", &l)
            );
        }
        t += EVAL_MS;
    }
    y += "    alert_rule_test:\n";
    let names: BTreeSet<&str> = inputs()
        .iter()
        .flat_map(|i| i.labels.iter().find(|(k, _)| *k == "alertname").map(|(_, v)| *v))
        .chain(["NewAlerts_OrderCheck_Rule2"])
        .collect();
    let mut t = 0;
    while t < STEPS * STEP_MS {
        for name in &names {
            y += &format!(
                "      - eval_time: {}s\n        alertname: {name}\n        exp_alerts:\n",
                t / 1000
            );
            for r in states_at(records, t)
                .into_iter()
                .filter(|r| r.state == "firing" && r.labels["alertname"] == *name)
            {
                let labels: BTreeMap<&String, &String> = r
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "alertname")
                    .collect();
                y += &format!(
                    "          - exp_labels: {}\n            exp_annotations: {}\n",
                    serde_json::to_string(&labels).unwrap(),
                    serde_json::to_string(&r.annotations).unwrap()
                );
            }
        }
        t += EVAL_MS;
    }
    y
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_rules_agree_with_prometheus_at_every_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let rules = testdata().join("compliance/alert_generator/rules.yaml");
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections = format!(
        "rule_files: [\"{}\"]\nrule_evaluation:\n  allowed_lateness: 0s\n  checkpoint_interval: 1s\n",
        rules.display()
    );
    let (kafka, publisher) = broker.samples_publisher().await;
    for i in 0..STEPS {
        let t = i * STEP_MS;
        let batch: Vec<TimeSeries> = inputs()
            .iter()
            .map(|input| TimeSeries {
                labels: Labels::new(input.labels.iter().copied()),
                samples: vec![Sample::new(t, (input.value)(t))],
            })
            .collect();
        publisher.write(batch).await.unwrap();
    }
    let proc = cfg.start("process");
    // The last evaluation (19.5 m) resolves everything still active; wait
    // until the topic has stopped growing after it.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = 0;
    let mut quiet_since = Instant::now();
    let records = loop {
        let records = alert_records(&kafka);
        if records.len() != seen {
            seen = records.len();
            quiet_since = Instant::now();
        } else if seen > 0 && quiet_since.elapsed() > Duration::from_secs(5) {
            break records;
        }
        assert!(
            Instant::now() < deadline,
            "alerts topic still growing after 120 s:\n{}",
            proc.output()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for r in &records {
        eprintln!(
            "sluice: {:>8} {:<8} {} {:?}",
            r.evaluated_at,
            r.state,
            r.labels["alertname"],
            r.labels.get("variant")
        );
    }
    let names: BTreeSet<&str> = records.iter().map(|r| r.labels["alertname"].as_str()).collect();
    assert_eq!(
        names.len(),
        6,
        "every alert but the never-firing one changed state: {names:?}"
    );
    assert!(!names.contains("PendingAndResolved_AlwaysInactive_InactiveAlert"));

    let file = dir.path().join("prometheus-side-by-side.yml");
    std::fs::write(&file, promtool_file(&rules, &records)).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let evaluations = (STEPS * STEP_MS / EVAL_MS) as usize;
    eprintln!(
        "promtool test rules on Sluice's {} state changes over {evaluations} evaluations:\n{text}",
        records.len()
    );
    assert!(
        out.status.success(),
        "Prometheus 2.42 disagrees with Sluice:\n{text}"
    );

    // The comparison can fail: without one firing record, promtool objects.
    let mut wrong = records.clone();
    let i = wrong.iter().position(|r| r.state == "firing").unwrap();
    wrong.remove(i);
    std::fs::write(&file, promtool_file(&rules, &wrong)).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool");
    assert!(!out.status.success(), "promtool accepted a missing firing alert");
}
