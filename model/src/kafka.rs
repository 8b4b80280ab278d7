//! Where the bus is: broker list, topic names and client overrides, shared
//! by every role's config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `kafka:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Topics are named `<topic_prefix>.samples`, `<topic_prefix>.alerts`, ...
    pub topic_prefix: String,
    /// Partitions of topics Sluice creates when they are missing.
    pub partitions: i32,
    /// Replication factor of topics Sluice creates.
    pub replication_factor: i32,
    /// Extra librdkafka properties (e.g. `security.protocol`), applied to
    /// every client after Sluice's own defaults.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "sluice".into(),
            partitions: 4,
            replication_factor: 1,
            client: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    /// The raw samples topic.
    pub fn samples_topic(&self) -> String {
        format!("{}.samples", self.topic_prefix)
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.brokers.trim().is_empty() {
            errs.push(format!("{path}.brokers: must not be empty"));
        }
        if self.topic_prefix.is_empty()
            || !self
                .topic_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            errs.push(format!(
                "{path}.topic_prefix: {:?} is not a valid Kafka topic name prefix",
                self.topic_prefix
            ));
        }
        if self.partitions < 1 {
            errs.push(format!(
                "{path}.partitions: must be at least 1, got {}",
                self.partitions
            ));
        }
        if self.replication_factor < 1 {
            errs.push(format!(
                "{path}.replication_factor: must be at least 1, got {}",
                self.replication_factor
            ));
        }
        errs
    }
}
