//! Where the bus is: broker list, topic names and client overrides, shared
//! by every role's config.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `kafka:` section of Sluice's config. `Debug` redacts the client
/// properties that hold secrets ([`is_secret_property`]).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// The producer's memory budget: bytes of records handed to Kafka and
    /// not yet acknowledged, per publisher. While the broker is slow or away
    /// records wait in this buffer; once it is full, writes are refused at
    /// once (remote_write answers 503, scrapes count the samples as dropped)
    /// instead of growing memory. Default 256 MiB.
    pub producer_buffer_bytes: usize,
}

/// 256 MiB: minutes of a busy ingest worker's output at typical rates.
pub const DEFAULT_PRODUCER_BUFFER_BYTES: usize = 256 << 20;

/// Smaller budgets cannot hold one full-size record (512 KiB) and its peers.
pub const MIN_PRODUCER_BUFFER_BYTES: usize = 1 << 20;

/// Whether a librdkafka property holds a secret (`sasl.password`,
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, inline PEM keys...).
pub fn is_secret_property(name: &str) -> bool {
    ["password", "secret", "ssl.key.pem", "sasl.jaas.config"]
        .iter()
        .any(|s| name.contains(s))
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let client: BTreeMap<&str, &str> = self
            .client
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if is_secret_property(k) {
                        "<secret>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topic_prefix)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("client", &client)
            .field("producer_buffer_bytes", &self.producer_buffer_bytes)
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "sluice".into(),
            partitions: 4,
            replication_factor: 1,
            client: BTreeMap::new(),
            producer_buffer_bytes: DEFAULT_PRODUCER_BUFFER_BYTES,
        }
    }
}

impl KafkaConfig {
    /// The raw samples topic.
    pub fn samples_topic(&self) -> String {
        format!("{}.samples", self.topic_prefix)
    }

    /// The compacted metric metadata topic (TYPE/HELP/UNIT).
    pub fn metadata_topic(&self) -> String {
        format!("{}.metadata", self.topic_prefix)
    }

    /// The compacted topic where rule-evaluating shards publish their
    /// groups' status (for `/api/v1/rules` and `/api/v1/alerts`).
    pub fn rules_status_topic(&self) -> String {
        format!("{}.rules_status", self.topic_prefix)
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
        if self.producer_buffer_bytes < MIN_PRODUCER_BUFFER_BYTES {
            errs.push(format!(
                "{path}.producer_buffer_bytes: must be at least {MIN_PRODUCER_BUFFER_BYTES} (1 MiB), got {}",
                self.producer_buffer_bytes
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_client_secrets_and_keeps_the_rest() {
        let mut k = KafkaConfig::default();
        for (name, value) in [
            ("sasl.password", "hunter2"),
            ("ssl.key.password", "hunter3"),
            ("sasl.oauthbearer.client.secret", "hunter4"),
            ("security.protocol", "SASL_SSL"),
        ] {
            k.client.insert(name.into(), value.into());
        }
        let shown = format!("{k:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(
            shown.contains("SASL_SSL") && shown.contains("<secret>"),
            "{shown}"
        );
    }

    #[test]
    fn producer_buffer_defaults_and_minimum() {
        let c = KafkaConfig::default();
        assert_eq!(c.producer_buffer_bytes, 256 << 20);
        assert!(c.validate("kafka").is_empty());
        let small = KafkaConfig {
            producer_buffer_bytes: 1000,
            ..c
        };
        assert_eq!(
            small.validate("kafka"),
            ["kafka.producer_buffer_bytes: must be at least 1048576 (1 MiB), got 1000"]
        );
    }
}
