//! The `sink:` section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

/// The `sink:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkConfig {
    /// Root directory of the segments.
    pub path: PathBuf,
    /// Longest time a sample waits in memory before it is in a segment
    /// (and so visible to queries).
    pub flush_interval: PromDuration,
    /// A partition's buffer is flushed early once it holds this many samples.
    pub max_segment_samples: usize,
    /// Kafka consumer group of the sink.
    pub group_id: String,
    /// Static group membership id of this sink instance; unique per
    /// instance (in Kubernetes, the pod name). Empty means `sink-<hostname>`.
    /// A restarted instance takes its partitions back at once instead of
    /// waiting for the session timeout.
    pub instance_id: String,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            path: PathBuf::from("./data/segments"),
            flush_interval: PromDuration::from_secs(10),
            max_segment_samples: 2_000_000,
            group_id: "sluice-sink".into(),
            instance_id: String::new(),
        }
    }
}

impl SinkConfig {
    /// The static membership id in force.
    pub fn instance_id(&self) -> String {
        if !self.instance_id.is_empty() {
            return self.instance_id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("sink-{host}")
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.path.as_os_str().is_empty() {
            errs.push(format!("{path}.path: must not be empty"));
        }
        if self.flush_interval.0.is_zero() {
            errs.push(format!("{path}.flush_interval: must be greater than 0"));
        }
        if self.max_segment_samples == 0 {
            errs.push(format!("{path}.max_segment_samples: must be greater than 0"));
        }
        if self.group_id.is_empty() {
            errs.push(format!("{path}.group_id: must not be empty"));
        }
        errs
    }
}
