//! The downsampler as a stream operator ([`crate::operator`]): samples
//! topic in, tier topics out, state checkpointed on the checkpoint topic.
//!
//! Order of durability per checkpoint interval: outputs are written and
//! acknowledged first (each write waits for the broker), then each
//! partition's state is checkpointed with the offset after the last record
//! it reflects, then offsets are committed (advisory, for lag). A crash
//! anywhere replays from the last checkpoint and — the state machine being
//! a function of the record sequence — re-emits the same windows: outputs
//! can repeat, never differ or go missing, and the sink and the query
//! layer keep one sample per series and timestamp.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use sluice_ingest::publish::KafkaPublisher;
use sluice_ingest::topics::ensure_topics;
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::watch;
use tracing::info;

use super::encode::{TierOutput, TierRecords};
use super::partition::{DownsampleSpec, PartitionState};
use crate::ProcessorError;
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::DownsampleConfig;
use crate::consumer::{BusConsumer, BusRecord, Shard};
use crate::operator::{self, Operator, RunOptions, retry_until_written};

/// Runs until `shutdown` turns true, then checkpoints and returns. With
/// `replay`, stored checkpoints are ignored: every owned partition is read
/// from the beginning of the retained raw topic and every window
/// recomputed (after a resolution was added, or to rebuild a tier); the
/// checkpoints written meanwhile replace the old ones.
pub async fn run_downsampler(
    kafka: &KafkaConfig,
    cfg: &DownsampleConfig,
    replay: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let spec = DownsampleSpec {
        resolutions_ms: cfg.resolutions.iter().map(|r| r.as_millis()).collect(),
        lateness_ms: cfg.allowed_lateness.as_millis(),
    };
    let input = kafka.samples_topic();
    let tiers = cfg.tier_topics(kafka);
    let state_topic = cfg.state_topic(kafka);
    let mut topics = tiers.clone();
    topics.push(state_topic.clone());
    topics.push(input.clone());
    ensure_topics(kafka, &topics)
        .await
        .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
    let mut publishers = Vec::new();
    for t in &tiers {
        publishers.push(
            KafkaPublisher::connect(kafka, t.clone())
                .await
                .map_err(|e| ProcessorError::Kafka(e.to_string()))?,
        );
    }

    // Restore each owned partition's state while assigning it.
    let store = CheckpointStore::new(kafka, &state_topic)?;
    let restored: RefCell<HashMap<i32, PartitionState>> = RefCell::new(HashMap::new());
    let load_error: RefCell<Option<ProcessorError>> = RefCell::new(None);
    let resume = |p: i32| -> Option<i64> {
        if replay {
            // Offset 0, or the earliest retained (auto.offset.reset).
            return Some(0);
        }
        match store.load::<PartitionState>(p) {
            Ok(Some(cp)) if !cp.state.fits(&spec) => {
                *load_error.borrow_mut() = Some(ProcessorError::Config(format!(
                    "the downsampler's checkpoint of partition {p} was written for other resolutions than {:?}; \
                     run `sluice process --replay` once to recompute the tiers from the raw topic",
                    cfg.resolutions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                )));
                None
            }
            Ok(Some(cp)) => {
                restored.borrow_mut().insert(p, cp.state);
                Some(cp.next_offset)
            }
            // No checkpoint: from the beginning, not from a committed
            // offset, which would skip records no state reflects.
            Ok(None) => Some(0),
            Err(e) => {
                *load_error.borrow_mut() = Some(e);
                None
            }
        }
    };
    let shard = Shard {
        index: cfg.shard_index,
        count: cfg.shard_count,
    };
    let consumer = BusConsumer::assign(kafka, &cfg.group_id, &input, shard, &resume)?.indexing();
    if let Some(e) = load_error.into_inner() {
        return Err(e);
    }
    let partitions: Vec<i32> = publishers.iter().map(KafkaPublisher::partitions).collect();
    let mut op = Downsampler {
        spec,
        publishers,
        store,
        states: restored.into_inner(),
        next_offsets: BTreeMap::new(),
        closed: TierRecords::new(&partitions),
        m: Metrics::new(),
    };
    info!(input = %input, tiers = ?tiers, partitions = ?consumer.partitions(), restored = op.states.len(), replay, "downsampler started");
    operator::run(
        &mut op,
        &consumer,
        RunOptions::every(cfg.checkpoint_interval.0),
        shutdown,
    )
    .await
}

/// The downsampling operator: per-partition window state, the tier
/// publishers, the checkpoint store.
struct Downsampler {
    spec: DownsampleSpec,
    publishers: Vec<KafkaPublisher>,
    store: CheckpointStore,
    states: HashMap<i32, PartitionState>,
    /// Per partition, the offset after the last record the state reflects
    /// (since the last checkpoint).
    next_offsets: BTreeMap<i32, i64>,
    /// Windows closed by the current batch, encoded, not yet written.
    closed: TierRecords,
    m: Metrics,
}

impl Operator for Downsampler {
    fn name(&self) -> &'static str {
        "downsampler"
    }

    fn on_batch(&mut self, records: Vec<BusRecord>) {
        for rec in records {
            let st = self.states.entry(rec.partition).or_default();
            let late_before = st.late_dropped;
            let read = st.on_indexed(&self.spec, &rec.indexed, &mut self.closed);
            self.m.late.inc_by(st.late_dropped - late_before);
            self.m.input.inc_by(read as u64);
            self.next_offsets.insert(rec.partition, rec.offset + 1);
        }
    }

    /// Each partition's watermark moves with its records, so the batch has
    /// already closed its windows; write them.
    async fn on_watermark(&mut self, shutdown: &watch::Receiver<bool>) -> Result<(), ProcessorError> {
        let closed = self.closed.take();
        publish(&self.publishers, closed, &self.m, shutdown).await
    }

    async fn checkpoint(&mut self) -> Result<BTreeMap<i32, i64>, ProcessorError> {
        for (&p, &next_offset) in &self.next_offsets {
            // Every partition with a new offset has state (created by its
            // first record).
            if let Some(state) = self.states.get(&p) {
                self.store.save(p, &Checkpoint { next_offset, state }).await?;
            }
        }
        Ok(std::mem::take(&mut self.next_offsets))
    }
}

/// Writes the closed windows to their tier topics, retrying while Kafka is
/// unavailable: a checkpoint must never get ahead of its outputs.
async fn publish(
    publishers: &[KafkaPublisher],
    closed: Vec<TierOutput>,
    m: &Metrics,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    for (tier, out) in closed.into_iter().enumerate() {
        if out.records.is_empty() {
            continue;
        }
        retry_until_written("writing windows", shutdown, || {
            publishers[tier].write_records(&out.records)
        })
        .await?;
        m.windows.inc_by(out.windows);
    }
    Ok(())
}

struct Metrics {
    input: Counter,
    windows: Counter,
    late: Counter,
}

impl Metrics {
    fn new() -> Self {
        let reg = telemetry::global();
        Metrics {
            input: reg.counter(
                "sluice_downsample_input_samples_total",
                "Samples read by the downsampler.",
                &[],
            ),
            windows: reg.counter(
                "sluice_downsample_windows_total",
                "Closed windows published.",
                &[],
            ),
            late: reg.counter(
                "sluice_downsample_late_samples_total",
                "Samples that arrived after their window was final (kept in the raw table only).",
                &[],
            ),
        }
    }
}
