//! Operator state on Kafka: one checkpoint topic per operator, partition p
//! holding the checkpoints of input partition p.
//!
//! Only the newest record of a partition matters, so restoring reads the
//! single record at `high watermark - 1`; the topic can be key-compacted
//! or time-retained without changing that. A checkpoint is written only
//! after every output derived from the records before `next_offset` has
//! been acknowledged, so resuming at `next_offset` with that state
//! reproduces exactly the outputs that might have been lost.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_model::kafka::KafkaConfig;
use tracing::warn;

use crate::ProcessorError;

/// A partition's resume point and the state as of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint<S> {
    /// The first input offset not reflected in `state`.
    pub next_offset: i64,
    /// Operator state after every record before `next_offset`.
    pub state: S,
}

/// Reads and writes the checkpoints of one operator.
pub struct CheckpointStore {
    topic: String,
    producer: FutureProducer,
    client: ClientConfig,
}

impl CheckpointStore {
    /// A store on `topic` (which must exist with the input's partition count).
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, ProcessorError> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &kafka.brokers);
        for (k, v) in &kafka.client {
            client.set(k, v);
        }
        let producer: FutureProducer = client
            .clone()
            .set("enable.idempotence", "true")
            .set("compression.type", "lz4")
            .set("message.max.bytes", "67108864")
            .create()
            .map_err(|e| ProcessorError::Kafka(format!("creating checkpoint producer: {e}")))?;
        Ok(CheckpointStore {
            topic: topic.to_string(),
            producer,
            client,
        })
    }

    /// Writes a checkpoint and waits for the broker's acknowledgement.
    pub async fn save<S: Serialize>(&self, partition: i32, cp: &Checkpoint<S>) -> Result<(), ProcessorError> {
        self.save_value(partition, cp).await
    }

    /// The newest checkpoint of `partition`, if any (see [`CheckpointStore::load_value`]).
    pub fn load<S: DeserializeOwned>(&self, partition: i32) -> Result<Option<Checkpoint<S>>, ProcessorError> {
        self.load_value(partition)
    }

    /// Writes any state record to `partition` and waits for the
    /// acknowledgement (operators whose resume point is not one offset,
    /// such as the rule evaluator reading every partition, keep their
    /// offsets inside the value).
    pub async fn save_value<T: Serialize>(&self, partition: i32, cp: &T) -> Result<(), ProcessorError> {
        let payload =
            serde_json::to_vec(cp).map_err(|e| ProcessorError::Kafka(format!("encoding checkpoint: {e}")))?;
        let key = partition.to_string();
        let rec = FutureRecord::to(&self.topic)
            .partition(partition)
            .key(&key)
            .payload(&payload);
        self.producer
            .send(rec, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(e, _)| {
                ProcessorError::Kafka(format!("writing checkpoint of partition {partition}: {e}"))
            })
    }

    /// The newest state record of `partition`, if any. A record that does not
    /// decode is reported and ignored: the operator then starts that
    /// partition from scratch (from the beginning of the input).
    pub fn load_value<T: DeserializeOwned>(&self, partition: i32) -> Result<Option<T>, ProcessorError> {
        let consumer: BaseConsumer = self
            .client
            .clone()
            .set("group.id", "sluice-checkpoint-reader")
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| ProcessorError::Kafka(format!("creating checkpoint reader: {e}")))?;
        let (low, high) = consumer
            .fetch_watermarks(&self.topic, partition, Duration::from_secs(30))
            .map_err(|e| ProcessorError::Kafka(format!("reading {} offsets: {e}", self.topic)))?;
        if high <= low {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(high - 1))
            .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
        consumer
            .assign(&tpl)
            .map_err(|e| ProcessorError::Kafka(format!("assigning {}: {e}", self.topic)))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let Some(msg) = consumer.poll(Duration::from_millis(500)) else {
                continue;
            };
            let msg = msg.map_err(|e| ProcessorError::Kafka(format!("reading checkpoint: {e}")))?;
            return match serde_json::from_slice(msg.payload().unwrap_or_default()) {
                Ok(cp) => Ok(Some(cp)),
                Err(e) => {
                    warn!(topic = %self.topic, partition, offset = msg.offset(), error = %e,
                        "ignoring checkpoint that does not decode; the partition restarts from the beginning");
                    Ok(None)
                }
            };
        }
        Err(ProcessorError::Kafka(format!(
            "checkpoint of partition {partition} in {} did not arrive within 30 s",
            self.topic
        )))
    }
}
