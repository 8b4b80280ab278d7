//! Sink throughput: Kafka → published segments, in samples per CPU-second
//! of the sink process. Ignored by default (a measurement, not a check);
//! `tests/bench/sink_throughput.sh` runs it with optimised code and the
//! figures go to BENCHMARKS.md.

use std::time::{Duration, Instant};

use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_sink::segment::catalog::Catalog;
use sluice_sink::store::SegmentStore;

use crate::compaction::compact;
use crate::support::broker::Broker;
use crate::support::procfs::cpu_seconds;
use crate::support::sluice::TestConfig;

/// (rows, bytes) of the visible segments.
async fn stored(catalog: &Catalog) -> (i64, u64) {
    let visible = catalog.refresh().await.unwrap().visible;
    (
        visible.iter().map(|m| m.rows).sum(),
        visible.iter().map(|m| m.bytes).sum(),
    )
}

/// Node-exporter-like series: a few metrics with realistic label sets.
pub(crate) fn step_batch(step: i64, series: usize) -> Vec<TimeSeries> {
    (0..series)
        .map(|i| TimeSeries {
            labels: Labels::new([
                ("__name__", format!("node_network_receive_bytes_{}", i % 8)),
                ("instance", format!("10.0.{}.{}:9100", i / 250, i % 250)),
                ("job", "node".to_string()),
                ("device", format!("eth{}", i % 4)),
            ]),
            samples: vec![Sample::new(
                1_700_000_000_000 + step * 15_000,
                (step * 1500 + i as i64) as f64,
            )],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/sink_throughput.sh"]
async fn bench_sink_throughput() {
    const SERIES: usize = 10_000;
    const STEPS: i64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.flush_interval = "2s";
    cfg.sink_extra = "  max_segment_samples: 1000000\n  compaction:\n    enabled: false\n".into();
    let (_, publisher) = broker.samples_publisher().await;
    let total = SERIES * STEPS as usize;
    let t0 = Instant::now();
    for step in 0..STEPS {
        publisher.write(step_batch(step, SERIES)).await.unwrap();
    }
    let produce_s = t0.elapsed().as_secs_f64();

    // The whole backlog is in Kafka: now time the sink draining it.
    let t1 = Instant::now();
    let mut sink = cfg.start("sink");
    let pid = sink.child.id();
    let catalog = Catalog::new(SegmentStore::local(&cfg.segments()).unwrap(), "samples");
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut cpu, mut rows) = (0.0, 0i64);
    while rows < total as i64 {
        assert!(
            Instant::now() < deadline,
            "sink stored only {rows}/{total} in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        cpu = cpu_seconds(pid);
        rows = stored(&catalog).await.0;
    }
    let drain_s = t1.elapsed().as_secs_f64();
    sink.terminate();
    let bytes = stored(&catalog).await.1;
    // The same data after compaction (what a sink converges to).
    let t2 = Instant::now();
    let summary = compact(&cfg.write());
    let compact_s = t2.elapsed().as_secs_f64();
    let compacted = stored(&catalog).await.1;
    eprintln!(
        "compaction: {summary} in {compact_s:.1} s wall; {:.2} bytes/sample after",
        compacted as f64 / total as f64
    );
    eprintln!(
        "sink throughput: {total} samples ({SERIES} series x {STEPS} steps); produce {:.0} samples/s; \
         sink drained in {drain_s:.1} s wall (incl. start-up and {} flush interval), {cpu:.1} CPU-s \
         => {:.0} samples per CPU-second; {:.2} bytes/sample in flush-sized segments",
        total as f64 / produce_s,
        cfg.flush_interval,
        total as f64 / cpu.max(0.01),
        bytes as f64 / total as f64
    );
}
