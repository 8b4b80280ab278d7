//! A consumer that owns a fixed shard of a topic's partitions, yields
//! decoded records, and commits by hand.
//!
//! Partitions are assigned explicitly (`partition % shard_count ==
//! shard_index`, e.g. the StatefulSet ordinal), not by the group's
//! rebalancing: every stage keeps the truth about what it has processed in
//! its own durable output (the sink: segment file names), so a member must
//! resume exactly where its output ends, which explicit assignment with a
//! seek expresses directly. It also keeps the stages independent of broker
//! quirks in group coordination (tansu does not reassign the partitions of
//! a member that died, for instance). The group id is still used, for
//! committing offsets, so lag is visible to standard Kafka tooling.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_model::bus::indexed::IndexedRecord;
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_model::{TimeSeries, bus};
use tracing::{info, warn};

use crate::ProcessorError;
use crate::bounded_close::BoundedClose;

/// librdkafka reports reaching the end of a partition both as a consumer
/// event and as a client error; it is an event here, so the error log
/// skips it (every other client error is logged as rdkafka would).
pub(crate) struct StageContext;

impl ClientContext for StageContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(error, KafkaError::PartitionEOF(_))
            || matches!(error, KafkaError::Global(RDKafkaErrorCode::PartitionEOF));
        if !eof {
            tracing::error!("librdkafka: {}: {}", error, reason);
        }
    }
}

impl ConsumerContext for StageContext {}

/// One consumed record.
#[derive(Debug)]
pub struct BusRecord {
    /// Partition it came from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Decoded series; empty for a poison record (which still counts as
    /// consumed, so offsets move past it) and for indexing consumers.
    pub series: Vec<TimeSeries>,
    /// The record read in place and indexed (fingerprints, samples), for
    /// consumers built [`BusConsumer::indexing`]; empty otherwise and for
    /// poison records.
    pub indexed: IndexedRecord,
}

/// Which partitions an instance owns: those with
/// `partition % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's index, `0..count`.
    pub index: u32,
    /// Number of instances sharing the topic.
    pub count: u32,
}

impl Shard {
    /// Everything: one instance.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// True if this shard owns `partition`.
    pub fn owns(&self, partition: i32) -> bool {
        partition as u32 % self.count.max(1) == self.index
    }
}

/// A consumer on one topic, reading its shard of partitions.
pub struct BusConsumer {
    consumer: BoundedClose<StageContext>,
    topic: String,
    partitions: Vec<i32>,
    poison: Counter,
    records: Counter,
    /// Partitions that reached their end since the last
    /// [`BusConsumer::take_caught_up`] (only with end-of-partition events on).
    caught_up: std::sync::Mutex<Vec<i32>>,
    /// Hand out indexed records instead of decoded series.
    index: bool,
}

impl BusConsumer {
    /// Assigns this shard's partitions of `topic` and positions each at
    /// `resume(partition)` (the offset after the last one already
    /// processed, from the caller's own durable state), else at the
    /// group's committed offset, else at the beginning.
    pub fn assign(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        shard: Shard,
        resume: &dyn Fn(i32) -> Option<i64>,
    ) -> Result<Self, ProcessorError> {
        Self::assign_with(kafka, group, topic, shard, resume, false)
    }

    /// [`BusConsumer::assign`], also noting when a partition has been read
    /// to its end ([`BusConsumer::take_caught_up`]): event-time stages
    /// use it to stop an idle partition from holding back their watermark.
    pub fn assign_reporting_caught_up(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        shard: Shard,
        resume: &dyn Fn(i32) -> Option<i64>,
    ) -> Result<Self, ProcessorError> {
        Self::assign_with(kafka, group, topic, shard, resume, true)
    }

    fn assign_with(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        shard: Shard,
        resume: &dyn Fn(i32) -> Option<i64>,
        report_eof: bool,
    ) -> Result<Self, ProcessorError> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &kafka.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .set("enable.partition.eof", if report_eof { "true" } else { "false" });
        for (k, v) in &kafka.client {
            cfg.set(k, v);
        }
        let consumer: StreamConsumer<StageContext> = cfg
            .create_with_context(StageContext)
            .map_err(|e| ProcessorError::Kafka(format!("creating consumer: {e}")))?;
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .map_err(|e| ProcessorError::Kafka(format!("fetching metadata of {topic}: {e}")))?;
        let partitions: Vec<i32> = md
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .filter(|p| shard.owns(*p))
            .collect();
        if partitions.is_empty() {
            return Err(ProcessorError::Kafka(format!(
                "topic {topic} has no partitions for shard {}/{}",
                shard.index, shard.count
            )));
        }
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(topic, *p);
        }
        // The group's committed offsets are only a fallback (the caller's
        // output is the truth), so a broker that cannot answer is not fatal.
        let committed: BTreeMap<i32, i64> = match consumer.committed_offsets(wanted, Duration::from_secs(10))
        {
            Ok(tpl) => tpl
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                warn!(error = %e, "cannot read committed offsets; resuming from local state or the beginning");
                BTreeMap::new()
            }
        };
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            let offset = match resume(*p).or_else(|| committed.get(p).copied()) {
                Some(o) => Offset::Offset(o),
                None => Offset::Beginning,
            };
            info!(topic, partition = p, ?offset, "assigned");
            tpl.add_partition_offset(topic, *p, offset)
                .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| ProcessorError::Kafka(format!("assigning {topic}: {e}")))?;
        sluice_model::health::global().ready(&sluice_model::health::consumer_check(group, topic));
        let reg = telemetry::global();
        Ok(BusConsumer {
            consumer: BoundedClose::new(consumer, format!("{group} on {topic}")),
            topic: topic.to_string(),
            partitions,
            poison: reg.counter(
                "sluice_consumer_poison_records_total",
                "Records skipped because they could not be decoded.",
                &[("topic", topic), ("group", group)],
            ),
            records: reg.counter(
                "sluice_consumer_records_total",
                "Records consumed.",
                &[("topic", topic), ("group", group)],
            ),
            caught_up: std::sync::Mutex::new(Vec::new()),
            index: false,
        })
    }

    /// Partitions read to their end since the last call (each once per
    /// time it reached the end).
    pub fn take_caught_up(&self) -> Vec<i32> {
        std::mem::take(&mut *self.caught_up.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn note_caught_up(&self, partition: i32) {
        self.caught_up
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(partition);
    }

    /// The partitions this consumer reads.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Records carry an [`IndexedRecord`] instead of decoded series: for
    /// stages that look series up by fingerprint (no allocation per label,
    /// and the read that checks a record is the only one).
    pub fn indexing(mut self) -> Self {
        self.index = true;
        self
    }

    /// Waits up to `wait` for the first record, then takes whatever else is
    /// ready, up to `max` records.
    pub async fn recv_batch(&self, max: usize, wait: Duration) -> Result<Vec<BusRecord>, ProcessorError> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        let msg = loop {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => return Ok(out),
                Ok(Err(KafkaError::PartitionEOF(p))) => self.note_caught_up(p),
                Ok(r) => {
                    break r.map_err(|e| ProcessorError::Kafka(format!("consuming {}: {e}", self.topic)))?;
                }
            }
        };
        out.push(self.decode(&msg));
        while out.len() < max {
            match tokio::time::timeout(Duration::from_millis(1), self.consumer.recv()).await {
                Ok(Ok(m)) => out.push(self.decode(&m)),
                Ok(Err(KafkaError::PartitionEOF(p))) => self.note_caught_up(p),
                Ok(Err(e)) => {
                    warn!(error = %e, "consume error");
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(out)
    }

    fn decode(&self, msg: &rdkafka::message::BorrowedMessage<'_>) -> BusRecord {
        self.records.inc();
        let header = msg.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == bus::FORMAT_HEADER)
                .and_then(|h| h.value)
        });
        let payload = msg.payload().unwrap_or_default();
        let read = if self.index {
            bus::check_format(header)
                .and_then(|()| IndexedRecord::read(payload))
                .map(|r| (Vec::new(), r))
        } else {
            bus::decode(header, payload).map(|s| (s, IndexedRecord::default()))
        };
        let (series, indexed) = match read {
            Ok(r) => r,
            Err(e) => {
                self.poison.inc();
                warn!(
                    topic = %self.topic,
                    partition = msg.partition(),
                    offset = msg.offset(),
                    error = %e,
                    "skipping record that does not decode"
                );
                (Vec::new(), IndexedRecord::default())
            }
        };
        BusRecord {
            partition: msg.partition(),
            offset: msg.offset(),
            series,
            indexed,
        }
    }

    /// Commits, per partition, the offset of the next record to read
    /// (last durable offset + 1), for lag monitoring and as the fallback
    /// resume point. Asynchronous: the stage's own output is the resume
    /// point, so waiting for the broker (which may be down, and then a
    /// synchronous commit blocks indefinitely) buys nothing.
    pub fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), ProcessorError> {
        if next_offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next_offsets {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
        }
        self.consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Async)
            .map_err(|e| ProcessorError::Kafka(format!("committing {next_offsets:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_partitions() {
        let shards = [
            Shard { index: 0, count: 3 },
            Shard { index: 1, count: 3 },
            Shard { index: 2, count: 3 },
        ];
        for p in 0..12 {
            assert_eq!(shards.iter().filter(|s| s.owns(p)).count(), 1);
        }
        assert!((0..12).all(|p| Shard::ALL.owns(p)));
    }
}
