//! The Kafka side of ingest: series in, bus records out.
//!
//! Series are grouped by partition (`hash(labels) % partitions`, so each
//! series always lands on the same partition and keeps its order) and each
//! group becomes one record, split only to stay under the broker's message
//! size. The producer is idempotent, so librdkafka's retries never duplicate
//! or reorder a record.
//!
//! Memory is bounded by a [`budget::Budget`] of bytes handed to librdkafka
//! and not yet reported back: a write that does not fit is refused at once
//! and whole ([`IngestError::Backpressure`]), so while the broker is away the
//! callers push back (remote_write answers 503, scrapes count dropped
//! samples) instead of queueing without end.

mod batch;
mod budget;
mod context;
mod metadata;
#[cfg(test)]
mod mock_tests;
mod poller;
mod producer_config;
mod series_list;

pub use batch::{ListedSamples, SeriesBatch, encode_batch_records};
pub use budget::{Budget, Full};
pub use metadata::MetadataCache;
pub use series_list::SeriesList;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::util::Timeout;
use sluice_model::bus::PbMetricMetadata;
use sluice_model::clock::TimeProvider;
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_model::{TimeSeries, bus, partition_for};
use tracing::warn;

use crate::IngestError;
use context::{Pending, PublishContext};
use poller::PolledProducer;
use producer_config::producer_config;

/// Keeps records well under Kafka's default 1 MiB `message.max.bytes`.
/// Producers that encode their own records ([`KafkaPublisher::submit_records`])
/// split them at this size too.
pub const MAX_RECORD_BYTES: usize = 512 * 1024;

/// What one queued record costs beyond its value: librdkafka's message
/// bookkeeping and headers, roughly. Counted so that many tiny records
/// (a push of one series) cannot hide behind a byte budget.
const RECORD_OVERHEAD: usize = 256;

/// Resolves when Kafka acknowledged every record of a write, or with the
/// first failure. Dropping it does not cancel anything: the records stay
/// queued and are delivered all the same.
pub type Delivery = Pin<Box<dyn Future<Output = Result<(), IngestError>> + Send>>;

/// Something scraped series are handed to.
pub trait SampleWriter: Send + Sync + 'static {
    /// Queues the series and returns at once: `Err` (for Kafka
    /// [`IngestError::Backpressure`] when the producer's budget is full)
    /// means none of them was queued; `Ok` gives the acknowledgement to
    /// wait for.
    fn submit(&self, series: Vec<TimeSeries>) -> Result<Delivery, IngestError>;

    /// [`Self::submit`] for a scrape's batch; a writer that can write
    /// encoded series as they are overrides it.
    fn submit_batch(&self, batch: SeriesBatch) -> Result<Delivery, IngestError> {
        self.submit(batch.into_series())
    }

    /// Queues metric metadata (TYPE/HELP/UNIT of metric families) for the
    /// metadata topic, like [`Self::submit`]. A writer may leave out
    /// entries it wrote recently (the Kafka publisher writes each distinct
    /// entry once per refresh interval, see [`MetadataCache`]).
    fn submit_metadata(&self, metadata: Vec<PbMetricMetadata>) -> Result<Delivery, IngestError>;

    /// Writes the series durably (for Kafka: acknowledged by the broker).
    fn write(&self, series: Vec<TimeSeries>) -> impl Future<Output = Result<(), IngestError>> + Send {
        let submitted = self.submit(series);
        async move { submitted?.await }
    }
}

/// What a publisher does with records while Kafka cannot take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Keeps them (within the budget) until the broker takes them: ingest,
    /// whose samples exist nowhere else once accepted.
    UntilDelivered,
    /// Fails them after this long: stream stages, whose input stays on
    /// Kafka and is processed again after a failed write.
    For(Duration),
}

/// Publishes series to `<prefix>.samples` (and, when given one, metric
/// metadata to the metadata topic, through the same producer and budget).
pub struct KafkaPublisher {
    producer: PolledProducer<PublishContext>,
    topic: String,
    partitions: i32,
    refused: Counter,
    metadata: Option<MetadataTopic>,
}

/// Where metadata goes, and what was written there recently.
struct MetadataTopic {
    topic: String,
    cache: Arc<MetadataCache>,
}

impl KafkaPublisher {
    /// [`Self::connect_with`] failing records after 120 s, for the stream
    /// stages (they retry from their own input).
    pub async fn connect(kafka: &KafkaConfig, topic: String) -> Result<Self, IngestError> {
        Self::connect_with(kafka, topic, Hold::For(Duration::from_secs(120))).await
    }

    /// Connects and learns the topic's real partition count from the broker
    /// (which wins over the config if the topic already existed).
    pub async fn connect_with(kafka: &KafkaConfig, topic: String, hold: Hold) -> Result<Self, IngestError> {
        let budget = Budget::new(kafka.producer_buffer_bytes);
        let producer: BaseProducer<PublishContext> = producer_config(kafka, hold)
            .create_with_context(PublishContext::new(&topic, budget))
            .map_err(|e| IngestError::Kafka(format!("creating producer: {e}")))?;
        let producer = PolledProducer::new(producer)
            .map_err(|e| IngestError::Kafka(format!("starting the producer's polling thread: {e}")))?;
        let partitions = {
            let p = producer.shared();
            let t = topic.clone();
            tokio::task::spawn_blocking(move || {
                p.client()
                    .fetch_metadata(Some(&t), Duration::from_secs(30))
                    .map(|m| m.topics().first().map(|t| t.partitions().len()).unwrap_or(0))
            })
            .await
            .map_err(|e| IngestError::Kafka(e.to_string()))?
            .map_err(|e| IngestError::Kafka(format!("fetching metadata of {topic}: {e}")))?
        };
        if partitions == 0 {
            return Err(IngestError::Kafka(format!(
                "topic {topic} has no partitions (missing?)"
            )));
        }
        Ok(KafkaPublisher {
            producer,
            partitions: partitions as i32,
            refused: telemetry::global().counter(
                "sluice_publish_refused_samples_total",
                "Samples refused at once because the producer's buffer was full.",
                &[("topic", &topic)],
            ),
            topic,
            metadata: None,
        })
    }

    /// Also publishes metric metadata ([`SampleWriter::submit_metadata`])
    /// to `topic`, a compacted topic keyed by entry.
    pub fn with_metadata_topic(mut self, topic: String) -> Self {
        self.metadata = Some(MetadataTopic {
            topic,
            cache: Arc::new(MetadataCache::new(bus::metadata::REFRESH_MS)),
        });
        self
    }

    /// Partition count of the topic.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// The memory budget (bytes in flight, peak, limit).
    pub fn budget(&self) -> &Budget {
        &self.producer.context().budget
    }

    /// Waits until every queued record is delivered (used on shutdown);
    /// what is still queued after `timeout` is lost, and said so.
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(Timeout::After(timeout));
        let left = self.budget().in_flight();
        if left > 0 {
            warn!(
                bytes = left,
                "accepted records not delivered at shutdown: Kafka did not take them in time"
            );
        }
    }
}

/// Splits per-partition groups into encoded record values under the size cap.
pub fn encode_records(series: Vec<TimeSeries>, partitions: i32) -> Vec<(i32, Vec<u8>, usize)> {
    let mut by_partition: BTreeMap<i32, Vec<TimeSeries>> = BTreeMap::new();
    for s in series {
        by_partition
            .entry(partition_for(&s.labels, partitions))
            .or_default()
            .push(s);
    }
    let mut out = Vec::new();
    for (p, group) in by_partition {
        let mut chunk: Vec<TimeSeries> = Vec::new();
        let mut est = 0usize;
        for s in group {
            // Rough size: labels plus ~10 bytes per sample.
            let size = s
                .labels
                .iter()
                .map(|l| l.name.len() + l.value.len() + 4)
                .sum::<usize>()
                + s.samples.len() * 12
                + 8;
            if est + size > MAX_RECORD_BYTES && !chunk.is_empty() {
                let n = chunk.iter().map(|s| s.samples.len()).sum();
                out.push((p, bus::encode(&chunk), n));
                chunk.clear();
                est = 0;
            }
            est += size;
            chunk.push(s);
        }
        if !chunk.is_empty() {
            let n = chunk.iter().map(|s| s.samples.len()).sum();
            out.push((p, bus::encode(&chunk), n));
        }
    }
    out
}

impl SampleWriter for KafkaPublisher {
    fn submit(&self, series: Vec<TimeSeries>) -> Result<Delivery, IngestError> {
        self.submit_records(&encode_records(series, self.partitions))
    }

    fn submit_batch(&self, mut batch: SeriesBatch) -> Result<Delivery, IngestError> {
        let listed = batch.listed.take();
        let rest = encode_batch_records(&batch, self.partitions);
        match listed {
            // The list's records are written over in place where they can
            // be (see `SeriesList`), with the rest appended.
            Some(l) => l.list.with_records(&l.samples, self.partitions, rest, |records| {
                self.submit_records(records)
            }),
            None => self.submit_records(&rest),
        }
    }

    fn submit_metadata(&self, metadata: Vec<PbMetricMetadata>) -> Result<Delivery, IngestError> {
        let Some(out) = &self.metadata else {
            return Err(IngestError::Kafka(format!(
                "the publisher of {} has no metadata topic",
                self.topic
            )));
        };
        let now_ms = sluice_model::clock::SystemClock.now_ms();
        let due = out.cache.take_due(metadata, now_ms);
        if due.is_empty() {
            return Ok(Box::pin(async { Ok(()) }));
        }
        let values: Vec<Vec<u8>> = due.iter().map(|(_, m)| bus::metadata::encode(m)).collect();
        let sizes: Vec<usize> = due
            .iter()
            .zip(&values)
            .map(|((k, _), v)| k.len() + v.len() + RECORD_OVERHEAD)
            .collect();
        let ctx = self.producer.context();
        let reservations = match ctx.budget.try_reserve(&sizes) {
            Ok(r) => r,
            Err(full) => {
                out.cache.forget(due.iter().map(|(k, _)| k.as_str()));
                return Err(IngestError::Backpressure(full.to_string()));
            }
        };
        ctx.gauges.update(&ctx.budget);
        let mut waits = Vec::with_capacity(due.len());
        let mut refused = None;
        for (((k, _), value), reservation) in due.iter().zip(&values).zip(reservations) {
            let (done, wait) = oneshot::channel();
            let pending = Box::new(Pending {
                reservation,
                samples: 0,
                bytes: value.len(),
                metadata: true,
                done,
            });
            let headers = OwnedHeaders::new().insert(Header {
                key: bus::FORMAT_HEADER,
                value: Some(bus::metadata::METADATA_FORMAT_V1),
            });
            // The key picks the partition (librdkafka's consistent hash), so
            // every write of an entry lands where compaction can fold it;
            // the timestamp says when the entry was last seen.
            let rec = BaseRecord::<String, Vec<u8>, Box<Pending>>::with_opaque_to(&out.topic, pending)
                .key(k)
                .payload(value)
                .timestamp(now_ms)
                .headers(headers);
            match self.producer.send(rec) {
                Ok(()) => waits.push((k.clone(), wait)),
                Err((e, _rec)) => {
                    out.cache.forget([k.as_str()]);
                    refused.get_or_insert(e);
                }
            }
        }
        ctx.gauges.update(&ctx.budget);
        if let Some(e) = refused {
            return Err(IngestError::Kafka(format!("producing to {}: {e}", out.topic)));
        }
        let (topic, cache) = (out.topic.clone(), out.cache.clone());
        Ok(Box::pin(async move {
            let mut first_err = None;
            for (k, wait) in waits {
                let outcome = wait.await.unwrap_or_else(|_| Err("producer closed".to_string()));
                if let Err(e) = outcome {
                    // Not written: the next offer writes it again.
                    cache.forget([k.as_str()]);
                    first_err.get_or_insert(e);
                }
            }
            match first_err {
                Some(e) => Err(IngestError::Kafka(format!("producing to {topic}: {e}"))),
                None => Ok(()),
            }
        }))
    }
}

impl KafkaPublisher {
    /// [`SampleWriter::submit`] for records already encoded by the caller:
    /// `(partition, value, samples)`, each value a `WriteRequest`
    /// ([`sluice_model::bus::put_series`]) of series that belong to that
    /// partition, under [`MAX_RECORD_BYTES`]. Borrowed, so a caller that
    /// retries a failed write submits the same bytes again without copying
    /// them first (librdkafka copies each value as it queues it).
    pub fn submit_records(&self, records: &[(i32, Vec<u8>, usize)]) -> Result<Delivery, IngestError> {
        let sizes: Vec<usize> = records
            .iter()
            .map(|(_, v, _)| v.len() + RECORD_OVERHEAD)
            .collect();
        let ctx = self.producer.context();
        let reservations = ctx.budget.try_reserve(&sizes).map_err(|full| {
            self.refused
                .inc_by(records.iter().map(|(_, _, n)| *n as u64).sum());
            IngestError::Backpressure(full.to_string())
        })?;
        ctx.gauges.update(&ctx.budget);
        let mut waits = Vec::with_capacity(records.len());
        let mut refused = None;
        for ((p, value, n), reservation) in records.iter().zip(reservations) {
            let (done, wait) = oneshot::channel();
            let pending = Box::new(Pending {
                reservation,
                samples: *n,
                bytes: value.len(),
                metadata: false,
                done,
            });
            let headers = OwnedHeaders::new().insert(Header {
                key: bus::FORMAT_HEADER,
                value: Some(bus::FORMAT_V1),
            });
            let rec = BaseRecord::<(), Vec<u8>, Box<Pending>>::with_opaque_to(&self.topic, pending)
                .partition(*p)
                .payload(value)
                .headers(headers);
            match self.producer.send(rec) {
                Ok(()) => waits.push(wait),
                // The returned record holds its reservation: dropping it
                // gives the bytes back.
                Err((e, _rec)) => {
                    refused.get_or_insert(e);
                }
            }
        }
        ctx.gauges.update(&ctx.budget);
        if let Some(e) = refused {
            // Records queued before the refusal are still delivered; a
            // retry then writes them twice, which the sink drops (a series'
            // samples are stored only when newer than its last stored one).
            return Err(IngestError::Kafka(format!("producing to {}: {e}", self.topic)));
        }
        let topic = self.topic.clone();
        Ok(Box::pin(async move {
            let mut first_err = None;
            for wait in waits {
                let outcome = wait.await.unwrap_or_else(|_| Err("producer closed".to_string()));
                if let Err(e) = outcome {
                    first_err.get_or_insert(e);
                }
            }
            match first_err {
                Some(e) => Err(IngestError::Kafka(format!("producing to {topic}: {e}"))),
                None => Ok(()),
            }
        }))
    }

    /// [`KafkaPublisher::submit_records`], waiting for the acknowledgement.
    pub async fn write_records(&self, records: &[(i32, Vec<u8>, usize)]) -> Result<(), IngestError> {
        self.submit_records(records)?.await
    }
}
