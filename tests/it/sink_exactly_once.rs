//! Every sample that reached Kafka lands in the segments exactly once, even
//! when the sink is SIGKILLed again and again mid-stream, and a record that
//! does not decode is skipped without stopping the sink.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{TimestampMillisecondType, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_sink::segment::catalog::Catalog;
use sluice_sink::store::SegmentStore;

use crate::support::broker::Broker;
use crate::support::free_port;
use crate::support::sluice::TestConfig;

/// (rows, distinct (series, timestamp) pairs) over every visible segment.
pub(crate) async fn count_segment_rows(root: &Path) -> (usize, usize) {
    let counts = stored_samples(root).await;
    (counts.values().sum(), counts.len())
}

/// How many rows each (series id, timestamp) has over every visible segment
/// (superseded inputs of a merge are hidden, as from every reader). A
/// compactor running with `delete_delay: 0s` may delete a file between the
/// listing and the read: then the count starts over from a new listing.
pub(crate) async fn stored_samples(root: &Path) -> HashMap<(u64, i64), usize> {
    let store = SegmentStore::local(root).unwrap();
    let catalog = Catalog::new(store.clone(), "samples");
    loop {
        let snapshot = catalog.refresh().await.unwrap();
        let mut files = Vec::new();
        for seg in &snapshot.visible {
            match store.get(&seg.location).await {
                Ok(data) => files.push(data),
                Err(e) => {
                    eprintln!("recounting: {e}");
                    break;
                }
            }
        }
        if files.len() == snapshot.visible.len() {
            return sample_counts(files);
        }
    }
}

fn sample_counts(files: Vec<bytes::Bytes>) -> HashMap<(u64, i64), usize> {
    let mut seen = HashMap::new();
    for data in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(data)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = batch
                .column_by_name("__series_id__")
                .unwrap()
                .as_primitive::<UInt64Type>();
            let ts = batch
                .column_by_name("__timestamp__")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>();
            assert_eq!(ids.null_count(), 0);
            for i in 0..batch.num_rows() {
                *seen.entry((ids.value(i), ts.value(i))).or_insert(0) += 1;
            }
        }
    }
    seen
}

fn batch_at(step: i64, series: usize) -> Vec<TimeSeries> {
    (0..series)
        .map(|i| TimeSeries {
            labels: Labels::new([
                ("__name__", "exactly_once_total".to_string()),
                ("series", i.to_string()),
            ]),
            samples: vec![Sample::new(1_700_000_000_000 + step * 15_000, step as f64)],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_survives_sigkill_with_no_loss_and_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.flush_interval = "300ms";
    // Compaction runs inside the sink at the same time, merging what it
    // just wrote (all test data lies in one closed window), and is killed
    // along with it.
    cfg.sink_extra =
        "  compaction:\n    interval: 1s\n    ranges: [2h]\n    settle: 0s\n    delete_delay: 0s\n".into();
    cfg.listen_port = free_port();
    let (kafka, publisher) = broker.samples_publisher().await;
    let poison: FutureProducer = sluice_ingest::topics::client_config(&kafka).create().unwrap();

    const STEPS: i64 = 120;
    const SERIES: usize = 50;
    let mut sink = cfg.start("sink");
    let mut kills = 0;
    for step in 0..STEPS {
        publisher.write(batch_at(step, SERIES)).await.unwrap();
        if step == 30 {
            // A record that is not a WriteRequest: must be counted and skipped.
            poison
                .send(
                    FutureRecord::<(), [u8]>::to(&kafka.samples_topic())
                        .partition(1)
                        .payload(&[0xde, 0xad, 0xbe, 0xef][..]),
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        // SIGKILL at irregular moments: every 17 or 23 steps.
        if step > 0 && (step % 17 == 0 || step % 23 == 0) {
            sink.kill9();
            kills += 1;
            sink = cfg.start("sink");
        }
    }
    assert!(kills >= 5, "only {kills} kills");
    let expected = STEPS as usize * SERIES;
    let root = cfg.segments();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (rows, distinct) = loop {
        let (rows, distinct) = count_segment_rows(&root).await;
        if rows >= expected {
            break (rows, distinct);
        }
        if std::time::Instant::now() > deadline {
            let log = sink.output();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "only {rows}/{expected} samples in segments after 90s; sink log tail:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Let any in-flight flush finish, then count once more.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sink.terminate();
    let (rows_after, distinct_after) = count_segment_rows(&root).await;
    eprintln!(
        "exactly-once: sent {expected}, stored {rows_after} rows, {distinct_after} distinct, {kills} SIGKILLs"
    );
    let (visible, superseded) = crate::compaction::visible_and_superseded(&root).await;
    eprintln!(
        "exactly-once: {visible} visible + {superseded} superseded segments after compaction in the sink"
    );
    assert_eq!((rows, distinct), (expected, expected), "first full count");
    assert_eq!((rows_after, distinct_after), (expected, expected), "final count");
    assert!(
        sink.output().contains("skipping record that does not decode"),
        "poison record not reported:\n{}",
        sink.output()
    );
}
