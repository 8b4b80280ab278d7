//! Downsampling throughput: input samples per CPU-second of `sluice
//! process` working through a backlog (5 m and 1 h tiers). Ignored by
//! default (a measurement, not a check); `tests/bench/downsample_throughput.sh`
//! runs it with optimised code and the figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use sluice_ingest::publish::SampleWriter;

use crate::bench_sink::step_batch;
use crate::support::broker::Broker;
use crate::support::procfs::cpu_seconds;
use crate::support::sluice::TestConfig;

/// `sluice_downsample_input_samples_total` from the process role's /metrics.
async fn input_samples(port: u16) -> u64 {
    let Ok(resp) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else {
        return 0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("sluice_downsample_input_samples_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/downsample_throughput.sh"]
async fn bench_downsample_throughput() {
    const SERIES: usize = 10_000;
    const STEPS: i64 = 400; // 100 minutes at 15 s: twenty 5 m windows, one full hour
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections =
        "downsample:\n  enabled: true\n  resolutions: [5m, 1h]\n  checkpoint_interval: 10s\n".into();
    let (_, publisher) = broker.samples_publisher().await;
    let total = (SERIES * STEPS as usize) as u64;
    for step in 0..STEPS {
        publisher.write(step_batch(step, SERIES)).await.unwrap();
    }
    let t = Instant::now();
    let mut proc = cfg.start("process");
    let pid = proc.child.id();
    let deadline = Instant::now() + Duration::from_secs(900);
    let (mut cpu, mut done) = (0.0, 0);
    while done < total {
        assert!(
            Instant::now() < deadline,
            "processed only {done}/{total} in 900 s:\n{}",
            proc.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        cpu = cpu_seconds(pid);
        done = input_samples(cfg.process_health_port).await;
    }
    let wall = t.elapsed().as_secs_f64();
    proc.terminate();
    eprintln!(
        "downsample throughput: {total} input samples ({SERIES} series x {STEPS} steps, tiers 5m+1h) in {wall:.1} s wall \
         (incl. start-up), {cpu:.1} CPU-s => {:.0} input samples per CPU-second",
        total as f64 / cpu.max(0.01)
    );
}
