//! A consumer-group member that yields decoded records and commits by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter};
use sluice_model::{TimeSeries, bus};
use tracing::{info, warn};

use crate::ProcessorError;

/// One consumed record.
#[derive(Debug)]
pub struct BusRecord {
    /// Partition it came from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Decoded series; empty for a poison record (which still counts as
    /// consumed, so offsets move past it).
    pub series: Vec<TimeSeries>,
}

/// Partition ownership changes seen by librdkafka's rebalance callback.
#[derive(Default)]
struct Ownership {
    assigned: BTreeSet<i32>,
    revoked: BTreeSet<i32>,
}

/// Records rebalances so the owner can drop buffers of revoked partitions.
pub struct RebalanceTracker {
    topic: String,
    state: Arc<Mutex<Ownership>>,
}

impl ClientContext for RebalanceTracker {}

impl ConsumerContext for RebalanceTracker {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Rebalance::Revoke(tpl) = rebalance {
            for e in tpl.elements_for_topic(&self.topic) {
                st.assigned.remove(&e.partition());
                st.revoked.insert(e.partition());
            }
            info!(topic = %self.topic, revoked = ?st.revoked, "partitions revoked");
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Rebalance::Assign(tpl) = rebalance {
            for e in tpl.elements_for_topic(&self.topic) {
                st.assigned.insert(e.partition());
                st.revoked.remove(&e.partition());
            }
            info!(topic = %self.topic, assigned = ?st.assigned, "partitions assigned");
        }
    }
}

/// A consumer-group member on one samples topic.
pub struct BusConsumer {
    consumer: StreamConsumer<RebalanceTracker>,
    topic: String,
    ownership: Arc<Mutex<Ownership>>,
    poison: Counter,
    records: Counter,
}

impl BusConsumer {
    /// Joins `group` on `topic`. Auto-commit is off: nothing is committed
    /// until [`BusConsumer::commit`] is called.
    ///
    /// `instance_id` makes this a static group member (KIP-345): a member
    /// that restarts with the same id takes its partitions back at once,
    /// instead of the group waiting for the dead member's session to time
    /// out and rebalancing twice. It must be unique within the group.
    pub fn subscribe(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        instance_id: Option<&str>,
    ) -> Result<Self, ProcessorError> {
        let ownership = Arc::new(Mutex::new(Ownership::default()));
        let ctx = RebalanceTracker {
            topic: topic.to_string(),
            state: ownership.clone(),
        };
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &kafka.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("fetch.wait.max.ms", "100");
        if let Some(id) = instance_id {
            cfg.set("group.instance.id", id);
        }
        for (k, v) in &kafka.client {
            cfg.set(k, v);
        }
        let consumer: StreamConsumer<RebalanceTracker> = cfg
            .create_with_context(ctx)
            .map_err(|e| ProcessorError::Kafka(format!("creating consumer: {e}")))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| ProcessorError::Kafka(format!("subscribing to {topic}: {e}")))?;
        let reg = telemetry::global();
        Ok(BusConsumer {
            consumer,
            topic: topic.to_string(),
            ownership,
            poison: reg.counter(
                "sluice_consumer_poison_records_total",
                "Records skipped because they could not be decoded.",
                &[("topic", topic), ("group", group)],
            ),
            records: reg.counter(
                "sluice_consumer_records_total",
                "Records consumed.",
                &[("topic", topic), ("group", group)],
            ),
        })
    }

    /// Waits up to `wait` for the first record, then takes whatever else is
    /// ready, up to `max` records.
    pub async fn recv_batch(&self, max: usize, wait: Duration) -> Result<Vec<BusRecord>, ProcessorError> {
        let mut out = Vec::new();
        let first = tokio::time::timeout(wait, self.consumer.recv()).await;
        let msg = match first {
            Err(_) => return Ok(out),
            Ok(r) => r.map_err(|e| ProcessorError::Kafka(format!("consuming {}: {e}", self.topic)))?,
        };
        out.push(self.decode(&msg));
        while out.len() < max {
            match tokio::time::timeout(Duration::from_millis(1), self.consumer.recv()).await {
                Ok(Ok(m)) => out.push(self.decode(&m)),
                Ok(Err(e)) => {
                    warn!(error = %e, "consume error");
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(out)
    }

    fn decode(&self, msg: &rdkafka::message::BorrowedMessage<'_>) -> BusRecord {
        self.records.inc();
        let header = msg
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == bus::FORMAT_HEADER).and_then(|h| h.value));
        let series = match bus::decode(header, msg.payload().unwrap_or_default()) {
            Ok(s) => s,
            Err(e) => {
                self.poison.inc();
                warn!(
                    topic = %self.topic,
                    partition = msg.partition(),
                    offset = msg.offset(),
                    error = %e,
                    "skipping record that does not decode"
                );
                Vec::new()
            }
        };
        BusRecord {
            partition: msg.partition(),
            offset: msg.offset(),
            series,
        }
    }

    /// Partitions revoked since the last call; the caller drops any
    /// uncommitted work for them (another member now owns them).
    pub fn take_revoked(&self) -> BTreeSet<i32> {
        let mut st = self.ownership.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut st.revoked)
    }

    /// Partitions currently assigned to this member.
    pub fn assigned(&self) -> BTreeSet<i32> {
        let st = self.ownership.lock().unwrap_or_else(|e| e.into_inner());
        st.assigned.clone()
    }

    /// Commits, per partition, the offset of the next record to read
    /// (last durable offset + 1). Synchronous: returns once the broker has it.
    pub fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<(), ProcessorError> {
        if next_offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next_offsets {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*o))
                .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
        }
        self.consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .map_err(|e| ProcessorError::Kafka(format!("committing {next_offsets:?}: {e}")))
    }
}
