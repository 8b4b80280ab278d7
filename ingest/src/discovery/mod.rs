//! Service discovery: where the targets of a scrape config come from.
//!
//! Every source of targets is a *provider* (the job's `static_configs`, one
//! per `file_sd_configs` entry, one per `kubernetes_sd_configs` entry). A
//! provider sends [`DiscoveryUpdate`]s over a channel: the target groups that
//! changed, each identified by its `source`. As in Prometheus, a group
//! replaces the previous group with the same source, and a group without
//! targets removes it. [`TargetSets`] keeps the latest groups per job and
//! provider; the scrape manager turns them into targets and reconciles its
//! scrape loops with them.

pub mod file;
pub mod kubernetes;
mod sets;

use sluice_model::Labels;
use tokio::sync::{mpsc, watch};

pub use sets::TargetSets;

use crate::config::ScrapeConfig;

/// The discovered-label name of a target's `host:port`.
pub const ADDRESS_LABEL: &str = "__address__";

/// A group of targets sharing labels, as a provider discovered them
/// (Prometheus' `targetgroup.Group`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its provider, e.g. `pod/default/web-0`.
    pub source: String,
    /// One label set per target; each has `__address__`.
    pub targets: Vec<Labels>,
    /// Labels every target of the group gets (a target's own labels win).
    pub labels: Labels,
}

impl TargetGroup {
    /// The "this group is gone" update for `source`.
    pub fn removed(source: impl Into<String>) -> Self {
        TargetGroup {
            source: source.into(),
            ..TargetGroup::default()
        }
    }
}

/// Changed groups of one provider of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryUpdate {
    /// `job_name` of the scrape config.
    pub job: String,
    /// The provider within the job, e.g. `kubernetes/0`.
    pub provider: String,
    /// Groups that changed since the provider's last update.
    pub groups: Vec<TargetGroup>,
}

/// The channel providers send on. Bounded: a provider that outruns the
/// manager waits instead of queueing without limit.
pub type UpdateSender = mpsc::Sender<DiscoveryUpdate>;

/// The `static_configs` of a job as target groups (source = the index, as
/// Prometheus names them).
pub fn static_groups(sc: &ScrapeConfig) -> Vec<TargetGroup> {
    sc.static_configs
        .iter()
        .enumerate()
        .map(|(i, group)| TargetGroup {
            source: i.to_string(),
            targets: group
                .targets
                .iter()
                .map(|addr| Labels::new([(ADDRESS_LABEL, addr.as_str())]))
                .collect(),
            labels: Labels::new(group.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        })
        .collect()
}

/// Starts every provider of every scrape config; each runs until `shutdown`
/// turns true (the static one sends once and ends). The returned tasks end
/// when their providers do.
pub fn start_providers(
    configs: &[ScrapeConfig],
    updates: UpdateSender,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let statics: Vec<DiscoveryUpdate> = configs
        .iter()
        .map(|sc| DiscoveryUpdate {
            job: sc.job_name.clone(),
            provider: "static".into(),
            groups: static_groups(sc),
        })
        .filter(|u| !u.groups.is_empty())
        .collect();
    let static_updates = updates.clone();
    tasks.spawn(async move {
        for u in statics {
            if static_updates.send(u).await.is_err() {
                return;
            }
        }
    });
    for sc in configs {
        for (i, cfg) in sc.file_sd_configs.iter().enumerate() {
            let provider = file::FileProvider::new(cfg.clone(), sc.job_name.clone(), format!("file/{i}"));
            tasks.spawn(provider.run(updates.clone(), shutdown.clone()));
        }
        for (i, cfg) in sc.kubernetes_sd_configs.iter().enumerate() {
            let provider = kubernetes::KubernetesProvider::new(
                cfg.clone(),
                sc.job_name.clone(),
                format!("kubernetes/{i}"),
            );
            tasks.spawn(provider.run(updates.clone(), shutdown.clone()));
        }
    }
    tasks
}
