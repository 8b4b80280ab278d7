//! The `receive:` section: where the receivers listen and their limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

use super::limits::{
    DEFAULT_LABEL_LIMIT, DEFAULT_LABEL_NAME_LENGTH_LIMIT, DEFAULT_LABEL_VALUE_LENGTH_LIMIT,
    DEFAULT_MAX_SERIES_PER_REQUEST,
};
use super::{
    DEFAULT_ACK_WAIT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_REQUESTS, ReceiveLimits, WriteLimits,
};

/// Past this a sender has long given up (Prometheus' default
/// `remote_timeout` is 30s).
const MAX_ACK_WAIT: Duration = Duration::from_secs(60);

/// The `receive:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReceiveConfig {
    /// Listen address of `/api/v1/write` and the push API. Default
    /// `127.0.0.1:9465`, next to the query API's 9464 (9091, the
    /// Pushgateway's port, is left to a real Pushgateway). Loopback by
    /// default: there is no authentication yet, so exposing it is a choice.
    pub listen: String,
    /// Largest request body, compressed and (remote_write) decompressed;
    /// larger requests get 413. Default 32 MiB.
    pub max_body_bytes: usize,
    /// remote_write requests read and decoded at once; more wait for a
    /// slot up to `ack_wait`, then get 503 (retried). With
    /// `max_body_bytes` it bounds the memory of request bodies. 0: no
    /// limit. Default 8.
    pub max_concurrent_requests: usize,
    /// Most series in one remote_write request; more get 400. 0: no
    /// limit. Default 100000.
    pub max_series_per_request: usize,
    /// Most labels of one remote_write series (`__name__` counts); more
    /// get 400. 0: no limit. Default 64.
    pub label_limit: usize,
    /// Longest label name of a remote_write series, in bytes; longer gets
    /// 400. 0: no limit. Default 1024.
    pub label_name_length_limit: usize,
    /// Longest label value of a remote_write series, in bytes; longer gets
    /// 400. 0: no limit. Default 4096.
    pub label_value_length_limit: usize,
    /// How often pushed groups are re-emitted to the bus (each pushed series
    /// becomes one sample per interval, like a Pushgateway scraped at this
    /// interval). Default 15s.
    pub push_interval: PromDuration,
    /// How long a remote_write request waits for Kafka's acknowledgement;
    /// after that it is answered 204 with its samples held in the producer
    /// buffer (see `kafka.producer_buffer_bytes`). Keep it below the
    /// senders' `remote_timeout` (30s by default). 0s answers as soon as
    /// the samples are queued. Default 5s.
    pub ack_wait: PromDuration,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        ReceiveConfig {
            listen: "127.0.0.1:9465".into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_series_per_request: DEFAULT_MAX_SERIES_PER_REQUEST,
            label_limit: DEFAULT_LABEL_LIMIT,
            label_name_length_limit: DEFAULT_LABEL_NAME_LENGTH_LIMIT,
            label_value_length_limit: DEFAULT_LABEL_VALUE_LENGTH_LIMIT,
            push_interval: PromDuration::from_secs(15),
            ack_wait: PromDuration(DEFAULT_ACK_WAIT),
        }
    }
}

impl ReceiveConfig {
    /// Problems with the values, each prefixed with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        errs.extend(sluice_model::validate::check_listen_address(path, &self.listen));
        if self.max_body_bytes == 0 {
            errs.push(format!("{path}.max_body_bytes: must be greater than 0"));
        }
        if self.push_interval.0 < Duration::from_secs(1) {
            errs.push(format!("{path}.push_interval: must be at least 1s"));
        }
        if self.ack_wait.0 > MAX_ACK_WAIT {
            errs.push(format!(
                "{path}.ack_wait: must be at most 1m (senders time out first), got {}",
                self.ack_wait
            ));
        }
        errs
    }

    /// The limits the router enforces.
    pub fn limits(&self) -> ReceiveLimits {
        ReceiveLimits {
            max_body_bytes: self.max_body_bytes,
            ack_wait: self.ack_wait.0,
            write: WriteLimits {
                max_series_per_request: self.max_series_per_request,
                label_limit: self.label_limit,
                label_name_length_limit: self.label_name_length_limit,
                label_value_length_limit: self.label_value_length_limit,
            },
            max_concurrent_requests: self.max_concurrent_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_yaml() {
        let c: ReceiveConfig = serde_yaml::from_str("{}").unwrap();
        assert_eq!(c, ReceiveConfig::default());
        assert_eq!(c.validate("receive"), Vec::<String>::new());
        assert_eq!(c.limits().max_body_bytes, 32 << 20);
        assert_eq!(c.limits().ack_wait, Duration::from_secs(5));
        assert_eq!(c.limits().write, WriteLimits::default());
        assert_eq!(c.limits().max_concurrent_requests, 8);
        let c: ReceiveConfig = serde_yaml::from_str(
            "{max_series_per_request: 0, label_limit: 1, label_name_length_limit: 2, label_value_length_limit: 3}",
        )
        .unwrap();
        assert_eq!(c.validate("receive"), Vec::<String>::new());
        assert_eq!(
            c.limits().write,
            WriteLimits {
                max_series_per_request: 0,
                label_limit: 1,
                label_name_length_limit: 2,
                label_value_length_limit: 3,
            }
        );
        let c: ReceiveConfig =
            serde_yaml::from_str("{listen: '0.0.0.0:1', max_body_bytes: 10, push_interval: 1m}").unwrap();
        assert_eq!(c.push_interval, PromDuration::from_secs(60));
    }

    #[test]
    fn every_error_at_once() {
        let c = ReceiveConfig {
            listen: "nowhere".into(),
            max_body_bytes: 0,
            push_interval: PromDuration(Duration::from_millis(10)),
            ack_wait: PromDuration::from_secs(120),
            ..Default::default()
        };
        assert_eq!(
            c.validate("receive"),
            [
                "receive.listen: \"nowhere\" is not an ip:port address",
                "receive.max_body_bytes: must be greater than 0",
                "receive.push_interval: must be at least 1s",
                "receive.ack_wait: must be at most 1m (senders time out first), got 2m",
            ]
        );
    }
}
