//! The requests Grafana's Prometheus datasource makes, with the parameters
//! its code builds (npm `@grafana/prometheus` 13.2.3,
//! `dist/esm/resource_clients.mjs` and `constants.mjs`: metric and label
//! autocompletion with `limit=40000` and `match[]`, series lookups), plus
//! the build-info request Grafana's version detection reads and a
//! form-POSTed range query (the datasource's default HTTP method). Grafana
//! itself is not packaged for Debian, so its requests are replayed.

use std::time::Duration;

use serde_json::Value;

use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::{get_json, post_form};
use crate::support::sluice::TestConfig;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_datasource_requests_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let cfg = TestConfig::new(dir.path(), broker.address());
    let mut sluice = cfg.start("all");
    let api = cfg.api();
    let client = reqwest::Client::new();
    let push = |instance: &str| {
        format!(
            "http://127.0.0.1:{}/metrics/job/edge/instance/{instance}",
            cfg.receive_port
        )
    };
    let body = "# TYPE grafana_probe_bytes_total counter\ngrafana_probe_bytes_total{device=\"eth0\"} 42\n";
    eventually(Duration::from_secs(60), "two pushed series queryable", || {
        let (client, api) = (client.clone(), api.clone());
        let (a, b) = (push("a"), push("b"));
        async move {
            for url in [a, b] {
                let _ = client.put(&url).body(body).send().await;
            }
            let (_, v) = get_json(&format!(
                "{api}/api/v1/query?query={}",
                enc("count(grafana_probe_bytes_total)")
            ))
            .await;
            (v["data"]["result"][0]["value"][1] == "2").then_some(())
        }
    })
    .await;
    let end = chrono::Utc::now().timestamp();
    let start = end - 3600;
    let window = format!("start={start}&end={end}");
    let matcher = enc(r#"{__name__="grafana_probe_bytes_total"}"#);

    // Version detection reads `data.version` as semver.
    let (s, v) = get_json(&format!("{api}/api/v1/status/buildinfo")).await;
    assert_eq!(s, 200, "{v}");
    let version = v["data"]["version"].as_str().unwrap_or_default();
    let core: Vec<u64> = version
        .split(['-', '+'])
        .next()
        .unwrap_or_default()
        .split('.')
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(
        core.len() == 3 && core[0] >= 2,
        "not a semver Grafana can compare: {version:?}"
    );

    // Metric names: label values of __name__ (queryMetrics).
    let (s, v) = get_json(&format!(
        "{api}/api/v1/label/__name__/values?limit=40000&{window}"
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        strings(&v).contains(&"grafana_probe_bytes_total".to_string()),
        "{v}"
    );

    // Label keys of the chosen metric (queryLabelKeys).
    let (s, v) = get_json(&format!(
        "{api}/api/v1/labels?limit=40000&{window}&match[]={matcher}"
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(strings(&v), ["__name__", "device", "instance", "job"], "{v}");

    // Values of one label under the metric (queryLabelValues), and the limit.
    let (s, v) = get_json(&format!(
        "{api}/api/v1/label/instance/values?limit=40000&{window}&match[]={matcher}"
    ))
    .await;
    assert_eq!(
        (s, strings(&v)),
        (200, vec!["a".to_string(), "b".to_string()]),
        "{v}"
    );
    let (_, v) = get_json(&format!(
        "{api}/api/v1/label/instance/values?limit=1&{window}&match[]={matcher}"
    ))
    .await;
    assert_eq!(strings(&v).len(), 1, "{v}");

    // Series lookup (querySeries).
    let (s, v) = get_json(&format!(
        "{api}/api/v1/series?{window}&match[]={matcher}&limit=40000"
    ))
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{v}");

    // A panel's range query, form-POSTed.
    let (s, v) = post_form(
        &format!("{api}/api/v1/query_range"),
        &[
            ("query", "sum by (device) (grafana_probe_bytes_total)"),
            ("start", &(end - 300).to_string()),
            ("end", &end.to_string()),
            ("step", "15"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let last = v["data"]["result"][0]["values"]
        .as_array()
        .and_then(|a| a.last().cloned());
    assert_eq!(last.map(|p| p[1].clone()), Some(Value::from("84")), "{v}");

    // Exemplars (the datasource asks alongside range queries): empty.
    let (s, v) = get_json(&format!("{api}/api/v1/query_exemplars?query={matcher}&{window}")).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    sluice.terminate();
    eprintln!("grafana: buildinfo {version}; metric, label, value, series and range requests answered");
}
