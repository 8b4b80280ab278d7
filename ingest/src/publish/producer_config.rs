//! The publisher's librdkafka producer settings.

use rdkafka::ClientConfig;
use sluice_model::kafka::KafkaConfig;

use super::{Hold, RECORD_OVERHEAD};
use crate::topics::client_config;

/// The producer's librdkafka settings. Delivery guarantees are not the
/// user's to change: the producer is idempotent with `acks=all` (the
/// sink's exactly-once relies on it), and records fail after `hold`.
/// Tuning is: compression, linger and librdkafka's own queue bounds take
/// the user's `kafka.client` value when one is given.
pub(super) fn producer_config(kafka: &KafkaConfig, hold: Hold) -> ClientConfig {
    let mut cfg = client_config(kafka);
    let mut default = |key: &str, value: String| {
        if cfg.get(key).is_none() {
            cfg.set(key, value);
        }
    };
    default("client.id", "sluice-ingest".to_string());
    // librdkafka's own queue limits stay above the budget (it is the
    // budget that refuses first), yet bound librdkafka should the
    // budget's accounting ever be wrong.
    let kib = (2 * kafka.producer_buffer_bytes / 1024).clamp(1024, i32::MAX as usize);
    default("queue.buffering.max.kbytes", kib.to_string());
    let n = (2 * kafka.producer_buffer_bytes / RECORD_OVERHEAD).clamp(100_000, i32::MAX as usize);
    default("queue.buffering.max.messages", n.to_string());
    default("compression.type", "lz4".to_string());
    default("linger.ms", default_linger_ms(hold).to_string());
    let timeout_ms = match hold {
        // librdkafka's 0: no timeout.
        Hold::UntilDelivered => 0,
        Hold::For(d) => d.as_millis().max(1) as u64,
    };
    cfg.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", timeout_ms.to_string());
    cfg
}

/// How long librdkafka waits to fill a batch, when the user's
/// `kafka.client` does not say. Ingest (scrape, remote_write) waits 100 ms:
/// its records come from many targets a few milliseconds apart, and at
/// 20 ms each scrape went out in produce requests of its own — 100 ms cut
/// the scrape role's CPU per sample by about 12 % and the broker's by half
/// (BENCHMARKS.md, "Scrape → Kafka", session 12), for at most 80 ms more
/// before a sample reaches Kafka: little against scrape intervals of
/// seconds, and Prometheus' remote_write batches for up to 5 s. The
/// stream stages keep 20 ms: their output (rule results, `ALERTS`, then
/// the alert record) is on the sample-to-alert path and small.
fn default_linger_ms(hold: Hold) -> u32 {
    match hold {
        Hold::UntilDelivered => 100,
        Hold::For(_) => 20,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn kafka(client: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            client: client
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..KafkaConfig::default()
        }
    }

    #[test]
    fn tuning_is_the_users_and_delivery_guarantees_are_not() {
        let user = kafka(&[
            ("compression.type", "zstd"),
            ("linger.ms", "5"),
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("message.timeout.ms", "1"),
        ]);
        let c = producer_config(&user, Hold::For(Duration::from_secs(120)));
        assert_eq!(c.get("compression.type"), Some("zstd"));
        assert_eq!(c.get("linger.ms"), Some("5"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("message.timeout.ms"), Some("120000"));
    }

    #[test]
    fn without_user_settings_the_defaults_apply() {
        let c = producer_config(&kafka(&[]), Hold::UntilDelivered);
        assert_eq!(c.get("compression.type"), Some("lz4"));
        assert_eq!(c.get("linger.ms"), Some("100"), "ingest batches longer");
        assert_eq!(c.get("client.id"), Some("sluice-ingest"));
        assert_eq!(c.get("message.timeout.ms"), Some("0"));
        assert!(c.get("queue.buffering.max.kbytes").is_some());
        let stage = producer_config(&kafka(&[]), Hold::For(Duration::from_secs(120)));
        assert_eq!(
            stage.get("linger.ms"),
            Some("20"),
            "stream stages' output is on the alert path"
        );
    }
}
