//! What Alertmanager receives, side by side: Prometheus 2.42 and `sluice
//! all` scrape the same loopback exporter, evaluate the alerting-compliance
//! rules file unchanged, and each notifies its own real Alertmanager. The
//! `ZeroFor_SmallFor` group (`for: 0` and `for: 15s`, interval 30 s, with
//! the `define`/`template`/`query` annotation) fits a test of a few
//! minutes: both Alertmanagers must hold the same alerts — labels and
//! annotations — while they fire, and both must see them resolve.

use std::time::Duration;

use serde_json::Value;

use crate::support::alertmanager::Alertmanager;
use crate::support::broker::Broker;
use crate::support::http::Exporter;
use crate::support::prometheus;
use crate::support::sluice::TestConfig;
use crate::support::{eventually, testdata};

fn exposition(value: f64) -> String {
    format!(
        "# TYPE alert_generator_test_suite gauge\n\
         alert_generator_test_suite{{alertname=\"ZeroFor_SmallFor_ZeroFor\",rulegroup=\"ZeroFor_SmallFor\"}} {value}\n\
         alert_generator_test_suite{{alertname=\"ZeroFor_SmallFor_SmallFor\",rulegroup=\"ZeroFor_SmallFor\"}} {value}\n\
         alert_generator_test_suite{{rulegroup=\"ZeroFor_SmallFor\",for=\"template\",id=\"1\"}} 1\n\
         alert_generator_test_suite{{rulegroup=\"ZeroFor_SmallFor\",for=\"template\",id=\"2\"}} 2\n"
    )
}

/// (labels, annotations) of the group's alerts an Alertmanager holds,
/// sorted; with `active`, only those whose `endsAt` is still ahead.
async fn held(am: &Alertmanager) -> Vec<(Value, Value)> {
    let mut out: Vec<(Value, Value)> = am
        .alerts()
        .await
        .into_iter()
        .filter(|a| a["labels"]["rulegroup"] == "ZeroFor_SmallFor")
        .map(|a| (a["labels"].clone(), a["annotations"].clone()))
        .collect();
    out.sort_by_key(|(l, _)| l.to_string());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_receives_what_prometheus_sends() {
    let dir = tempfile::tempdir().unwrap();
    let rules = testdata().join("compliance/alert_generator/rules.yaml");
    let exporter = Exporter::start(&exposition(20.0)).await;
    let am_prom = Alertmanager::start(&dir.path().join("am-prometheus"));
    let am_sluice = Alertmanager::start(&dir.path().join("am-sluice"));
    let (_prom, _) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 2s, scrape_timeout: 2s}}\nrule_files: [{}]\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{}']}}]}}]}}\n\
             scrape_configs:\n  - job_name: gen\n    static_configs: [{{targets: ['{}']}}]\n",
            rules.display(),
            am_prom.address(),
            exporter.target()
        ),
    );
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.scrape_interval = "2s";
    cfg.targets = vec![("gen".into(), vec![exporter.target()])];
    cfg.sections = format!(
        "rule_files: [\"{}\"]\nalerting:\n  alertmanagers:\n    - static_configs: [{{ targets: [\"{}\"] }}]\nrule_evaluation:\n  allowed_lateness: 2s\n  checkpoint_interval: 5s\n",
        rules.display(),
        am_sluice.address()
    );
    let sluice = cfg.start("all");

    // Firing: both alerts of the group in each Alertmanager (SmallFor
    // needs a second evaluation, 30 s after the first).
    let wait = Duration::from_secs(180);
    let from_prometheus = eventually(wait, "both alerts from Prometheus", || async {
        let h = held(&am_prom).await;
        (h.len() == 2).then_some(h)
    })
    .await;
    let from_sluice = eventually(wait, "both alerts from Sluice", || async {
        let h = held(&am_sluice).await;
        (h.len() == 2).then_some(h)
    })
    .await;
    eprintln!("Alertmanager got from Prometheus 2.42: {from_prometheus:?}");
    eprintln!("Alertmanager got from Sluice:          {from_sluice:?}");
    assert_eq!(from_sluice, from_prometheus, "log:\n{}", sluice.output());

    // Resolved: below both thresholds; both Alertmanagers drop the alerts
    // once the resolutions arrive.
    exporter.set(&exposition(0.0));
    for (am, who) in [(&am_prom, "Prometheus"), (&am_sluice, "Sluice")] {
        eventually(wait, &format!("resolution from {who}"), || async {
            held(am).await.is_empty().then_some(())
        })
        .await;
    }
}
