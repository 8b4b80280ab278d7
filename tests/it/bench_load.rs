//! Overload on loopback: a closed-loop load generator (`support::load`)
//! against `sluice query` and the remote_write receiver of `sluice scrape`
//! (`sluice sink` and tansu behind it), each role its own process so that
//! memory and CPU are attributed. Ignored (a measurement, not a check);
//! `tests/bench/load.sh` runs it, the figures are in docs/reliability.md.
//!
//! 1. An hour of a small fleet ([`fleet`]: 50 instances, 4 450 series at
//!    15 s, ~1.07 M samples) is remote-written, then waited for in the
//!    segments.
//! 2. Query API: 1, 4, 16, 64 clients, each running a fixed dashboard mix
//!    ([`QUERIES`]) back to back, at the default limits.
//! 3. remote_write: 1, 4, 16, 64 clients (like Prometheus' shards), each
//!    sending requests of 2 000 samples of its own series, one sample per
//!    series at a new timestamp each time.
//! 4. Overload: the query role restarted with `query.max_concurrency: 2`
//!    and `timeout: 3s` under 64 clients (queries queue, then 503), and the
//!    ingest role with a 1 MiB producer buffer under 64 clients (503 once
//!    the buffer is full).
//!
//! Checked: no role dies and `/-/healthy` answers throughout. Figures are
//! printed, never asserted (the machine is shared and noisy).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sluice_model::{Labels, Sample, TimeSeries};

use crate::support::broker::Broker;
use crate::support::http::{get_json, metric};
use crate::support::load::{self, HealthProbe, Tally};
use crate::support::process::Proc;
use crate::support::procfs::{cpu_seconds, peak_rss_mib, reset_peak_rss};
use crate::support::rw_sender::encode;
use crate::support::sluice::TestConfig;

const INSTANCES: usize = 50;
const STEP_MS: i64 = 15_000;
/// One hour of 15 s steps (241 samples per series, both ends included).
const STEPS: i64 = 240;
const HANDLERS: [&str; 4] = ["/api/v1/items", "/api/v1/orders", "/login", "/healthz"];
const METHODS: [(&str, f64); 2] = [("GET", 1.0), ("POST", 0.3)];
const CODES: [(&str, f64); 3] = [("200", 1.0), ("404", 0.05), ("500", 0.01)];
const BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
const MODES: [(&str, f64); 8] = [
    ("idle", 0.70),
    ("user", 0.15),
    ("system", 0.08),
    ("iowait", 0.03),
    ("irq", 0.01),
    ("softirq", 0.01),
    ("steal", 0.01),
    ("nice", 0.01),
];
/// Samples (= series, one sample each) per remote_write request of the
/// load phases: Prometheus' `max_samples_per_send` default.
const RW_BATCH: usize = 2000;

/// The dashboard mix: (query, range step in s; 0 for an instant query).
/// Range queries cover the loaded hour, instant ones its end.
const QUERIES: [(&str, i64); 7] = [
    ("sum by (code) (rate(http_requests_total[5m]))", 0),
    ("count by (job) (up == 1)", 0),
    (
        "topk(5, sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])))",
        0,
    ),
    ("sum by (handler) (rate(http_requests_total[5m]))", 15),
    (
        "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))",
        15,
    ),
    ("avg by (mode) (rate(node_cpu_seconds_total[5m]))", 15),
    (
        "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
        60,
    ),
];

fn series(name: &str, labels: &[(&str, &str)], t: i64, v: f64) -> TimeSeries {
    let mut pairs: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    pairs.extend(labels.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    TimeSeries {
        labels: Labels::new(pairs),
        samples: vec![Sample::new(t, v)],
    }
}

/// Instance `i` at step `k` (time `t`): `up`, request counters by handler,
/// method and code, a latency histogram per handler, CPU seconds by CPU
/// and mode: 89 series, counters growing at per-series rates.
fn fleet(i: usize, k: i64, t: i64) -> Vec<TimeSeries> {
    let owned = format!("host-{i:02}:9100");
    let inst = owned.as_str();
    let secs = (k * STEP_MS / 1000) as f64;
    let mut out = vec![series("up", &[("instance", inst), ("job", "api")], t, 1.0)];
    for (h, handler) in HANDLERS.iter().enumerate() {
        let rate = 10.0 + 5.0 * h as f64 + (i % 7) as f64;
        let base = [("handler", *handler), ("instance", inst), ("job", "api")];
        for (method, m) in METHODS {
            for (code, c) in CODES {
                let l = [("code", code), base[0], base[1], base[2], ("method", method)];
                out.push(series(
                    "http_requests_total",
                    &l,
                    t,
                    (rate * m * c * secs).floor(),
                ));
            }
        }
        let count = (rate * secs).floor();
        let scale = 0.02 * (h + 1) as f64;
        for le in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]) {
            let frac = le.parse::<f64>().map_or(1.0, |b| 1.0 - (-b / scale).exp());
            let l = [base[0], base[1], base[2], ("le", le.as_str())];
            out.push(series(
                "http_request_duration_seconds_bucket",
                &l,
                t,
                (count * frac).floor(),
            ));
        }
        out.push(series("http_request_duration_seconds_count", &base, t, count));
        out.push(series(
            "http_request_duration_seconds_sum",
            &base,
            t,
            count * scale,
        ));
    }
    for cpu in ["0", "1"] {
        for (mode, share) in MODES {
            let l = [("cpu", cpu), ("instance", inst), ("job", "node"), ("mode", mode)];
            let v = secs * share * (1.0 + (i % 3) as f64 * 0.1);
            out.push(series("node_cpu_seconds_total", &l, t, v));
        }
    }
    out
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

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

fn rw_request(client: &reqwest::Client, url: &str, series: &[TimeSeries]) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(encode(series))
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
    let (slowest, probes, failed) = probe.stop().await;
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

/// The dashboard mix against `api`, client `c`'s `n`-th query.
fn query_load(
    api: String,
    t_end: i64,
) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = load::Answer> + Send>> + Send + Sync
{
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .unwrap();
    move |c, n| {
        let (q, step) = QUERIES[(c + n as usize) % QUERIES.len()];
        let url = if step == 0 {
            format!("{api}/api/v1/query?query={}&time={}", enc(q), t_end / 1000)
        } else {
            format!(
                "{api}/api/v1/query_range?query={}&start={}&end={}&step={step}",
                enc(q),
                t_end / 1000 - 3600,
                t_end / 1000
            )
        };
        Box::pin(load::send(client.get(url), 0))
    }
}

/// remote_write requests of [`RW_BATCH`] series of client `c`, each at a
/// timestamp after the client's previous one.
fn rw_load(
    url: String,
    clients: usize,
) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = load::Answer> + Send>> + Send + Sync
{
    // Prometheus' default remote_timeout.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let last: Arc<Vec<AtomicI64>> = Arc::new((0..clients).map(|_| AtomicI64::new(0)).collect());
    move |c, n| {
        let t = now_ms().max(last[c].load(Ordering::SeqCst) + 1);
        last[c].store(t, Ordering::SeqCst);
        let inst = format!("client-{c:02}");
        let batch: Vec<TimeSeries> = (0..RW_BATCH)
            .map(|s| {
                let name = format!("rw_load_{}_total", s % 40);
                let shard = (s / 40).to_string();
                series(
                    &name,
                    &[("instance", &inst), ("job", "rw"), ("shard", &shard)],
                    t,
                    n as f64,
                )
            })
            .collect();
        Box::pin(load::send(rw_request(&client, &url, &batch), RW_BATCH as u64))
    }
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
    cfg.query_extra = "  max_concurrency: 2\n  timeout: 3s\n".into();
    let mut query = cfg.start("query");
    wait_healthy(&format!("{api}/-/healthy"), &mut query).await;
    let tally = level(
        "query, max_concurrency 2, timeout 3s",
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
