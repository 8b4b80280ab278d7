//! A real Prometheus 2.42 (Debian's package) scrapes a real node exporter
//! and remote-writes to Sluice: Sluice ends up with the same series, and
//! PromQL over the same samples gives the same answers on both servers.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::broker::Broker;
use crate::support::http::get_json;
use crate::support::process::Proc;
use crate::support::prometheus;
use crate::support::sluice::TestConfig;
use crate::support::{eventually, free_port};

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn instant(base: &str, q: &str, t: f64) -> Vec<Value> {
    let (s, v) = get_json(&format!("{base}/api/v1/query?query={}&time={t}", enc(q))).await;
    assert_eq!(s, 200, "{base}: {q}: {v}");
    let mut r = v["data"]["result"].as_array().cloned().unwrap_or_default();
    r.sort_by_key(|x| x["metric"].to_string());
    r
}

/// promtool's output lines in order: series come in the servers' own
/// order, which the API does not fix.
fn sorted_lines(out: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(out).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_write_gives_identical_series_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let cfg = TestConfig::new(dir.path(), broker.address());
    let mut sluice = cfg.start("all");
    let sluice_api = cfg.api();

    let ne_port = free_port();
    let mut ne = Command::new("prometheus-node-exporter");
    ne.arg(format!("--web.listen-address=127.0.0.1:{ne_port}"));
    let _ne = Proc::spawn("node-exporter", ne, &dir.path().join("ne.log"));

    let (_prom, prom_api) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 2s, scrape_timeout: 2s}}\n\
             scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{ne_port}']}}]\n\
             remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n",
            cfg.receive_port
        ),
    );

    // Wait until Sluice has a few scrapes' worth of remote-written data.
    eventually(
        Duration::from_secs(120),
        "remote-written samples in Sluice",
        || {
            let api = sluice_api.clone();
            async move {
                let (s, v) = get_json(&format!(
                    "{api}/api/v1/query?query={}",
                    enc("count_over_time(node_load1[1m])")
                ))
                .await;
                let n = v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|x| x.parse::<f64>().ok())
                    .unwrap_or(0.0);
                (s == 200 && n >= 12.0).then_some(())
            }
        },
    )
    .await;
    let queries = [
        "count({job=\"node\"})",
        "count(count by (__name__) ({job=\"node\"}))",
        "sum by (mode) (rate(node_cpu_seconds_total[20s]))",
        "max_over_time(node_memory_MemFree_bytes[10s])",
        "topk(3, node_network_receive_bytes_total)",
        "node_memory_MemTotal_bytes / 1024 / 1024 > 1",
    ];
    // A time well inside what both have, away from sample boundaries. On a
    // loaded machine Prometheus' own scrapes can lag: pick a time at which
    // the reference answers every query (the comparison below is unchanged).
    let mut t = 0.0;
    for _ in 0..30 {
        t = (now_s() - 8.0).floor() + 0.37;
        let mut all = true;
        for q in queries {
            all &= !instant(&prom_api, q, t).await.is_empty();
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut compared = 0;
    for q in queries {
        let a = instant(&prom_api, q, t).await;
        let b = instant(&sluice_api, q, t).await;
        assert!(!a.is_empty(), "Prometheus has nothing for {q}");
        assert_eq!(a, b, "answers differ for {q}");
        compared += a.len();
    }
    // `stats`: the same samples give the same queryable-sample counts.
    for q in [
        "node_load1",
        "sum by (mode) (rate(node_cpu_seconds_total[20s]))",
        "max_over_time(node_memory_MemFree_bytes[10s])",
    ] {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={t}&step=1&stats=all",
            enc(q),
            t - 10.0
        );
        let count = |v: &Value| v["data"]["stats"]["samples"]["totalQueryableSamples"].clone();
        let (_, a) = get_json(&format!("{prom_api}{path}")).await;
        let (_, b) = get_json(&format!("{sluice_api}{path}")).await;
        // 11 steps with data at every one of them for the instant selector.
        assert!(
            count(&a).as_u64().is_some_and(|n| n >= 11),
            "Prometheus stats for {q}: {a}"
        );
        assert_eq!(
            count(&a),
            count(&b),
            "totalQueryableSamples differ for {q}: {}",
            b["data"]["stats"]
        );
        let timings = &b["data"]["stats"]["timings"];
        assert!(timings["execTotalTime"].as_f64().is_some(), "{timings}");
        eprintln!(
            "remote_write: stats for {q}: totalQueryableSamples {} in both",
            count(&a)
        );
    }
    // The same through `promtool query` (promtool 2.42 as the client): its
    // printed answers are identical for both servers.
    let (start, end) = (format!("{:.3}", t - 10.0), format!("{t:.3}"));
    let time = format!("--time={end}");
    let range = [
        format!("--start={start}"),
        format!("--end={end}"),
        "--step=1s".to_string(),
    ];
    let window = [format!("--start={start}"), format!("--end={end}")];
    let commands: Vec<Vec<String>> = vec![
        vec![
            "instant".into(),
            time.clone(),
            "{}".into(),
            "sum by (mode) (rate(node_cpu_seconds_total[20s]))".into(),
        ],
        vec![
            "instant".into(),
            time,
            "{}".into(),
            "node_memory_MemTotal_bytes".into(),
        ],
        [
            vec!["range".into()],
            range.to_vec(),
            vec!["{}".into(), "node_load1 * 2".into()],
        ]
        .concat(),
        [
            vec!["series".into(), "--match=node_load1".into(), "--match=up".into()],
            window.to_vec(),
            vec!["{}".into()],
        ]
        .concat(),
        [
            vec!["labels".into()],
            window.to_vec(),
            vec!["{}".into(), "__name__".into()],
        ]
        .concat(),
    ];
    for args in commands {
        let run = |server: &str| {
            let args: Vec<String> = args
                .iter()
                .map(|a| if a == "{}" { server.to_string() } else { a.clone() })
                .collect();
            let out = Command::new("promtool")
                .arg("query")
                .args(&args)
                .output()
                .expect("promtool");
            assert!(
                out.status.success(),
                "promtool query {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            sorted_lines(&out.stdout)
        };
        let (a, b) = (run(&prom_api), run(&sluice_api));
        assert!(!a.is_empty(), "promtool query {args:?}: nothing from Prometheus");
        assert_eq!(a, b, "promtool query {args:?} differs");
        eprintln!(
            "remote_write: promtool query {} ...: {} identical lines",
            args[0],
            a.len()
        );
    }
    let series = instant(&sluice_api, "count({job=\"node\"})", t).await;
    eprintln!(
        "remote_write: {} series in both, {compared} result elements identical at t={t}",
        series[0]["value"][1]
    );
    sluice.terminate();
}
