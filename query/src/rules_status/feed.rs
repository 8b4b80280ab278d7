//! Follows `<prefix>.rules_status` into a [`RulesStatusStore`] (see
//! [`crate::topic_feed`]: every query process reads the whole compacted
//! topic from the beginning and then follows it).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::Message;
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_rules::status_record::StatusRecord;
use tokio::sync::watch;
use tracing::warn;

use super::RulesStatusStore;
use crate::topic_feed::{follow, now_ms};

/// How often expired records are dropped from memory.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Reads `kafka`'s rules-status topic into `store` until `shutdown` turns true.
pub async fn run_rules_status_feed(
    kafka: KafkaConfig,
    store: Arc<RulesStatusStore>,
    shutdown: watch::Receiver<bool>,
) {
    let topic = kafka.rules_status_topic();
    let invalid = telemetry::global().counter(
        "sluice_query_rules_status_invalid_records_total",
        "Records of the rules-status topic that could not be read (skipped).",
        &[],
    );
    follow(
        kafka,
        topic,
        "sluice-query-rules-status",
        PRUNE_EVERY,
        |m| apply(&store, m, &invalid),
        || store.prune(now_ms()),
        shutdown,
    )
    .await;
}

/// Applies one record; a record that cannot be read is counted and
/// skipped (the group keeps its previous status, if any).
fn apply(store: &RulesStatusStore, m: &impl Message, invalid: &Counter) {
    let Some(key) = m.key().and_then(|k| std::str::from_utf8(k).ok()) else {
        invalid.inc();
        warn!(
            offset = m.offset(),
            "rules status record without a UTF-8 key skipped"
        );
        return;
    };
    let Some(value) = m.payload() else {
        store.apply(key, None);
        return;
    };
    match StatusRecord::decode(key, value) {
        Ok(r) => store.apply(key, Some(r)),
        Err(e) => {
            invalid.inc();
            warn!(error = %e, key, offset = m.offset(), "rules status record skipped");
        }
    }
}
