//! The latest target groups per job and provider, and the targets they
//! resolve to.

use std::collections::BTreeMap;

use sluice_model::Labels;

use super::{DiscoveryUpdate, TargetGroup};
use crate::config::{GlobalConfig, ScrapeConfig};
use crate::target::{Target, build_target};

/// job → provider → source → group.
#[derive(Debug, Default)]
pub struct TargetSets {
    jobs: BTreeMap<String, BTreeMap<String, BTreeMap<String, TargetGroup>>>,
}

impl TargetSets {
    /// Applies one update: each group replaces the group with its source;
    /// a group without targets removes it.
    pub fn apply(&mut self, update: DiscoveryUpdate) {
        let groups = self
            .jobs
            .entry(update.job)
            .or_default()
            .entry(update.provider)
            .or_default();
        for g in update.groups {
            if g.targets.is_empty() {
                groups.remove(&g.source);
            } else {
                groups.insert(g.source.clone(), g);
            }
        }
    }

    /// Every target of `sc`'s job, relabeled, in a stable order (provider,
    /// source, position). Targets dropped by relabeling are left out; a
    /// target that cannot be built (e.g. a bad `__scrape_interval__`) is
    /// logged and left out. Duplicates (same key) keep the first.
    pub fn targets(&self, sc: &ScrapeConfig, global: &GlobalConfig) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let Some(providers) = self.jobs.get(&sc.job_name) else {
            return out;
        };
        for groups in providers.values() {
            for group in groups.values() {
                for t in &group.targets {
                    match build_target(sc, global, discovered_labels(group, t)) {
                        Ok(Some(mut target)) => {
                            for (k, v) in &global.external_labels {
                                if target.labels.get(k).is_none() {
                                    target.labels.set(k, v);
                                }
                            }
                            if seen.insert(target.key()) {
                                out.push(target);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(
                            job = %sc.job_name, source = %group.source, error = %e, "target skipped"
                        ),
                    }
                }
            }
        }
        out
    }
}

/// A target's labels over its group's labels (the target's win), as
/// Prometheus merges them before relabeling.
fn discovered_labels(group: &TargetGroup, target: &Labels) -> Labels {
    let mut l = group.labels.clone();
    for label in target.iter() {
        l.set(&label.name, &label.value);
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(source: &str, addrs: &[&str]) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: addrs.iter().map(|a| Labels::new([("__address__", *a)])).collect(),
            labels: Labels::new([("team", "a")]),
        }
    }

    fn update(groups: Vec<TargetGroup>) -> DiscoveryUpdate {
        DiscoveryUpdate {
            job: "j".into(),
            provider: "p".into(),
            groups,
        }
    }

    #[test]
    fn groups_replace_by_source_and_empty_groups_remove() {
        let sc: ScrapeConfig = serde_yaml::from_str("job_name: j").unwrap();
        let global = GlobalConfig::default();
        let mut sets = TargetSets::default();
        sets.apply(update(vec![group("a", &["h:1", "h:2"]), group("b", &["h:3"])]));
        let urls =
            |s: &TargetSets| -> Vec<String> { s.targets(&sc, &global).into_iter().map(|t| t.url).collect() };
        assert_eq!(
            urls(&sets),
            ["http://h:1/metrics", "http://h:2/metrics", "http://h:3/metrics"]
        );
        sets.apply(update(vec![group("a", &["h:2"])]));
        assert_eq!(urls(&sets), ["http://h:2/metrics", "http://h:3/metrics"]);
        sets.apply(update(vec![TargetGroup::removed("b")]));
        assert_eq!(urls(&sets), ["http://h:2/metrics"]);
        let t = &sets.targets(&sc, &global)[0];
        assert_eq!(t.labels.get("team"), Some("a"));
        assert_eq!(t.discovered_labels.get("team"), Some("a"));
    }

    #[test]
    fn target_labels_win_over_group_labels_and_duplicates_collapse() {
        let sc: ScrapeConfig = serde_yaml::from_str("job_name: j").unwrap();
        let mut g = group("a", &["h:1", "h:1"]);
        g.targets[0].set("team", "b");
        let mut sets = TargetSets::default();
        sets.apply(update(vec![g]));
        let ts = sets.targets(&sc, &GlobalConfig::default());
        assert_eq!(ts.len(), 1);
        assert_eq!(ts[0].labels.get("team"), Some("b"));
    }
}
