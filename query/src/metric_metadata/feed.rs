//! Follows the metadata topic into a [`MetadataStore`].
//!
//! Every query process reads the whole compacted topic from the beginning
//! (no consumer group position: each process needs all of it) and then
//! follows it. Metadata is an aid, not an answer to a query: while the
//! broker is away the store keeps what it has, the endpoint answers from
//! it, and the feed retries; nothing here holds up the query role.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_model::bus::{self, metadata};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::watch;
use tracing::{info, warn};

use super::MetadataStore;

/// How long to wait before trying again when the topic is missing or the
/// broker does not answer.
const RETRY: Duration = Duration::from_secs(5);

/// How often entries past their time are dropped from memory.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Reads `kafka`'s metadata topic into `store` until `shutdown` turns true.
pub async fn run_metadata_feed(
    kafka: KafkaConfig,
    store: Arc<MetadataStore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let topic = kafka.metadata_topic();
    let invalid = telemetry::global().counter(
        "sluice_query_metadata_invalid_records_total",
        "Records of the metadata topic that could not be read (skipped).",
        &[],
    );
    let mut attempts = 0u32;
    let consumer = loop {
        // librdkafka's metadata request blocks: not on the runtime's threads.
        let (k, t) = (kafka.clone(), topic.clone());
        let attempt = tokio::task::spawn_blocking(move || assign(&k, &t))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match attempt {
            Ok(c) => break c,
            Err(e) => {
                // A query process may well run before the ingest role made
                // the topic: say so once a minute, not every attempt.
                if attempts.is_multiple_of(12) {
                    warn!(error = %e, topic, "metadata feed not started yet; retrying every 5s");
                }
                attempts = attempts.wrapping_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    };
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        let failed = tokio::select! {
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    apply(&store, &m, &invalid);
                    false
                }
                Err(e) => {
                    warn!(error = %e, topic, "reading the metadata topic");
                    true
                }
            },
            _ = prune.tick() => {
                store.prune(now_ms());
                false
            }
            _ = shutdown.wait_for(|s| *s) => return,
        };
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }
}

fn now_ms() -> i64 {
    use sluice_model::clock::TimeProvider;
    sluice_model::clock::SystemClock.now_ms()
}

/// A consumer on every partition of `topic`, at the beginning.
fn assign(kafka: &KafkaConfig, topic: &str) -> Result<StreamConsumer, String> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers)
        // Required by librdkafka for a consumer; never joined nor committed
        // (partitions are assigned, positions are not kept).
        .set("group.id", "sluice-query-metadata")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "500");
    for (k, v) in &kafka.client {
        cfg.set(k, v);
    }
    let consumer: StreamConsumer = cfg.create().map_err(|e| format!("creating consumer: {e}"))?;
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("fetching metadata of {topic}: {e}"))?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} does not exist yet"));
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| format!("assigning {topic}: {e}"))?;
    info!(
        topic,
        partitions = partitions.len(),
        "metadata feed reading from the beginning"
    );
    Ok(consumer)
}

/// Applies one record; a record that cannot be read is counted and skipped.
fn apply(store: &MetadataStore, m: &impl Message, invalid: &Counter) {
    let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        invalid.inc();
        warn!(offset = m.offset(), "metadata record without a UTF-8 key skipped");
        return;
    };
    let written_ms = m.timestamp().to_millis().unwrap_or_else(now_ms);
    let Some(value) = m.payload() else {
        store.apply(key, None, written_ms);
        return;
    };
    let header = m.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == bus::FORMAT_HEADER)
            .and_then(|h| h.value)
    });
    match metadata::decode(header, value) {
        Ok(entry) => store.apply(key, Some(entry), written_ms),
        Err(e) => {
            invalid.inc();
            warn!(error = %e, key, offset = m.offset(), "metadata record skipped");
        }
    }
}
