//! Overload on loopback: a closed-loop load generator (`support::load`)
//! against `sluice query` and the remote_write receiver of `sluice scrape`
//! (`sluice sink` and tansu behind it), each role its own process so that
//! memory and CPU are attributed. Ignored (a measurement, not a check);
//! `tests/bench/load.sh` runs it, the figures are in docs/reliability.md.
//!
//! 1. An hour of a small fleet ([`workload::fleet`]: 50 instances, 4 450 series at
//!    15 s, ~1.07 M samples) is remote-written, then waited for in the
//!    segments.
//! 2. Query API: 1, 4, 16, 64 clients, each running a fixed dashboard mix
//!    ([`workload::QUERIES`]) back to back, at the default limits.
//! 3. remote_write: 1, 4, 16, 64 clients (like Prometheus' shards), each
//!    sending requests of 2 000 samples of its own series, one sample per
//!    series at a new timestamp each time.
//! 4. Overload: the query role restarted with `query.max_concurrency: 2`
//!    and `timeout: 1s` under 64 clients (queries queue, then 503), and the
//!    ingest role with a 1 MiB producer buffer under 64 clients (503 once
//!    the buffer is full).
//!
//! Checked: no role dies and `/-/healthy` answers throughout. Figures are
//! printed, never asserted (the machine is shared and noisy).

mod workload;

use std::time::{Duration, Instant};

use sluice_model::TimeSeries;

use crate::support::broker::Broker;
use crate::support::http::{get_json, metric};
use crate::support::load::{self, HealthProbe, Tally};
use crate::support::process::Proc;
use crate::support::procfs::{cpu_seconds, peak_rss_mib, reset_peak_rss};
use crate::support::sluice::TestConfig;
use workload::{INSTANCES, STEP_MS, STEPS, enc, fleet, now_ms, query_load, rw_load, rw_request};

async fn wait_healthy(url: &str, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_json(url).await.0 != 200 {
        assert!(
            proc.child.try_wait().unwrap().is_none(),
            "exited:\n{}",
            proc.output()
        );
        assert!(Instant::now() < deadline, "{url} not healthy:\n{}", proc.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Remote-writes the fleet's hour ending at `t_end` (four senders, each
/// its instances' steps in time order) and waits until the segments hold
/// all of it.
async fn load_fleet(cfg: &TestConfig, t_end: i64) -> usize {
    let url = format!("http://127.0.0.1:{}/api/v1/write", cfg.receive_port);
    let client = reqwest::Client::new();
    let t = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|s| {
            let (url, client) = (url.clone(), client.clone());
            tokio::spawn(async move {
                for k in 0..=STEPS {
                    let ts = t_end - (STEPS - k) * STEP_MS;
                    let batch: Vec<TimeSeries> =
                        (s..INSTANCES).step_by(4).flat_map(|i| fleet(i, k, ts)).collect();
                    let r = rw_request(&client, &url, &batch).send().await.unwrap();
                    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap_or_default());
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    let series = INSTANCES * fleet(0, 0, 0).len();
    let want = series * (STEPS as usize + 1);
    let sent = t.elapsed();
    let q = format!(
        "{}/api/v1/query?query={}&time={}",
        cfg.api(),
        enc("sum(count_over_time({job=~\"api|node\"}[2h]))"),
        t_end / 1000
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, v) = get_json(&q).await;
        let n = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0) as usize;
        if n == want {
            break;
        }
        assert!(n <= want, "{n} samples stored, {want} sent");
        assert!(Instant::now() < deadline, "{n} of {want} samples queryable");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "load: {series} series, {want} samples remote-written in {:.1} s, queryable after {:.1} s",
        sent.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    want
}

/// Runs one level against `role` and prints its table row.
async fn level<F, Fut>(
    phase: &str,
    clients: usize,
    duration: Duration,
    role: &Proc,
    health: String,
    request: F,
) -> Tally
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = load::Answer> + Send,
{
    let pid = role.child.id();
    let me = std::process::id();
    reset_peak_rss(pid);
    let (cpu0, gen0) = (cpu_seconds(pid), cpu_seconds(me));
    let probe = HealthProbe::start(health);
    let tally = load::run(clients, duration, request).await;
    let (slowest, probes, failed) = probe.stop();
    let secs = tally.elapsed.as_secs_f64();
    let cpu = |now: f64, then: f64| (now - then) / secs * 100.0;
    let samples = if tally.ok_samples > 0 {
        format!("{:.0}", tally.ok_samples as f64 / secs)
    } else {
        "–".into()
    };
    eprintln!(
        "| {phase} | {clients} | {} | {:.1} | {samples} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} ({probes}, {failed} failed) | {:.0} % | {:.0} % | {:.0} |",
        tally.requests(),
        tally.requests() as f64 / secs,
        tally.quantile_ms(0.5),
        tally.quantile_ms(0.9),
        tally.quantile_ms(0.99),
        tally.quantile_ms(1.0),
        tally.statuses(),
        slowest.as_secs_f64() * 1000.0,
        cpu(cpu_seconds(pid), cpu0),
        cpu(cpu_seconds(me), gen0),
        peak_rss_mib(pid),
    );
    assert_eq!(
        failed, 0,
        "{phase} x{clients}: /-/healthy failed {failed} of {probes} times"
    );
    tally
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const HEADER: &str = "| phase | clients | requests | req/s | samples/s | p50 ms | p90 ms | p99 ms | max ms | answers | /-/healthy slowest ms (probes) | role CPU | load generator CPU | role peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/load.sh"]
async fn bench_overload() {
    let secs = Duration::from_secs(env_or("LOAD_SECS", 15));
    let levels: Vec<usize> = std::env::var("LOAD_CLIENTS")
        .unwrap_or_else(|_| "1,4,16,64".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let top = levels.iter().copied().max().unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.flush_interval = "5s";
    let mut ingest = cfg.start("scrape");
    let mut sink = cfg.start("sink");
    let mut query = cfg.start("query");
    let receive = format!("http://127.0.0.1:{}", cfg.receive_port);
    let api = cfg.api();
    wait_healthy(&format!("{receive}/-/healthy"), &mut ingest).await;
    wait_healthy(&format!("{api}/-/healthy"), &mut query).await;

    let t_end = now_ms() / STEP_MS * STEP_MS;
    load_fleet(&cfg, t_end).await;
    eprintln!(
        "limits: query.max_concurrency 20, query.max_samples 50000000, query.timeout 2m; \
         kafka.producer_buffer_bytes 256 MiB, receive.ack_wait 5s, receive.max_concurrent_requests 8; \
         sink.flush_interval 5s; \
         {} s per level; idle RSS MiB: ingest {:.0}, sink {:.0}, query {:.0}",
        secs.as_secs(),
        peak_rss_mib(ingest.child.id()),
        peak_rss_mib(sink.child.id()),
        peak_rss_mib(query.child.id()),
    );
    eprintln!("{HEADER}");
    for &c in &levels {
        level(
            "query",
            c,
            secs,
            &query,
            format!("{api}/-/healthy"),
            query_load(api.clone(), t_end),
        )
        .await;
    }
    let rw_url = format!("{receive}/api/v1/write");
    for &c in &levels {
        level(
            "remote_write",
            c,
            secs,
            &ingest,
            format!("{receive}/-/healthy"),
            rw_load(rw_url.clone(), c),
        )
        .await;
    }
    let text = reqwest::get(format!("{receive}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let peak = metric(&text, "sluice_publish_buffer_peak_bytes", &[]);

    // Overload: few slots and a short timeout; a small producer buffer.
    query.terminate();
    cfg.query_extra = "  max_concurrency: 2\n  timeout: 1s\n".into();
    let mut query = cfg.start("query");
    wait_healthy(&format!("{api}/-/healthy"), &mut query).await;
    let tally = level(
        "query, max_concurrency 2, timeout 1s",
        top,
        secs,
        &query,
        format!("{api}/-/healthy"),
        query_load(api.clone(), t_end),
    )
    .await;
    let text = reqwest::get(format!("{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The other 503s ran out of time while running (evaluation or reads).
    let queue_timeouts = metric(&text, "sluice_query_queue_timeouts_total", &[]);
    let timeouts = tally.by_status.get("503").copied().unwrap_or(0);

    ingest.terminate();
    cfg.kafka_extra = "  producer_buffer_bytes: 1048576\n".into();
    let mut ingest = cfg.start("scrape");
    wait_healthy(&format!("{receive}/-/healthy"), &mut ingest).await;
    level(
        "remote_write, producer buffer 1 MiB",
        top,
        secs,
        &ingest,
        format!("{receive}/-/healthy"),
        rw_load(rw_url.clone(), top),
    )
    .await;
    let text = reqwest::get(format!("{receive}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let small_peak = metric(&text, "sluice_publish_buffer_peak_bytes", &[]);
    eprintln!(
        "producer buffer peak: {:.1} MiB of 256 MiB (load levels), {:.2} MiB of 1 MiB (overload); \
         query 503s under overload: {timeouts}, of which timed out in the queue: {queue_timeouts}; \
         sink peak RSS {:.0} MiB",
        peak / 1048576.0,
        small_peak / 1048576.0,
        peak_rss_mib(sink.child.id()),
    );
    for (name, p) in [
        ("ingest", &mut ingest),
        ("sink", &mut sink),
        ("query", &mut query),
    ] {
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "{name} exited:\n{}",
            p.output()
        );
    }
}
