//! Scrape sharding: N workers with the same scrape configs split the
//! targets between them, each target scraped by exactly one worker.
//!
//! A worker owns a target when `hashmod(key, count) == index`, the key
//! being the target's job and URL (so two targets on one address with
//! different parameters can land on different workers). Every worker
//! discovers all targets and keeps its share, so a target moves only when
//! `count` changes, and no coordination between workers is needed.

use serde::{Deserialize, Serialize};

use crate::relabel::hashmod;
use crate::target::Target;

/// `scrape:` — this worker's shard (the StatefulSet ordinal as index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrapeShard {
    /// This worker's index, `0..shard_count`.
    pub shard_index: u64,
    /// Number of workers sharing the targets (1 = no sharding).
    pub shard_count: u64,
}

impl Default for ScrapeShard {
    fn default() -> Self {
        ScrapeShard {
            shard_index: 0,
            shard_count: 1,
        }
    }
}

impl ScrapeShard {
    /// Whether this worker scrapes `target`.
    pub fn owns(&self, target: &Target) -> bool {
        self.shard_count <= 1 || hashmod(&target.key(), self.shard_count) == self.shard_index
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.shard_count == 0 {
            errs.push(format!("{path}.shard_count: must be at least 1"));
        } else if self.shard_index >= self.shard_count {
            errs.push(format!(
                "{path}.shard_index: {} is not below shard_count {}",
                self.shard_index, self.shard_count
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use sluice_model::Labels;

    use super::*;
    use crate::config::{GlobalConfig, ScrapeConfig};
    use crate::discovery::{DiscoveryUpdate, TargetGroup, TargetSets};

    #[test]
    fn workers_split_targets_without_overlap_or_gaps() {
        let sc: ScrapeConfig = serde_yaml::from_str("job_name: pods").unwrap();
        let mut sets = TargetSets::default();
        sets.apply(DiscoveryUpdate {
            job: "pods".into(),
            provider: "p".into(),
            groups: vec![TargetGroup {
                source: "g".into(),
                targets: (0..5000)
                    .map(|i| {
                        Labels::new([(
                            "__address__",
                            format!("10.{}.{}.{}:9100", i / 65536, (i / 256) % 256, i % 256),
                        )])
                    })
                    .collect(),
                labels: Labels::default(),
            }],
        });
        let targets = sets.targets(&sc, &GlobalConfig::default());
        assert_eq!(targets.len(), 5000);
        let count = 4;
        let shares: Vec<usize> = (0..count)
            .map(|i| {
                let shard = ScrapeShard {
                    shard_index: i,
                    shard_count: count,
                };
                targets.iter().filter(|t| shard.owns(t)).count()
            })
            .collect();
        for t in &targets {
            let owners = (0..count)
                .filter(|&i| {
                    ScrapeShard {
                        shard_index: i,
                        shard_count: count,
                    }
                    .owns(t)
                })
                .count();
            assert_eq!(owners, 1, "{} owned by {owners} workers", t.url);
        }
        // Balanced within 10% of the fair share.
        for s in &shares {
            assert!((1125..=1375).contains(s), "unbalanced shares {shares:?}");
        }
        assert!(targets.iter().all(|t| ScrapeShard::default().owns(t)));
    }

    #[test]
    fn bad_shards_are_reported() {
        let bad = |i, c| {
            ScrapeShard {
                shard_index: i,
                shard_count: c,
            }
            .validate("scrape")
        };
        assert_eq!(bad(0, 0).len(), 1);
        assert_eq!(bad(2, 2).len(), 1);
        assert!(bad(1, 2).is_empty());
    }
}
