//! The walking skeleton: exporters → scrape → Kafka → sink → Parquet →
//! PromQL and SQL over the Prometheus HTTP API, including a SIGKILL of the
//! whole process mid-ingestion.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::sink_exactly_once::count_segment_rows;
use crate::support::broker::Broker;
use crate::support::http::{Exporter, get_json, sql_scalar};
use crate::support::process::Proc;
use crate::support::sluice::TestConfig;
use crate::support::{duckdb, eventually, free_port};

fn node_exporter(dir: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let mut cmd = Command::new("prometheus-node-exporter");
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    (
        Proc::spawn("node-exporter", cmd, &dir.join("node-exporter.log")),
        format!("127.0.0.1:{port}"),
    )
}

fn demo_body(n: u64) -> String {
    format!(
        "# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total{{code=\"200\"}} {}\ndemo_requests_total{{code=\"500\"}} {}\n",
        n * 10,
        n
    )
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn result(v: &Value) -> &[Value] {
    v["data"]["result"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_to_promql_and_sql_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let (_node, node_addr) = node_exporter(dir.path());
    let demo = Exporter::start(&demo_body(0)).await;
    // A target whose exposition is malformed: it must fail alone (up 0).
    let broken = Exporter::start("# TYPE x counter\nx{a=\"1\" 1\n").await;
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    let self_addr = format!("127.0.0.1:{}", cfg.listen_port);
    cfg.targets = vec![
        ("node".into(), vec![node_addr]),
        ("demo".into(), vec![demo.target()]),
        ("sluice".into(), vec![self_addr]),
        ("broken".into(), vec![broken.target()]),
    ];
    let api = cfg.api();
    // The demo counter grows by 10/s (code 200) and 1/s (code 500).
    let ticker = {
        let body = std::sync::Arc::new(demo);
        let b = body.clone();
        tokio::spawn(async move {
            for n in 1.. {
                tokio::time::sleep(Duration::from_millis(100)).await;
                b.set(&demo_body(n / 10));
            }
        });
        body
    };

    let mut sluice = cfg.start("all");
    // 1. `up == 1` for every good target, `up == 0` for the broken one,
    //    whose parse error shows on the targets page.
    let up = eventually(Duration::from_secs(90), "up for 4 targets", || {
        let api = api.clone();
        async move {
            let (s, v) = get_json(&format!("{api}/api/v1/query?query=up")).await;
            let ok = result(&v).len() == 4
                && result(&v).iter().all(|r| {
                    let want = if r["metric"]["job"] == "broken" { "0" } else { "1" };
                    r["value"][1] == want
                });
            (s == 200 && ok).then_some(v)
        }
    })
    .await;
    eprintln!("up: {up}");
    let (s, v) = get_json(&format!("{api}/api/v1/targets")).await;
    assert_eq!(s, 200, "{v}");
    let active = v["data"]["activeTargets"].as_array().expect("activeTargets");
    assert_eq!(active.len(), 4, "{v}");
    let bad = active
        .iter()
        .find(|t| t["scrapePool"] == "broken")
        .expect("broken target");
    assert_eq!(bad["health"], "down");
    assert!(
        bad["lastError"].as_str().is_some_and(|e| e.contains("line")),
        "{bad}"
    );
    eprintln!("broken target: {}", bad["lastError"]);

    // 2. A range query gives one series per CPU mode.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = now_s() - 1.0;
    let q = "sum by (mode) (rate(node_cpu_seconds_total[5s]))";
    let url = format!(
        "{api}/api/v1/query_range?query={}&start={}&end={end}&step=1",
        urlencode(q),
        end - 6.0
    );
    let (s, v) = get_json(&url).await;
    assert_eq!(s, 200, "{v}");
    let modes: Vec<&str> = result(&v)
        .iter()
        .filter_map(|r| r["metric"]["mode"].as_str())
        .collect();
    assert!(
        modes.contains(&"idle") && modes.contains(&"user"),
        "modes: {modes:?} in {v}"
    );
    assert!(
        result(&v)
            .iter()
            .all(|r| r["values"].as_array().is_some_and(|a| a.len() >= 3))
    );

    // 3. SIGKILL the whole process mid-ingestion, restart after a pause.
    sluice.kill9();
    let down_at = Instant::now();
    eprintln!("SIGKILL at {:.3}", now_s());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut sluice = cfg.start("all");
    let downtime = down_at.elapsed().as_secs_f64();
    let restarted_at = now_s();
    // Wait until samples scraped after the restart are queryable: the
    // restarted sink must rejoin its group and catch up.
    eventually(Duration::from_secs(90), "samples after the restart", || {
        let api = api.clone();
        async move {
            let (s, v) = get_json(&format!(
                "{api}/api/v1/query?query=timestamp(demo_requests_total)"
            ))
            .await;
            let newest = result(&v)
                .iter()
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .fold(0.0, f64::max);
            (s == 200 && newest > restarted_at + 3.0).then_some(())
        }
    })
    .await;
    sluice.terminate();
    drop(ticker);

    // 4. No gap beyond the downtime, no duplicate, counter never goes back.
    let mut query_only = cfg.start("query");
    eventually(Duration::from_secs(30), "query role up", || {
        let api = api.clone();
        async move {
            reqwest::get(format!("{api}/-/healthy"))
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;
    let rel = duckdb::samples_relation(&cfg.segments());
    let dups = duckdb::scalar(&format!(
        "select count(*) from (select __series_id__, __timestamp__ from {rel} group by all having count(*) > 1)"
    ));
    assert_eq!(dups, "0", "duplicate samples in segments");
    let max_gap_ms: f64 = duckdb::scalar(&format!(
        "select max(d) from (select epoch_ms(__timestamp__) - lag(epoch_ms(__timestamp__)) over (order by __timestamp__) as d \
         from {rel} where __name__ = 'demo_requests_total' and code = '200' and not isnan(__value__))"
    ))
    .parse()
    .unwrap();
    let span = duckdb::scalar(&format!(
        "select count(*) || ' samples from ' || min(__timestamp__) || ' to ' || max(__timestamp__) from {rel} \
         where __name__ = 'demo_requests_total' and code = '200' and not isnan(__value__)"
    ));
    eprintln!("downtime {downtime:.1}s, largest gap in demo_requests_total {max_gap_ms} ms ({span})");
    // The gap is the downtime plus start-up until the first scrape (scrape
    // interval 1 s): anything larger means samples were lost.
    assert!(
        max_gap_ms / 1000.0 >= downtime && max_gap_ms / 1000.0 <= downtime + 3.0,
        "gap {max_gap_ms} ms does not match the downtime {downtime:.1}s (+ up to 3 s start-up)"
    );
    let decreases = duckdb::scalar(&format!(
        "select count(*) from (select __value__ - lag(__value__) over (order by __timestamp__) as d \
         from {rel} where __name__ = 'demo_requests_total' and code = '200' and not isnan(__value__)) where d < 0"
    ));
    assert_eq!(decreases, "0");

    // 5. The same sample count through Sluice's SQL, DuckDB and the files.
    let via_sql = sql_scalar(&api, "select count(*) as n from samples").await;
    let via_duckdb = duckdb::scalar(&format!("select count(*) from {rel}"));
    let (via_files, _) = count_segment_rows(&cfg.segments()).await;
    eprintln!("sample count: sql {via_sql}, duckdb {via_duckdb}, parquet {via_files}");
    assert_eq!(via_sql, via_duckdb);
    assert_eq!(via_sql, via_files.to_string());

    // 6. Bad input: a PromQL syntax error is a 400 with Prometheus' error JSON.
    let (s, v) = get_json(&format!("{api}/api/v1/query?query=sum(")).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");
    let (s, v) = get_json(&format!(
        "{api}/api/v1/format_query?query={}",
        urlencode("sum(rate(x[5m]))by(job)")
    ))
    .await;
    assert_eq!(
        (s, v["data"].as_str()),
        (200, Some("sum by (job) (rate(x[5m]))")),
        "{v}"
    );
    let (s, v) = get_json(&format!("{api}/api/v1/status/buildinfo")).await;
    assert_eq!(s, 200);
    assert!(
        v["data"]["version"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{v}"
    );
    query_only.terminate();
    if std::env::var_os("SLUICE_KEEP_TEST_DIRS").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
