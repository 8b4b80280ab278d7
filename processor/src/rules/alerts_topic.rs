//! Writing alert records to `<prefix>.alerts`, and reading back what was
//! already written after a checkpoint (so a restart does not publish a
//! state change twice).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_model::kafka::KafkaConfig;
use tracing::warn;

use super::alert_record::AlertRecord;
use crate::ProcessorError;

/// What identifies a published record (see [`AlertRecord::identity`]).
pub(crate) type RecordIdentity = (String, String, String);

/// The alerts topic.
pub(crate) struct AlertsTopic {
    topic: String,
    producer: FutureProducer,
    client: ClientConfig,
}

impl AlertsTopic {
    pub(crate) fn new(kafka: &KafkaConfig, topic: String) -> Result<Self, ProcessorError> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &kafka.brokers);
        for (k, v) in &kafka.client {
            client.set(k, v);
        }
        let producer = client
            .clone()
            .set("enable.idempotence", "true")
            .create()
            .map_err(|e| ProcessorError::Kafka(format!("creating alerts producer: {e}")))?;
        Ok(AlertsTopic {
            topic,
            producer,
            client,
        })
    }

    /// Publishes records (keyed by fingerprint), in order, each
    /// acknowledged before returning.
    pub(crate) async fn publish(&self, records: &[AlertRecord]) -> Result<(), ProcessorError> {
        let sends = records.iter().map(|r| async move {
            let payload = serde_json::to_vec(r).map_err(|e| ProcessorError::Kafka(e.to_string()))?;
            self.producer
                .send(
                    FutureRecord::to(&self.topic)
                        .key(&r.fingerprint)
                        .payload(&payload),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| ProcessorError::Kafka(format!("writing alert record: {e}")))
        });
        futures::future::try_join_all(sends).await.map(|_| ())
    }

    fn reader(&self) -> Result<BaseConsumer, ProcessorError> {
        self.client
            .clone()
            .set("group.id", "sluice-alerts-reader")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| ProcessorError::Kafka(format!("creating alerts reader: {e}")))
    }

    /// The end offset of every partition (the next offset to be written).
    pub(crate) fn end_offsets(&self) -> Result<BTreeMap<i32, i64>, ProcessorError> {
        let reader = self.reader()?;
        let md = reader
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .map_err(|e| ProcessorError::Kafka(format!("metadata of {}: {e}", self.topic)))?;
        let mut out = BTreeMap::new();
        for p in md.topics().iter().flat_map(|t| t.partitions()) {
            let (_, high) = reader
                .fetch_watermarks(&self.topic, p.id(), Duration::from_secs(30))
                .map_err(|e| ProcessorError::Kafka(format!("offsets of {}: {e}", self.topic)))?;
            out.insert(p.id(), high);
        }
        Ok(out)
    }

    /// Identities of the records of `groups` written from `from` (offsets
    /// per partition) to the current end.
    pub(crate) fn published_since(
        &self,
        from: &BTreeMap<i32, i64>,
        groups: &HashSet<String>,
    ) -> Result<HashSet<RecordIdentity>, ProcessorError> {
        let end = self.end_offsets()?;
        let reader = self.reader()?;
        let mut tpl = TopicPartitionList::new();
        let mut pending: BTreeMap<i32, i64> = BTreeMap::new();
        for (&p, &high) in &end {
            let start = from.get(&p).copied().unwrap_or(0);
            if start < high {
                tpl.add_partition_offset(&self.topic, p, Offset::Offset(start))
                    .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
                pending.insert(p, high);
            }
        }
        let mut seen = HashSet::new();
        if pending.is_empty() {
            return Ok(seen);
        }
        reader
            .assign(&tpl)
            .map_err(|e| ProcessorError::Kafka(format!("assigning {}: {e}", self.topic)))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(ProcessorError::Kafka(format!(
                    "reading back {} did not finish within 60 s",
                    self.topic
                )));
            }
            let Some(msg) = reader.poll(Duration::from_millis(500)) else {
                continue;
            };
            let msg = msg.map_err(|e| ProcessorError::Kafka(format!("reading {}: {e}", self.topic)))?;
            match serde_json::from_slice::<AlertRecord>(msg.payload().unwrap_or_default()) {
                Ok(r) if groups.contains(&format!("{};{}", r.file, r.group)) => {
                    seen.insert(r.identity());
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(topic = %self.topic, partition = msg.partition(), offset = msg.offset(), error = %e, "skipping alert record that does not decode")
                }
            }
            if pending
                .get(&msg.partition())
                .is_some_and(|high| msg.offset() + 1 >= *high)
            {
                pending.remove(&msg.partition());
            }
        }
        Ok(seen)
    }
}
