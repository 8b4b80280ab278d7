//! Kafka produce cost: samples per CPU-second of the producing process,
//! through `KafkaPublisher` to tansu on loopback, as the scrape role
//! writes them (series with labels encoded once, see
//! `sluice_model::bus::EncodedSeries`) and as plain series (encoded per
//! write, the path remote_write and the stream stages take). CPU is this
//! process's user + system time from /proc (tokio workers and
//! librdkafka's threads; the broker is another process and not counted).
//! Ignored by default; `tests/bench/produce_throughput.sh` runs it with
//! optimised code and the figures go to BENCHMARKS.md.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use sluice_ingest::publish::{Delivery, KafkaPublisher, SampleWriter, SeriesBatch};
use sluice_model::bus::EncodedSeries;
use sluice_model::{Sample, TimeSeries};

use crate::bench_sink::step_batch;
use crate::support::broker::Broker;
use crate::support::procfs::cpu_seconds;

const SERIES: usize = 10_000;
const STEPS: i64 = 200;
/// Writes queued before the oldest is awaited (the scrape loops do not
/// wait for Kafka either; the producer's budget bounds them).
const IN_FLIGHT: usize = 8;

/// Produces `STEPS` writes of `SERIES` samples; returns (wall s, CPU s).
async fn produce(publisher: &KafkaPublisher, encoded: bool) -> (f64, f64) {
    let labels: Vec<TimeSeries> = step_batch(0, SERIES);
    let cached: Vec<Arc<EncodedSeries>> = labels
        .iter()
        .map(|s| Arc::new(EncodedSeries::new(s.labels.clone())))
        .collect();
    let me = std::process::id();
    let (t0, cpu0) = (Instant::now(), cpu_seconds(me));
    let mut waits: VecDeque<Delivery> = VecDeque::new();
    for step in 0..STEPS {
        let ts = 1_700_000_000_000 + step * 15_000;
        let sample = |i: usize| Sample::new(ts, (step * 1500 + i as i64) as f64);
        let delivery = if encoded {
            let batch = SeriesBatch {
                encoded: cached
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.clone(), sample(i)))
                    .collect(),
                ..SeriesBatch::default()
            };
            publisher.submit_batch(batch)
        } else {
            // What the scrape path did before: a clone of the cached
            // labels per sample, encoded and hashed per write.
            let series = labels
                .iter()
                .enumerate()
                .map(|(i, s)| TimeSeries {
                    labels: s.labels.clone(),
                    samples: vec![sample(i)],
                })
                .collect();
            publisher.submit(series)
        };
        waits.push_back(delivery.expect("the producer's budget holds a few writes"));
        if waits.len() >= IN_FLIGHT {
            waits.pop_front().unwrap().await.unwrap();
        }
    }
    for w in waits {
        w.await.unwrap();
    }
    (t0.elapsed().as_secs_f64(), cpu_seconds(me) - cpu0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/produce_throughput.sh"]
async fn bench_produce_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start_in_memory(&dir.path().join("broker"));
    let (_, publisher) = broker.samples_publisher().await;
    let total = SERIES as f64 * STEPS as f64;
    // Warm-up: connections, metadata, librdkafka's buffers.
    produce(&publisher, true).await;
    // Interleaved, three rounds each; the best CPU figure of each side.
    let mut results = [Vec::new(), Vec::new()];
    for _ in 0..3 {
        for (k, encoded) in [true, false].into_iter().enumerate() {
            results[k].push(produce(&publisher, encoded).await);
        }
    }
    for (k, name) in ["encoded series (scrape path)", "plain series (encoded per write)"]
        .into_iter()
        .enumerate()
    {
        let mut cpu: Vec<f64> = results[k].iter().map(|r| r.1).collect();
        cpu.sort_by(f64::total_cmp);
        let wall: f64 = results[k].iter().map(|r| r.0).sum::<f64>() / 3.0;
        eprintln!(
            "produce throughput: {name}: {total} samples per round, median {:.0} samples per CPU-second \
             (min-max {:.0}-{:.0}), {:.2} CPU-s per million; wall {:.0} samples/s",
            total / cpu[1],
            total / cpu[2],
            total / cpu[0],
            cpu[1] / total * 1e6,
            total / wall
        );
    }
}
