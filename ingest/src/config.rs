//! Prometheus' own `global:` and `scrape_configs:` sections, with its field
//! names and defaults, so an existing `prometheus.yml` carries over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

use crate::discovery::file::FileSdConfig;
use crate::discovery::kubernetes::KubernetesSdConfig;
use crate::relabel::RelabelConfig;

/// `global:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalConfig {
    /// Default scrape interval (Prometheus default 1m).
    pub scrape_interval: PromDuration,
    /// Default scrape timeout (Prometheus default 10s).
    pub scrape_timeout: PromDuration,
    /// Default rule evaluation interval (kept for config compatibility).
    pub evaluation_interval: PromDuration,
    /// Labels added to every series scraped by this worker.
    pub external_labels: BTreeMap<String, String>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            evaluation_interval: PromDuration::from_secs(60),
            external_labels: BTreeMap::new(),
        }
    }
}

/// One entry of `scrape_configs:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapeConfig {
    /// The `job` label of every target of this config.
    pub job_name: String,
    /// Overrides `global.scrape_interval`.
    #[serde(default)]
    pub scrape_interval: Option<PromDuration>,
    /// Overrides `global.scrape_timeout`.
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    /// HTTP path (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` or `https` (default `http`).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// URL query parameters added to every scrape.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep scraped labels on conflict instead of renaming them `exported_*`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Use timestamps present in the exposition (default true).
    #[serde(default = "default_true")]
    pub honor_timestamps: bool,
    /// Static target groups.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// Target groups read from files.
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Targets discovered from the Kubernetes API.
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// Rewrites discovered target labels before scraping (may drop targets).
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    /// Rewrites (or drops) scraped series before they are published.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}

/// A `static_configs:` group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticConfig {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels added to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_metrics_path() -> String {
    "/metrics".into()
}
fn default_scheme() -> String {
    "http".into()
}
fn default_true() -> bool {
    true
}

impl ScrapeConfig {
    /// The interval in force for this job.
    pub fn interval(&self, global: &GlobalConfig) -> PromDuration {
        self.scrape_interval.unwrap_or(global.scrape_interval)
    }

    /// The timeout in force for this job: the job's, else the global one
    /// capped at the interval, as Prometheus does.
    pub fn timeout(&self, global: &GlobalConfig) -> PromDuration {
        self.scrape_timeout
            .unwrap_or_else(|| global.scrape_timeout.min(self.interval(global)))
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str, global: &GlobalConfig) -> Vec<String> {
        let mut errs = Vec::new();
        if self.job_name.is_empty() {
            errs.push(format!("{path}.job_name: must not be empty"));
        }
        if self.interval(global).0.is_zero() {
            errs.push(format!("{path}.scrape_interval: must be greater than 0"));
        }
        if self.timeout(global) > self.interval(global) {
            errs.push(format!(
                "{path}.scrape_timeout: {} is greater than scrape_interval {}",
                self.timeout(global),
                self.interval(global)
            ));
        }
        if self.scheme != "http" && self.scheme != "https" {
            errs.push(format!(
                "{path}.scheme: must be http or https, got {:?}",
                self.scheme
            ));
        }
        if !self.metrics_path.starts_with('/') {
            errs.push(format!(
                "{path}.metrics_path: must start with '/', got {:?}",
                self.metrics_path
            ));
        }
        for (i, r) in self.relabel_configs.iter().enumerate() {
            errs.extend(r.validate(&format!("{path}.relabel_configs[{i}]")));
        }
        for (i, r) in self.metric_relabel_configs.iter().enumerate() {
            errs.extend(r.validate(&format!("{path}.metric_relabel_configs[{i}]")));
        }
        for (gi, group) in self.static_configs.iter().enumerate() {
            for (ti, t) in group.targets.iter().enumerate() {
                if let Err(e) = validate_target_address(t) {
                    errs.push(format!("{path}.static_configs[{gi}].targets[{ti}]: {e}"));
                }
            }
            for name in group.labels.keys() {
                if !is_valid_label_name(name) {
                    errs.push(format!(
                        "{path}.static_configs[{gi}].labels: {name:?} is not a valid label name"
                    ));
                }
            }
        }
        for (i, f) in self.file_sd_configs.iter().enumerate() {
            errs.extend(f.validate(&format!("{path}.file_sd_configs[{i}]")));
        }
        for (i, k) in self.kubernetes_sd_configs.iter().enumerate() {
            errs.extend(k.validate(&format!("{path}.kubernetes_sd_configs[{i}]")));
        }
        errs
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate_target_address(t: &str) -> Result<(), String> {
    if t.contains('/') || t.contains(' ') {
        return Err(format!(
            "{t:?} is not a valid host:port (no scheme or path allowed)"
        ));
    }
    let (host, port) = t
        .rsplit_once(':')
        .ok_or_else(|| format!("{t:?} has no port (expected host:port)"))?;
    if host.is_empty() {
        return Err(format!("{t:?} has an empty host"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("{t:?} has an invalid port {port:?}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_defaults_to_global_capped_by_interval() {
        let global = GlobalConfig::default();
        let sc = ScrapeConfig {
            job_name: "j".into(),
            scrape_interval: Some(PromDuration::from_secs(5)),
            scrape_timeout: None,
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            params: BTreeMap::new(),
            honor_labels: false,
            honor_timestamps: true,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            static_configs: vec![StaticConfig {
                targets: vec!["a:1".into(), "nope".into()],
                labels: BTreeMap::new(),
            }],
            file_sd_configs: Vec::new(),
            kubernetes_sd_configs: Vec::new(),
        };
        assert_eq!(sc.timeout(&global), PromDuration::from_secs(5));
        let errs = sc.validate("scrape_configs[0]", &global);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("scrape_configs[0].static_configs[0].targets[1]"));
    }
}
