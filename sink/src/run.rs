//! The sink loop: consume, buffer per partition, publish segments, commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_model::clock::SystemClock;
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::consumer::{BusConsumer, BusRecord, Shard};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::compact::Compactor;
use crate::segment::SAMPLES_TABLE;
use crate::segment::layout::{IMPORT_PARTITION, SegmentKey};
use crate::segment::writer::{SegmentSpec, write_segment};
use crate::store::{SegmentStore, StoredSegment};
use crate::watermark::Watermarks;
use crate::{SinkConfig, SinkError};

/// Records consumed but not yet in a segment, for one partition.
#[derive(Default)]
struct PartitionBuffer {
    first_offset: Option<i64>,
    last_offset: i64,
    series: HashMap<u64, (Labels, Vec<Sample>)>,
    samples: usize,
}

impl PartitionBuffer {
    /// Takes an indexed record: a series already buffered costs a hash
    /// lookup and a copy of its samples; only a new one has its labels
    /// built (the owned decoder allocated every label of every series of
    /// every record, a third of the sink's CPU).
    fn add(&mut self, rec: &BusRecord) {
        self.first_offset.get_or_insert(rec.offset);
        self.last_offset = rec.offset;
        for s in rec.indexed.series() {
            self.samples += s.samples.len();
            let e = self
                .series
                .entry(s.hash)
                .or_insert_with(|| (s.to_labels(), Vec::new()));
            e.1.extend_from_slice(s.samples);
        }
    }

    /// The buffered series, one sample per timestamp, and how many samples
    /// that removed.
    fn take_series(&mut self) -> (Vec<TimeSeries>, usize) {
        let mut repeated = 0;
        let series = self
            .series
            .drain()
            .map(|(_, (labels, mut samples))| {
                // A series is written once per timestamp: Kafka order is
                // event order per series, but exposition timestamps may
                // repeat (and a retried write repeats them), and the first
                // sample for a timestamp wins, as Prometheus rejects later
                // duplicates.
                let before = samples.len();
                samples.sort_by_key(|s| s.timestamp_ms);
                samples.dedup_by_key(|s| s.timestamp_ms);
                repeated += before - samples.len();
                TimeSeries { labels, samples }
            })
            .collect();
        (series, repeated)
    }
}

struct SinkMetrics {
    segments: Counter,
    samples: Counter,
    bytes: Counter,
    replay_skipped: Counter,
    not_newer_in_flush: Counter,
    not_newer_stored: Counter,
}

const NOT_NEWER_HELP: &str = "Samples not stored because their series already has a sample at their timestamp or later, earlier in the same flush or in a segment (a retried write's second copy, a repeated exposition timestamp, an out-of-order sample).";

/// What one sink loop consumes and where it writes.
#[derive(Debug, Clone)]
pub struct SinkTable {
    /// Input topic.
    pub topic: String,
    /// Segment table.
    pub table: String,
    /// Overrides `sink.retention` for this table (downsampled tiers keep
    /// their own), in ms.
    pub retention_ms: Option<i64>,
}

impl SinkTable {
    /// The raw samples: `<prefix>.samples` into `samples`.
    pub fn raw(kafka: &KafkaConfig) -> Self {
        SinkTable {
            topic: kafka.samples_topic(),
            table: SAMPLES_TABLE.to_string(),
            retention_ms: None,
        }
    }

    /// The consumer group of this table: `sink.group_id` for the raw
    /// samples, `<group_id>-<table>` for the others (offsets are per topic
    /// anyway, and lag then shows per table).
    pub fn group_id(&self, cfg: &SinkConfig) -> String {
        if self.table == SAMPLES_TABLE {
            cfg.group_id.clone()
        } else {
            format!("{}-{}", cfg.group_id, self.table)
        }
    }
}

/// Runs the raw-samples sink until `shutdown` turns true, then flushes and returns.
pub async fn run_sink(
    kafka: &KafkaConfig,
    cfg: &SinkConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), SinkError> {
    run_sink_table(kafka, cfg, &SinkTable::raw(kafka), shutdown).await
}

/// Runs one topic → table sink until `shutdown` turns true.
pub async fn run_sink_table(
    kafka: &KafkaConfig,
    cfg: &SinkConfig,
    target: &SinkTable,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SinkError> {
    let topic = target.topic.clone();
    let table = target.table.as_str();
    let group = target.group_id(cfg);
    let store = SegmentStore::open(&cfg.path, &cfg.storage_options)?;
    // Temp files of a crashed flush were never published.
    let removed = store.remove_temp_files(table)?;
    if removed > 0 {
        info!(removed, "removed unpublished temp files");
    }
    // Resume each partition right after its last published segment.
    let mut published: HashMap<i32, Option<i64>> = HashMap::new();
    let mut newest: HashMap<i32, StoredSegment> = HashMap::new();
    for seg in store.list(table).await? {
        let e = published.entry(seg.key.partition).or_insert(None);
        *e = Some(e.map_or(seg.key.last_offset, |m| m.max(seg.key.last_offset)));
        match newest.get(&seg.key.partition) {
            Some(n) if n.key.last_offset >= seg.key.last_offset => {}
            _ => {
                newest.insert(seg.key.partition, seg);
            }
        }
    }
    let resume = |p: i32| -> Option<i64> { published.get(&p).copied().flatten().map(|o| o + 1) };
    let shard = Shard {
        index: cfg.shard_index,
        count: cfg.shard_count,
    };
    let consumer = BusConsumer::assign(kafka, &group, &topic, shard, &resume)?.indexing();
    let published: HashMap<i32, Option<i64>> = consumer
        .partitions()
        .iter()
        .map(|&p| (p, resume(p).map(|o| o - 1)))
        .collect();
    // The copies a restart is likely to meet are of what was flushed just
    // before it: each partition's newest segment seeds its watermarks.
    let mut watermarks: HashMap<i32, Watermarks> = HashMap::new();
    for p in consumer.partitions() {
        if let Some(seg) = newest.get(p) {
            let w = watermarks.entry(*p).or_default();
            w.absorb_segment(store.get(&seg.location).await?)?;
            debug!(
                partition = p,
                series = w.len(),
                "watermarks seeded from the newest segment"
            );
        }
    }
    let compactor = cfg.compaction.enabled.then(|| {
        // This shard compacts the partitions it writes; shard 0 also takes
        // the backfill pseudo-partition, which no consumer writes.
        let owned: Vec<i32> = consumer.partitions().to_vec();
        let takes_import = cfg.shard_index == 0;
        let owns = Box::new(move |p: i32| owned.contains(&p) || (takes_import && p == IMPORT_PARTITION));
        let mut settings = cfg.compaction_settings();
        if let Some(r) = target.retention_ms {
            settings.retention_ms = r;
        }
        let c = Compactor::new(store.clone(), table, settings, owns, Arc::new(SystemClock));
        tokio::spawn(c.run(cfg.compaction.interval.0, shutdown.clone()))
    });
    let reg = telemetry::global();
    let labels = [("table", table)];
    let m = SinkMetrics {
        segments: reg.counter("sluice_sink_segments_total", "Segments published.", &labels),
        samples: reg.counter(
            "sluice_sink_samples_total",
            "Samples written to segments.",
            &labels,
        ),
        bytes: reg.counter(
            "sluice_sink_segment_bytes_total",
            "Bytes of segments published.",
            &labels,
        ),
        replay_skipped: reg.counter(
            "sluice_sink_replayed_records_skipped_total",
            "Records skipped because a published segment already holds them.",
            &labels,
        ),
        // Against the same flush or against what segments already hold.
        not_newer_in_flush: reg.counter(
            "sluice_sink_samples_not_newer_total",
            NOT_NEWER_HELP,
            &[("table", table), ("against", "flush")],
        ),
        not_newer_stored: reg.counter(
            "sluice_sink_samples_not_newer_total",
            NOT_NEWER_HELP,
            &[("table", table), ("against", "segments")],
        ),
    };
    let mut sink = Sink {
        store,
        table: table.to_string(),
        buffers: BTreeMap::new(),
        published,
        watermarks,
        m,
    };
    info!(topic = %topic, table, path = %cfg.path, "sink started");
    let flush_every = cfg.flush_interval.0;
    let mut last_flush = Instant::now();
    loop {
        let batch = tokio::select! {
            b = consumer.recv_batch(10_000, Duration::from_millis(200)) => b,
            _ = shutdown.changed() => Ok(Vec::new()),
        };
        let stopping = *shutdown.borrow();
        match batch {
            Ok(records) => {
                for r in records {
                    sink.accept(r)?;
                }
            }
            Err(e) => {
                warn!(error = %e, "consume failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let full = sink
            .buffers
            .values()
            .any(|b| b.samples >= cfg.max_segment_samples);
        if stopping || full || last_flush.elapsed() >= flush_every {
            let commits = sink.flush().await?;
            // Segments are the truth; a failed commit only delays lag
            // reporting, so it is logged, not fatal.
            if let Err(e) = consumer.commit(&commits) {
                warn!(error = %e, "offset commit failed");
            }
            last_flush = Instant::now();
        }
        if stopping {
            if let Some(c) = compactor {
                // Safe at any point: a merge cut short leaves only complete
                // states behind (see `compact`).
                c.abort();
            }
            info!("sink stopped");
            return Ok(());
        }
    }
}

struct Sink {
    store: SegmentStore,
    table: String,
    buffers: BTreeMap<i32, PartitionBuffer>,
    /// Highest offset per partition that is already in a segment.
    published: HashMap<i32, Option<i64>>,
    /// Newest stored timestamp per series, per partition.
    watermarks: HashMap<i32, Watermarks>,
    m: SinkMetrics,
}

impl Sink {
    fn accept(&mut self, r: BusRecord) -> Result<(), SinkError> {
        let p = r.partition;
        let published = self.published.get(&p).copied().flatten();
        if published.is_some_and(|max| r.offset <= max) {
            self.m.replay_skipped.inc();
            return Ok(());
        }
        self.buffers.entry(p).or_default().add(&r);
        Ok(())
    }

    /// Publishes every non-empty buffer; returns the offsets to commit.
    async fn flush(&mut self) -> Result<BTreeMap<i32, i64>, SinkError> {
        let mut commits = BTreeMap::new();
        let buffers = std::mem::take(&mut self.buffers);
        for (p, mut buf) in buffers {
            let Some(first) = buf.first_offset else {
                continue;
            };
            let last = buf.last_offset;
            let (mut series, repeated) = buf.take_series();
            let not_newer = self.watermarks.entry(p).or_default().retain_newer(&mut series);
            self.m.not_newer_in_flush.inc_by(repeated as u64);
            self.m.not_newer_stored.inc_by(not_newer as u64);
            let spec = SegmentSpec {
                table: &self.table,
                key: SegmentKey {
                    partition: p,
                    first_offset: first,
                    last_offset: last,
                },
            };
            let meta = write_segment(&self.store, &spec, series).await?;
            if let Some(meta) = meta {
                self.m.segments.inc();
                self.m.samples.inc_by(meta.rows as u64);
                self.m.bytes.inc_by(meta.bytes);
                debug!(
                    partition = p,
                    first,
                    last,
                    rows = meta.rows,
                    bytes = meta.bytes,
                    "segment published"
                );
            }
            self.published.insert(p, Some(last));
            commits.insert(p, last + 1);
        }
        Ok(commits)
    }
}
