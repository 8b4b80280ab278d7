//! The `sink:` section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

use crate::compact::CompactionSettings;
use crate::compact::plan::MergePolicy;

/// The `sink:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkConfig {
    /// Where segments live: a directory, `file:///dir`, or
    /// `s3://bucket/prefix` (S3 or any S3-compatible store).
    pub path: String,
    /// Options of the object store (`object_store`'s keys, e.g.
    /// `aws_endpoint`, `aws_region`, `aws_allow_http`); `AWS_*` environment
    /// variables are read too.
    pub storage_options: BTreeMap<String, String>,
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
    /// Segments wholly older than this are deleted (`0s` = keep forever).
    pub retention: PromDuration,
    /// Merging small segments into large ones.
    pub compaction: CompactionConfig,
}

/// `sink.compaction:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompactionConfig {
    /// Run the compactor inside the sink.
    pub enabled: bool,
    /// Time between passes.
    pub interval: PromDuration,
    /// Windows segments are merged by, e.g. `[2h, 1d]`.
    pub ranges: Vec<PromDuration>,
    /// Wait after a window ends before merging it (late samples).
    pub settle: PromDuration,
    /// Largest merged segment, in samples (bounds compactor memory: about
    /// 40 bytes per sample while merging).
    pub max_segment_samples: i64,
    /// Merged inputs stay readable this long after their replacement is
    /// published, for queries that started before.
    pub delete_delay: PromDuration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            path: "./data/segments".into(),
            storage_options: BTreeMap::new(),
            flush_interval: PromDuration::from_secs(10),
            max_segment_samples: 2_000_000,
            group_id: "sluice-sink".into(),
            shard_index: 0,
            shard_count: 1,
            retention: PromDuration::from_secs(0),
            compaction: CompactionConfig::default(),
        }
    }
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            enabled: true,
            interval: PromDuration::from_secs(60),
            ranges: vec![
                PromDuration::from_secs(2 * 3600),
                PromDuration::from_secs(24 * 3600),
            ],
            settle: PromDuration::from_secs(10 * 60),
            max_segment_samples: 20_000_000,
            delete_delay: PromDuration::from_secs(5 * 60),
        }
    }
}

impl SinkConfig {
    /// The compactor's settings.
    pub fn compaction_settings(&self) -> CompactionSettings {
        let c = &self.compaction;
        CompactionSettings {
            policy: MergePolicy {
                ranges_ms: c.ranges.iter().map(|r| r.as_millis()).collect(),
                settle_ms: c.settle.as_millis(),
                max_rows: c.max_segment_samples,
            },
            retention_ms: self.retention.as_millis(),
            delete_delay_ms: c.delete_delay.as_millis(),
        }
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.path.is_empty() {
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
        let c = &self.compaction;
        if c.enabled && c.interval.0.is_zero() {
            errs.push(format!("{path}.compaction.interval: must be greater than 0"));
        }
        if c.ranges.iter().any(|r| r.0.is_zero()) {
            errs.push(format!(
                "{path}.compaction.ranges: every range must be greater than 0"
            ));
        }
        if c.max_segment_samples <= 0 {
            errs.push(format!(
                "{path}.compaction.max_segment_samples: must be greater than 0"
            ));
        }
        if let Err(e) = crate::store::SegmentStore::check_location(&self.path, &self.storage_options) {
            errs.push(format!("{path}.path: {e}"));
        }
        errs
    }
}
