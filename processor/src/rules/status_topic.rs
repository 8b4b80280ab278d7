//! Publishing the evaluator's group status on `<prefix>.rules_status`
//! (compacted, one record per group: [`sluice_rules::status_record`]), so
//! that a query role in another process can answer `/api/v1/rules` and
//! `/api/v1/alerts`.
//!
//! Written at start (the restored state), after evaluation rounds (at most
//! once per [`MIN_SPACING`]: a replay after a restart evaluates many rounds
//! a second) and at every checkpoint (the heartbeat: with no new samples
//! no group evaluates, but the shard is alive and its status stands).
//! Best effort, never holding up evaluation: records are handed to the
//! producer without waiting; a failed delivery is counted and logged, and
//! the next write covers it. Each record expires `status_ttl` after it was
//! written, so a group whose shard stopped disappears from the query
//! role's answers by itself.

use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_model::clock::{SystemClock, TimeProvider};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_rules::api_json::group_json;
use sluice_rules::status::{RulesStatus, SharedRulesStatus};
use sluice_rules::status_record::{StatusRecord, VERSION, key};
use tracing::warn;

use crate::ProcessorError;

/// The least time between writes after evaluation rounds.
const MIN_SPACING: Duration = Duration::from_secs(1);

/// Who publishes, and for how long a record holds.
pub(crate) struct StatusTopic {
    topic: String,
    producer: FutureProducer,
    shard_index: u32,
    shard_count: u32,
    ttl_ms: i64,
    /// Per owned group (the evaluator's order): its position among all
    /// loaded groups.
    orders: Vec<u64>,
    /// Evaluated since the last write.
    changed: bool,
    last_write: Instant,
    published: Counter,
    failed: Counter,
}

impl StatusTopic {
    pub(crate) fn new(
        kafka: &KafkaConfig,
        shard: (u32, u32),
        ttl: Duration,
        orders: Vec<u64>,
    ) -> Result<Self, ProcessorError> {
        let mut client = sluice_ingest::topics::client_config(kafka);
        let producer = client
            // Records of one group stay in order (the newest wins).
            .set("enable.idempotence", "true")
            .create()
            .map_err(|e| ProcessorError::Kafka(format!("creating rules status producer: {e}")))?;
        let reg = telemetry::global();
        Ok(StatusTopic {
            topic: kafka.rules_status_topic(),
            producer,
            shard_index: shard.0,
            shard_count: shard.1,
            ttl_ms: ttl.as_millis() as i64,
            orders,
            changed: false,
            last_write: Instant::now(),
            published: reg.counter(
                "sluice_rules_status_records_total",
                "Rule group status records written to the rules-status topic.",
                &[],
            ),
            failed: reg.counter(
                "sluice_rules_status_failures_total",
                "Rule group status records that could not be written (the next publish covers them).",
                &[],
            ),
        })
    }

    /// Notes that the status changed (an evaluation round ran).
    pub(crate) fn changed(&mut self) {
        self.changed = true;
    }

    /// Writes `status` if it changed and the last write is [`MIN_SPACING`] ago.
    pub(crate) fn publish_if_due(&mut self, status: &SharedRulesStatus) {
        if self.changed && self.last_write.elapsed() >= MIN_SPACING {
            self.publish(status);
        }
    }

    /// Writes every group of `status` (the evaluator's groups, in its
    /// order) now, without waiting for the broker.
    pub(crate) fn publish(&mut self, status: &SharedRulesStatus) {
        self.write(&status.read().unwrap_or_else(|e| e.into_inner()));
        self.changed = false;
        self.last_write = Instant::now();
    }

    /// Waits (up to 5 s) until the records handed over are delivered.
    pub(crate) async fn flush(&self) {
        let producer = self.producer.clone();
        let _ = tokio::task::spawn_blocking(move || {
            use rdkafka::producer::Producer;
            producer.flush(Duration::from_secs(5))
        })
        .await;
    }

    fn write(&self, status: &RulesStatus) {
        let now = SystemClock.now_ms();
        let mut deliveries = Vec::with_capacity(status.groups.len());
        for (g, order) in status.groups.iter().zip(&self.orders) {
            let record = StatusRecord {
                version: VERSION,
                shard_index: self.shard_index,
                shard_count: self.shard_count,
                order: *order,
                published_at_ms: now,
                expires_at_ms: now + self.ttl_ms,
                group: group_json(g),
            };
            let k = key(&g.file, &g.name);
            let payload = record.encode();
            match self
                .producer
                .send_result(FutureRecord::to(&self.topic).key(&k).payload(&payload))
            {
                Ok(d) => deliveries.push((k, d)),
                Err((e, _)) => {
                    self.failed.inc();
                    warn!(error = %e, group = %g.name, "rules status record not queued");
                }
            }
        }
        let (published, failed) = (self.published.clone(), self.failed.clone());
        tokio::spawn(async move {
            for (k, d) in deliveries {
                match d.await {
                    Ok(Ok(_)) => published.inc(),
                    Ok(Err((e, _))) => {
                        failed.inc();
                        warn!(error = %e, group = %k, "rules status record not written");
                    }
                    Err(_) => failed.inc(),
                }
            }
        });
    }
}
