//! Topic administration: create Sluice's topics when missing.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use sluice_model::kafka::KafkaConfig;

use crate::IngestError;

/// A librdkafka config with the broker list and the user's overrides.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.brokers);
    for (k, v) in &kafka.client {
        c.set(k, v);
    }
    c
}

/// Creates each topic with the configured partitions and replication if it
/// does not exist yet; an existing topic is left as it is.
pub async fn ensure_topics(kafka: &KafkaConfig, topics: &[String]) -> Result<(), IngestError> {
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                kafka.partitions,
                TopicReplication::Fixed(kafka.replication_factor),
            )
        })
        .collect();
    create(kafka, new).await
}

/// Creates the metric metadata topic if missing: one partition (it holds
/// one small record per distinct metric family entry, read whole by every
/// query process) and `cleanup.policy=compact`, so the broker keeps the
/// newest record of each key and the topic stays as small as the set of
/// entries.
pub async fn ensure_metadata_topic(kafka: &KafkaConfig) -> Result<(), IngestError> {
    ensure_compacted(kafka, kafka.metadata_topic()).await
}

/// Creates the rules-status topic if missing: one partition (one small
/// record per rule group, read whole by every query process) and
/// `cleanup.policy=compact`, so the broker keeps each group's newest status.
pub async fn ensure_rules_status_topic(kafka: &KafkaConfig) -> Result<(), IngestError> {
    ensure_compacted(kafka, kafka.rules_status_topic()).await
}

async fn ensure_compacted(kafka: &KafkaConfig, topic: String) -> Result<(), IngestError> {
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(kafka.replication_factor))
        .set("cleanup.policy", "compact");
    create(kafka, vec![new]).await
}

async fn create(kafka: &KafkaConfig, new: Vec<NewTopic<'_>>) -> Result<(), IngestError> {
    let topics: Vec<&str> = new.iter().map(|t| t.name).collect();
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .create()
        .map_err(|e| IngestError::Kafka(format!("creating admin client: {e}")))?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|e| IngestError::Kafka(format!("creating topics {topics:?}: {e}")))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(IngestError::Kafka(format!("creating topic {topic}: {code}")));
            }
        }
    }
    Ok(())
}
