//! `/api/v1/rules` and `/api/v1/alerts` side by side with Prometheus 2.42:
//! both scrape the same node exporter and evaluate the same rule file; the
//! answers must have Prometheus' shape (every key Prometheus 2.42 returns)
//! and the same rules, states, labels and annotations. A separate `sluice
//! query` on the same broker, which knows the rules only from the
//! rules-status topic, must answer the same as `sluice all` (timings aside).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::broker::Broker;
use crate::support::http::get_json;
use crate::support::process::Proc;
use crate::support::prometheus;
use crate::support::sluice::TestConfig;
use crate::support::{eventually, free_port};

const RULES: &str = r#"groups:
  - name: node
    interval: 1s
    rules:
      - record: node:load1:max
        expr: max(node_load1)
      - alert: NodeUp
        expr: up{job="node"} == 1
        labels: { severity: info }
        annotations: { summary: "{{ $labels.instance }} is up" }
      - alert: NeverFires
        expr: up{job="node"} == 2
        for: 1m
"#;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Keys Prometheus has that Sluice lacks (must be none).
fn missing(sluice: &Value, prom: &Value) -> Vec<String> {
    keys(prom).difference(&keys(sluice)).cloned().collect()
}

async fn firing_alerts(api: &str) -> Option<Value> {
    let (s, v) = get_json(&format!("{api}/api/v1/alerts")).await;
    let alerts = v["data"]["alerts"].as_array()?;
    (s == 200
        && alerts
            .iter()
            .any(|a| a["labels"]["alertname"] == "NodeUp" && a["state"] == "firing"))
    .then(|| v["data"]["alerts"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_alerts_api_match_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let ne_port = free_port();
    let mut ne = Command::new("prometheus-node-exporter");
    ne.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let _ne = Proc::spawn("node-exporter", ne, &dir.path().join("ne.log"));
    let target = format!("127.0.0.1:{ne_port}");

    let (_prom, prom_api) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\n\
             scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{target}']}}]\n",
            rules.display()
        ),
    );

    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.targets = vec![("node".into(), vec![target])];
    cfg.sections = format!(
        "rule_files: [\"{}\"]\nrule_evaluation:\n  allowed_lateness: 0s\n  checkpoint_interval: 1s\n",
        rules.display()
    );
    let sluice = cfg.start("all");
    let api = cfg.api();

    let wait = Duration::from_secs(120);
    let prom_alerts = eventually(wait, "NodeUp firing in Prometheus", || firing_alerts(&prom_api)).await;
    let alerts = eventually(wait, "NodeUp firing in Sluice", || {
        let api = api.clone();
        async move { firing_alerts(&api).await }
    })
    .await;
    let (a, p) = (&alerts[0], &prom_alerts[0]);
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert!(
        missing(a, p).is_empty(),
        "alert lacks {:?}: {a} vs {p}",
        missing(a, p)
    );
    for k in ["labels", "annotations", "state", "value"] {
        assert_eq!(a[k], p[k], "alert {k}");
    }

    let (_, rules_sluice) = get_json(&format!("{api}/api/v1/rules")).await;
    let (_, rules_prom) = get_json(&format!("{prom_api}/api/v1/rules")).await;
    let (g, pg) = (
        &rules_sluice["data"]["groups"][0],
        &rules_prom["data"]["groups"][0],
    );
    assert!(missing(g, pg).is_empty(), "group lacks {:?}", missing(g, pg));
    assert_eq!((&g["name"], &g["interval"]), (&pg["name"], &pg["interval"]));
    let (rs, ps) = (g["rules"].as_array().unwrap(), pg["rules"].as_array().unwrap());
    assert_eq!(rs.len(), ps.len());
    for (r, p) in rs.iter().zip(ps) {
        assert!(
            missing(r, p).is_empty(),
            "rule {} lacks {:?}",
            p["name"],
            missing(r, p)
        );
        for k in [
            "name",
            "query",
            "type",
            "health",
            "labels",
            "annotations",
            "duration",
            "state",
        ] {
            assert_eq!(r[k], p[k], "rule {}: {k}", p["name"]);
        }
        let extra: Vec<String> = keys(r).difference(&keys(p)).cloned().collect();
        eprintln!("rule {}: same keys as Prometheus 2.42, plus {extra:?}", p["name"]);
    }
    let (_, only_alerts) = get_json(&format!("{api}/api/v1/rules?type=alert")).await;
    assert_eq!(
        only_alerts["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A query role of its own answers what `sluice all` answers.
    let qdir = dir.path().join("query");
    std::fs::create_dir_all(&qdir).unwrap();
    let qcfg = TestConfig::new(&qdir, broker.address());
    let _query = qcfg.start("query");
    let qapi = qcfg.api();
    for path in ["rules", "rules?type=alert", "rules?type=record", "alerts"] {
        let (a, q) = eventually(wait, &format!("the query role's {path} as sluice all's"), || {
            let (api, qapi) = (api.clone(), qapi.clone());
            async move {
                let (_, a) = get_json(&format!("{api}/api/v1/{path}")).await;
                let (s, q) = get_json(&format!("{qapi}/api/v1/{path}")).await;
                let (a, q) = (without_timings(a), without_timings(q));
                (s == 200 && a == q).then_some((a, q))
            }
        })
        .await;
        assert_eq!(a, q);
        eprintln!("query role's /api/v1/{path} equals sluice all's (timings aside)");
    }
    drop(sluice);
}

/// `v` without `evaluationTime` and `lastEvaluation` (they differ between
/// two reads a moment apart).
fn without_timings(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("evaluationTime");
                o.remove("lastEvaluation");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}
