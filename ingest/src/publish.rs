//! The Kafka side of ingest: series in, bus records out.
//!
//! Series are grouped by partition (`hash(labels) % partitions`, so each
//! series always lands on the same partition and keeps its order) and each
//! group becomes one record, split only to stay under the broker's message
//! size. The producer is idempotent, so librdkafka's retries never duplicate
//! or reorder a record.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_model::{TimeSeries, bus, partition_for};

use crate::IngestError;
use crate::topics::client_config;

/// Keeps records well under Kafka's default 1 MiB `message.max.bytes`.
const MAX_RECORD_BYTES: usize = 512 * 1024;

/// Something scraped series are handed to.
pub trait SampleWriter: Send + Sync + 'static {
    /// Writes the series durably (for Kafka: acknowledged by the broker).
    fn write(&self, series: Vec<TimeSeries>) -> impl Future<Output = Result<(), IngestError>> + Send;
}

/// Publishes series to `<prefix>.samples`.
pub struct KafkaPublisher {
    producer: FutureProducer,
    topic: String,
    partitions: i32,
    records: Counter,
    samples: Counter,
    bytes: Counter,
}

impl KafkaPublisher {
    /// Connects and learns the topic's real partition count from the broker
    /// (which wins over the config if the topic already existed).
    pub async fn connect(kafka: &KafkaConfig, topic: String) -> Result<Self, IngestError> {
        let mut cfg = client_config(kafka);
        if cfg.get("client.id").is_none() {
            cfg.set("client.id", "sluice-ingest");
        }
        let producer: FutureProducer = cfg
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "20")
            .set("message.timeout.ms", "120000")
            .create()
            .map_err(|e| IngestError::Kafka(format!("creating producer: {e}")))?;
        let partitions = {
            let p = producer.clone();
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
        let reg = telemetry::global();
        Ok(KafkaPublisher {
            producer,
            partitions: partitions as i32,
            records: reg.counter(
                "sluice_publish_records_total",
                "Records produced to the samples topic.",
                &[("topic", &topic)],
            ),
            samples: reg.counter(
                "sluice_publish_samples_total",
                "Samples acknowledged by Kafka.",
                &[("topic", &topic)],
            ),
            bytes: reg.counter(
                "sluice_publish_bytes_total",
                "Record value bytes acknowledged by Kafka.",
                &[("topic", &topic)],
            ),
            topic,
        })
    }

    /// Partition count of the topic.
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    /// Waits until every queued record is delivered (used on shutdown).
    pub fn flush(&self, timeout: Duration) {
        let _ = self.producer.flush(timeout);
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
    async fn write(&self, series: Vec<TimeSeries>) -> Result<(), IngestError> {
        let records = encode_records(series, self.partitions);
        let sends = records.iter().map(|(p, value, _)| {
            let headers = OwnedHeaders::new().insert(Header {
                key: bus::FORMAT_HEADER,
                value: Some(bus::FORMAT_V1),
            });
            let rec: FutureRecord<'_, (), Vec<u8>> = FutureRecord::to(&self.topic)
                .partition(*p)
                .payload(value)
                .headers(headers);
            self.producer.send(rec, Duration::from_secs(5))
        });
        let results = join_all(sends).await;
        let mut first_err = None;
        for (r, (_, value, n)) in results.into_iter().zip(&records) {
            match r {
                Ok(_) => {
                    self.records.inc();
                    self.samples.inc_by(*n as u64);
                    self.bytes.inc_by(value.len() as u64);
                }
                Err((e, _)) => {
                    first_err.get_or_insert(IngestError::Kafka(format!("producing to {}: {e}", self.topic)));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
