//! The `downsample:` section.

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;
use sluice_model::kafka::KafkaConfig;

use crate::downsample::resolution_suffix;

/// The `downsample:` section of Sluice's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DownsampleConfig {
    /// Run the downsampler in `sluice process` / `sluice all`, and sink its tiers.
    pub enabled: bool,
    /// Window sizes, ascending; each a multiple of the first.
    pub resolutions: Vec<PromDuration>,
    /// How far behind the newest sample of a partition a sample may arrive
    /// and still update its window; later ones are counted and dropped
    /// (the raw table keeps them).
    pub allowed_lateness: PromDuration,
    /// How often state is checkpointed (and input offsets committed).
    pub checkpoint_interval: PromDuration,
    /// Consumer group (for committed offsets / lag).
    pub group_id: String,
    /// This instance's shard of the input partitions.
    pub shard_index: u32,
    /// Number of downsampler instances.
    pub shard_count: u32,
    /// Retention of each tier's table, by position in `resolutions`
    /// (missing or `0s`: keep forever).
    pub retention: Vec<PromDuration>,
}

impl Default for DownsampleConfig {
    fn default() -> Self {
        DownsampleConfig {
            enabled: false,
            resolutions: vec![PromDuration::from_secs(300), PromDuration::from_secs(3600)],
            allowed_lateness: PromDuration::from_secs(60),
            checkpoint_interval: PromDuration::from_secs(10),
            group_id: "sluice-downsample".into(),
            shard_index: 0,
            shard_count: 1,
            retention: Vec::new(),
        }
    }
}

impl DownsampleConfig {
    /// The topic of each resolution: `<samples topic>.<resolution>`.
    pub fn tier_topics(&self, kafka: &KafkaConfig) -> Vec<String> {
        let base = kafka.samples_topic();
        self.resolutions
            .iter()
            .map(|r| format!("{base}.{}", resolution_suffix(r.as_millis())))
            .collect()
    }

    /// The segment table of each resolution: `samples_<resolution>`.
    pub fn tier_tables(&self) -> Vec<String> {
        self.resolutions
            .iter()
            .map(|r| format!("samples_{}", resolution_suffix(r.as_millis())))
            .collect()
    }

    /// The checkpoint topic.
    pub fn state_topic(&self, kafka: &KafkaConfig) -> String {
        format!("{}.state.downsample", kafka.topic_prefix)
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let ms: Vec<i64> = self.resolutions.iter().map(|r| r.as_millis()).collect();
        if self.enabled && ms.is_empty() {
            errs.push(format!("{path}.resolutions: at least one resolution is needed"));
        }
        if ms.windows(2).any(|w| w[1] <= w[0]) {
            errs.push(format!("{path}.resolutions: must ascend"));
        }
        if let Some(&finest) = ms.first()
            && (finest <= 0 || ms.iter().any(|r| r % finest != 0))
        {
            errs.push(format!(
                "{path}.resolutions: each must be a positive multiple of the first"
            ));
        }
        if self.checkpoint_interval.0.is_zero() {
            errs.push(format!("{path}.checkpoint_interval: must be greater than 0"));
        }
        if self.shard_count == 0 || self.shard_index >= self.shard_count {
            errs.push(format!("{path}.shard_index: must be below shard_count"));
        }
        if self.retention.len() > self.resolutions.len() {
            errs.push(format!("{path}.retention: more entries than resolutions"));
        }
        errs
    }
}
