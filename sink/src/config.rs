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
    /// This instance's shard: it owns the partitions with
    /// `partition % shard_count == shard_index` (in Kubernetes, the
    /// StatefulSet ordinal).
    pub shard_index: u32,
    /// Number of sink instances sharing the topic.
    pub shard_count: u32,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            path: PathBuf::from("./data/segments"),
            flush_interval: PromDuration::from_secs(10),
            max_segment_samples: 2_000_000,
            group_id: "sluice-sink".into(),
            shard_index: 0,
            shard_count: 1,
        }
    }
}

impl SinkConfig {
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
        if self.shard_count == 0 || self.shard_index >= self.shard_count {
            errs.push(format!(
                "{path}.shard_index: must be below shard_count ({} >= {})",
                self.shard_index, self.shard_count
            ));
        }
        if self.group_id.is_empty() {
            errs.push(format!("{path}.group_id: must not be empty"));
        }
        errs
    }
}
