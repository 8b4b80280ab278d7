//! Ingest cost: `sluice scrape` publishing to Kafka (tansu) against
//! Prometheus 2.42 in agent mode (`--enable-feature=agent`) remote-writing
//! to a loopback endpoint that discards, both scraping the same loopback
//! exporters at the same interval. Ignored (a measurement, not a check);
//! `tests/bench/ingest_cpu.sh` runs it with Sluice's crates at opt-level 3
//! and BENCHMARKS.md holds the figures.
//!
//! Rounds are interleaved (Sluice, Prometheus, Sluice, …), each a fresh
//! process: a warm-up, then a fixed window over which the process's own
//! CPU (user + system from /proc) and the samples it ingested are taken.
//! Ingested = Sluice's `sluice_publish_samples_total` (acknowledged by
//! Kafka) and Prometheus' `prometheus_remote_storage_samples_in_total`
//! (appended to the agent's WAL for remote_write); both count the scraped
//! samples plus the five synthetic series per scrape. The exporters' own
//! count of scrapes served × series per target is printed beside them as a
//! neutral check. The broker's CPU during Sluice's windows is reported on
//! its own, never added to Sluice's; the exporters and the discarding
//! endpoint run in this process and are not counted for either.
//!
//! Sizes (environment, defaults in brackets): `INGEST_TARGETS` [50]
//! exporters of 1 944 series each, `INGEST_INTERVAL_S` [2],
//! `INGEST_ROUNDS` [3] per side, `INGEST_WARMUP_S` [10], `INGEST_WINDOW_S`
//! [30]. 50 × 1 944 series at 2 s is ~48 600 samples/s: enough that
//! scraping dominates both processes (the fixed costs — timers, the
//! producer's idle polling — are a few per cent), small enough for two
//! shared cores, and bodies of 465 kB like a busy kubelet's cAdvisor.
//! tansu keeps records in memory here: with its SQLite storage on this
//! shared disk it acknowledged only ~17 000 of these samples/s, so the
//! producer's buffer filled and the benchmark measured the broker's disk.
//! `INGEST_KEEP=1` keeps the directory with every process's log.
//! `INGEST_KAFKA_CLIENT="linger.ms=100 compression.type=lz4"` sets
//! librdkafka properties of the scrape role (`kafka.client`) for an A/B of
//! producer tuning.

mod discard;
mod exporters;
mod spread;

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_ingest::exposition::{self, Format};

use crate::support::broker::Broker;
use crate::support::http::metric;
use crate::support::process::Proc;
use crate::support::procfs::{cpu_seconds, peak_rss_mib};
use crate::support::prometheus;
use crate::support::sluice::TestConfig;
use discard::Discard;
use exporters::Exporters;
use spread::Spread;

const JOB: &str = "bench";

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// `kafka.client` lines (indented under `kafka:`) for space-separated
/// `key=value` pairs; nothing for none.
fn kafka_client_yaml(pairs: &str) -> String {
    let lines: Vec<String> = pairs
        .split_whitespace()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("INGEST_KAFKA_CLIENT: {pair:?} is not key=value"));
            format!("    {k}: \"{v}\"\n")
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("  client:\n{}", lines.concat())
}

/// What one window of one round measured.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    cpu_s: f64,
    wall_s: f64,
    /// Samples the process ingested (its own counter).
    samples: f64,
    /// Scrapes the exporters served × series per target.
    scraped: f64,
    peak_rss_mib: f64,
    /// Sluice only: the broker's CPU over the same window.
    broker_cpu_s: f64,
    /// Sluice: samples dropped (buffer full or Kafka refused);
    /// Prometheus: samples sent minus samples in (backlog moved).
    lost: f64,
    /// Failed scrapes (Sluice: `sluice_scrape_failures_total`;
    /// Prometheus: `prometheus_target_scrapes_*` refusals and timeouts
    /// are not counted this way, so 0 there).
    failures: f64,
}

impl Window {
    fn per_core(&self) -> f64 {
        self.samples / self.cpu_s
    }
    fn cpu_per_million(&self) -> f64 {
        self.cpu_s / (self.samples / 1e6)
    }
}

/// A counter snapshot: (process CPU, broker CPU, the process's /metrics,
/// exporter scrapes, when).
struct Snapshot {
    cpu: f64,
    broker_cpu: f64,
    metrics: String,
    scrapes: u64,
    at: Instant,
}

async fn snapshot(pid: u32, broker: Option<u32>, metrics_url: &str, ex: &Exporters) -> Snapshot {
    let metrics = reqwest::get(metrics_url)
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET {metrics_url}: {e}"))
        .text()
        .await
        .unwrap();
    Snapshot {
        cpu: cpu_seconds(pid),
        broker_cpu: broker.map_or(0.0, cpu_seconds),
        metrics,
        scrapes: ex.scrapes(),
        at: Instant::now(),
    }
}

async fn wait_ready(url: &str, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            proc.child.try_wait().unwrap().is_none(),
            "exited:\n{}",
            proc.output()
        );
        assert!(Instant::now() < deadline, "{url} not ready:\n{}", proc.output());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Warm-up, then the window; `count` reads (ingested, lost) from /metrics.
async fn measure(
    proc: &mut Proc,
    base: &str,
    broker: Option<u32>,
    ex: &Exporters,
    count: impl Fn(&str) -> (f64, f64, f64),
) -> Window {
    let pid = proc.child.id();
    wait_ready(&format!("{base}/-/ready"), proc).await;
    let (warmup, window) = (env_or("INGEST_WARMUP_S", 10), env_or("INGEST_WINDOW_S", 30));
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let url = format!("{base}/metrics");
    let a = snapshot(pid, broker, &url, ex).await;
    tokio::time::sleep(Duration::from_secs(window)).await;
    let b = snapshot(pid, broker, &url, ex).await;
    assert!(
        proc.child.try_wait().unwrap().is_none(),
        "exited during the window:\n{}",
        proc.output()
    );
    let ((s0, l0, f0), (s1, l1, f1)) = (count(&a.metrics), count(&b.metrics));
    Window {
        cpu_s: b.cpu - a.cpu,
        wall_s: (b.at - a.at).as_secs_f64(),
        samples: s1 - s0,
        scraped: ((b.scrapes - a.scrapes) as usize * ex.series_per_target) as f64,
        peak_rss_mib: peak_rss_mib(pid),
        broker_cpu_s: b.broker_cpu - a.broker_cpu,
        lost: l1 - l0,
        failures: f1 - f0,
    }
}

fn sluice_counts(m: &str) -> (f64, f64, f64) {
    (
        metric(m, "sluice_publish_samples_total", &[]),
        metric(m, "sluice_scrape_samples_dropped_total", &[]),
        metric(m, "sluice_scrape_failures_total", &[]),
    )
}

fn prometheus_counts(m: &str) -> (f64, f64, f64) {
    let appended = metric(m, "prometheus_remote_storage_samples_in_total", &[]);
    let sent = metric(m, "prometheus_remote_storage_samples_total", &[]);
    (appended, appended - sent, 0.0)
}

fn agent_config(ex: &Exporters, interval: u64, remote: &str) -> String {
    let targets: Vec<String> = ex.targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: {interval}s\n  scrape_timeout: {interval}s\nscrape_configs:\n  - job_name: {JOB}\n    \
         static_configs:\n      - targets: [{}]\nremote_write:\n  - url: {remote}\n",
        targets.join(", ")
    )
}

fn print_round(who: &str, r: usize, w: &Window) {
    eprintln!(
        "round {r} {who}: {:.0} samples in {:.1} s ({:.0}/s; exporters served {:.0}), {:.2} CPU-s \
         ({:.2} cores) => {:.0} samples per CPU-second, {:.3} CPU-s per million; peak RSS {:.0} MiB; \
         broker {:.2} CPU-s; lost/backlog {:.0}; failed scrapes {:.0}",
        w.samples,
        w.wall_s,
        w.samples / w.wall_s,
        w.scraped,
        w.cpu_s,
        w.cpu_s / w.wall_s,
        w.per_core(),
        w.cpu_per_million(),
        w.peak_rss_mib,
        w.broker_cpu_s,
        w.lost,
        w.failures
    );
}

/// One Sluice round: `sluice scrape` on a running broker.
async fn sluice_round(cfg: &TestConfig, broker: &Broker, ex: &Exporters) -> Window {
    let mut scrape = cfg.start("scrape");
    let base = format!("http://127.0.0.1:{}", cfg.receive_port);
    let w = measure(
        &mut scrape,
        &base,
        Some(broker.proc.child.id()),
        ex,
        sluice_counts,
    )
    .await;
    scrape.terminate();
    w
}

/// One Prometheus round: a fresh agent (empty WAL).
async fn prometheus_round(dir: &Path, config: &str, ex: &Exporters) -> Window {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let (mut agent, base) = prometheus::start_agent(dir, config);
    let w = measure(&mut agent, &base, None, ex, prometheus_counts).await;
    agent.terminate();
    w
}

/// The sink's peak RSS and CPU while it keeps up with the scrape role
/// live (scrape and sink on their own broker, so no earlier backlog).
async fn pipeline_round(dir: &Path, ex: &Exporters, interval: &'static str) {
    let broker = Broker::start_in_memory(&dir.join("broker"));
    let mut cfg = TestConfig::new(dir, broker.address());
    cfg.targets = vec![(JOB.into(), ex.targets.clone())];
    cfg.scrape_interval = interval;
    cfg.flush_interval = "2s";
    let mut sink = cfg.start("sink");
    let mut scrape = cfg.start("scrape");
    let sink_base = format!("http://127.0.0.1:{}", cfg.sink_health_port);
    wait_ready(&format!("{sink_base}/-/ready"), &mut sink).await;
    let base = format!("http://127.0.0.1:{}", cfg.receive_port);
    let sink_pid = sink.child.id();
    let sink_cpu0 = cpu_seconds(sink_pid);
    let w = measure(
        &mut scrape,
        &base,
        Some(broker.proc.child.id()),
        ex,
        sluice_counts,
    )
    .await;
    let sink_cpu = cpu_seconds(sink_pid) - sink_cpu0;
    let sink_rss = peak_rss_mib(sink_pid);
    assert!(
        sink.child.try_wait().unwrap().is_none(),
        "sink exited:\n{}",
        sink.output()
    );
    print_round("pipeline scrape", 0, &w);
    eprintln!(
        "pipeline sink: peak RSS {sink_rss:.0} MiB, {sink_cpu:.2} CPU-s over warm-up and window \
         (scrape published {:.0} samples in the window)",
        w.samples
    );
    scrape.terminate();
    sink.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/ingest_cpu.sh"]
async fn bench_ingest_cpu() {
    let targets = env_or("INGEST_TARGETS", 50) as usize;
    let interval_s = env_or("INGEST_INTERVAL_S", 2);
    let rounds = env_or("INGEST_ROUNDS", 3) as usize;
    let interval: &'static str = Box::leak(format!("{interval_s}s").into_boxed_str());
    let dir = tempfile::tempdir().unwrap();
    let ex = Exporters::start(targets).await;
    // The bodies are what both scrapers will parse: check they do.
    let body = ex.sample_body();
    let parsed = exposition::parse(body.as_bytes(), Format::PrometheusText).unwrap();
    assert_eq!(parsed.samples.len(), ex.series_per_target);
    eprintln!(
        "targets: {targets} exporters x {} series ({} bytes per body) every {interval}: {} samples/s offered",
        ex.series_per_target,
        body.len(),
        targets * ex.series_per_target / interval_s as usize
    );

    let broker = Broker::start_in_memory(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(&dir.path().join("sluice"), broker.address());
    std::fs::create_dir_all(&cfg.dir).unwrap();
    cfg.targets = vec![(JOB.into(), ex.targets.clone())];
    cfg.scrape_interval = interval;
    let client = std::env::var("INGEST_KAFKA_CLIENT").unwrap_or_default();
    if !client.is_empty() {
        eprintln!("note: the scrape role's kafka.client: {client}");
    }
    cfg.kafka_extra = kafka_client_yaml(&client);
    let discard = Discard::start().await;
    let agent_cfg = agent_config(&ex, interval_s, &discard.url);

    let (mut sluice, mut prom) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let w = sluice_round(&cfg, &broker, &ex).await;
        print_round("sluice", r, &w);
        sluice.push(w);
        let w = prometheus_round(&dir.path().join("prom"), &agent_cfg, &ex).await;
        print_round("prometheus", r, &w);
        prom.push(w);
    }
    let (requests, bytes) = discard.received();
    eprintln!("remote_write endpoint: {requests} requests, {bytes} bytes from the agent");
    assert!(requests > 0, "the agent never remote-wrote");
    // A window that ingested much less than the exporters served (scrapes
    // failing, or Kafka not keeping up) says so beside the figures.
    for (who, ws) in [("sluice", &sluice), ("prometheus", &prom)] {
        for (r, w) in ws.iter().enumerate() {
            if w.samples < 0.95 * w.scraped {
                eprintln!(
                    "note: round {r} {who} ingested {:.0}% of what the exporters served",
                    100.0 * w.samples / w.scraped
                );
            }
        }
    }

    let row = |name: &str, f: &dyn Fn(&Window) -> f64, d: usize| {
        let (s, p) = (Spread::of(sluice.iter().map(f)), Spread::of(prom.iter().map(f)));
        eprintln!(
            "| {name} | {} | {} | {:.2} |",
            s.show(d),
            p.show(d),
            s.median / p.median
        );
    };
    eprintln!("| figure (n={rounds} per side) | Sluice median (min–max) | Prometheus 2.42 agent | ratio |");
    eprintln!("|---|---|---|---|");
    row("samples per CPU-second", &Window::per_core, 0);
    row("CPU-s per million samples", &Window::cpu_per_million, 3);
    row("cores used", &|w| w.cpu_s / w.wall_s, 3);
    row("samples/s ingested", &|w| w.samples / w.wall_s, 0);
    row("peak RSS MiB", &|w| w.peak_rss_mib, 0);
    eprintln!(
        "broker (tansu) CPU during Sluice's windows: {} CPU-s per million samples",
        Spread::of(sluice.iter().map(|w| w.broker_cpu_s / (w.samples / 1e6))).show(3)
    );
    drop(broker);

    if env_or("INGEST_PIPELINE", 1) == 1 {
        pipeline_round(&dir.path().join("pipeline"), &ex, interval).await;
    }
    if env_or("INGEST_KEEP", 0) == 1 {
        // Logs and configs stay for a look afterwards.
        eprintln!("note: kept {}", dir.path().display());
        std::mem::forget(dir);
    }
}
