//! Follows the metadata topic into a [`MetadataStore`] (see
//! [`crate::topic_feed`]: every query process reads the whole compacted
//! topic from the beginning and then follows it).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Headers, Message};
use sluice_model::bus::{self, metadata};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::watch;
use tracing::warn;

use super::MetadataStore;
use crate::topic_feed::{follow, now_ms};

/// How often entries past their time are dropped from memory.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Reads `kafka`'s metadata topic into `store` until `shutdown` turns true.
pub async fn run_metadata_feed(
    kafka: KafkaConfig,
    store: Arc<MetadataStore>,
    shutdown: watch::Receiver<bool>,
) {
    let topic = kafka.metadata_topic();
    let invalid = telemetry::global().counter(
        "sluice_query_metadata_invalid_records_total",
        "Records of the metadata topic that could not be read (skipped).",
        &[],
    );
    follow(
        kafka,
        topic,
        "sluice-query-metadata",
        PRUNE_EVERY,
        |m| apply(&store, m, &invalid),
        || store.prune(now_ms()),
        shutdown,
    )
    .await;
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
