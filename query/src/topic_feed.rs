//! Follows a small compacted topic from its beginning, for views every
//! query process needs whole (metric metadata, rule status).
//!
//! No consumer group position: each process reads every partition from
//! the start, then keeps following. A view is an aid, not an answer to a
//! query: while the topic does not exist yet or the broker is away the
//! caller's store keeps what it has and this retries; nothing here holds
//! up the query role.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sluice_model::kafka::KafkaConfig;
use tokio::sync::watch;
use tracing::{info, warn};

/// How long to wait before trying again when the topic is missing or the
/// broker does not answer.
const RETRY: Duration = Duration::from_secs(5);

/// Reads `topic` from the beginning, handing every record to `apply` and
/// calling `tick` every `tick_every`, until `shutdown` turns true.
/// `group_id` only names the client (librdkafka requires one; it is never
/// joined nor committed).
pub(crate) async fn follow(
    kafka: KafkaConfig,
    topic: String,
    group_id: &'static str,
    tick_every: Duration,
    mut apply: impl FnMut(&BorrowedMessage<'_>),
    mut tick: impl FnMut(),
    mut shutdown: watch::Receiver<bool>,
) {
    let mut attempts = 0u32;
    let consumer = loop {
        // librdkafka's metadata request blocks: not on the runtime's threads.
        let (k, t) = (kafka.clone(), topic.clone());
        let attempt = tokio::task::spawn_blocking(move || assign(&k, &t, group_id))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        match attempt {
            Ok(c) => break c,
            Err(e) => {
                // A query process may well run before another role made
                // the topic: say so once a minute, not every attempt.
                if attempts.is_multiple_of(12) {
                    warn!(error = %e, topic, "feed not started yet; retrying every 5s");
                }
                attempts = attempts.wrapping_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    };
    let mut ticks = tokio::time::interval(tick_every);
    loop {
        let failed = tokio::select! {
            msg = consumer.recv() => match msg {
                Ok(m) => {
                    apply(&m);
                    false
                }
                Err(e) => {
                    warn!(error = %e, topic, "reading a followed topic");
                    true
                }
            },
            _ = ticks.tick() => {
                tick();
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

/// A consumer on every partition of `topic`, at the beginning.
fn assign(kafka: &KafkaConfig, topic: &str, group_id: &str) -> Result<StreamConsumer, String> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers)
        .set("group.id", group_id)
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
        "feed reading from the beginning"
    );
    Ok(consumer)
}

/// The wall clock, ms (record times and expiries are wall-clock times).
pub(crate) fn now_ms() -> i64 {
    use sluice_model::clock::TimeProvider;
    sluice_model::clock::SystemClock.now_ms()
}
