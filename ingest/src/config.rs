//! Prometheus' own `global:` and `scrape_configs:` sections, with its field
//! names and defaults, so an existing `prometheus.yml` carries over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;

use crate::discovery::file::FileSdConfig;
use crate::discovery::kubernetes::KubernetesSdConfig;
use crate::http_client::{Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig};
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
    /// Default `sample_limit` of the jobs (0: no limit).
    pub sample_limit: u64,
    /// Default `target_limit` of the jobs (0: no limit).
    pub target_limit: u64,
    /// Default `label_limit` of the jobs (0: no limit).
    pub label_limit: u64,
    /// Default `label_name_length_limit` of the jobs (0: no limit).
    pub label_name_length_limit: u64,
    /// Default `label_value_length_limit` of the jobs (0: no limit).
    pub label_value_length_limit: u64,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: PromDuration::from_secs(60),
            scrape_timeout: PromDuration::from_secs(10),
            evaluation_interval: PromDuration::from_secs(60),
            external_labels: BTreeMap::new(),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
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
    /// Username and password for `Authorization: Basic`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization: <type> <credentials>` (type default `Bearer`).
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// A bearer token (Prometheus' older form of `authorization`).
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// A file holding a bearer token, re-read on every scrape.
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// TLS settings for `https` targets.
    #[serde(default)]
    pub tls_config: TlsConfig,
    /// More samples than this (after metric relabeling) fail the scrape
    /// (0: the global default, which is no limit unless set).
    #[serde(default)]
    pub sample_limit: u64,
    /// More targets than this (after relabeling) fail every target of the
    /// job (0: the global default).
    #[serde(default)]
    pub target_limit: u64,
    /// A series with more labels than this fails the scrape (0: the global
    /// default).
    #[serde(default)]
    pub label_limit: u64,
    /// A label name longer than this fails the scrape (0: the global default).
    #[serde(default)]
    pub label_name_length_limit: u64,
    /// A label value longer than this fails the scrape (0: the global default).
    #[serde(default)]
    pub label_value_length_limit: u64,
}

/// The per-scrape limits in force for a job; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    /// `sample_limit`
    pub sample_limit: u64,
    /// `label_limit`
    pub label_limit: u64,
    /// `label_name_length_limit`
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`
    pub label_value_length_limit: u64,
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

    /// The limits in force: the job's, or where it has none (0) the global
    /// ones, as Prometheus does.
    pub fn limits(&self, global: &GlobalConfig) -> ScrapeLimits {
        let or = |job: u64, global: u64| if job == 0 { global } else { job };
        ScrapeLimits {
            sample_limit: or(self.sample_limit, global.sample_limit),
            label_limit: or(self.label_limit, global.label_limit),
            label_name_length_limit: or(self.label_name_length_limit, global.label_name_length_limit),
            label_value_length_limit: or(self.label_value_length_limit, global.label_value_length_limit),
        }
    }

    /// The `target_limit` in force (0: none).
    pub fn target_limit(&self, global: &GlobalConfig) -> u64 {
        if self.target_limit == 0 {
            global.target_limit
        } else {
            self.target_limit
        }
    }

    /// The job's HTTP client settings.
    pub fn http_client_config(&self) -> HttpClientConfig {
        HttpClientConfig {
            basic_auth: self.basic_auth.clone(),
            authorization: self.authorization.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            tls_config: self.tls_config.clone(),
        }
    }

    /// Makes the relative file names of the HTTP client settings relative
    /// to `base` (the config file's directory), as Prometheus does.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        let mut http = self.http_client_config();
        http.resolve_paths(base);
        let HttpClientConfig {
            basic_auth,
            authorization,
            bearer_token,
            bearer_token_file,
            tls_config,
        } = http;
        self.basic_auth = basic_auth;
        self.authorization = authorization;
        self.bearer_token = bearer_token;
        self.bearer_token_file = bearer_token_file;
        self.tls_config = tls_config;
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
        errs.extend(self.http_client_config().validate(path));
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
        let sc: ScrapeConfig = serde_yaml::from_str(
            "job_name: j\nscrape_interval: 5s\nstatic_configs: [{targets: ['a:1', nope]}]",
        )
        .unwrap();
        assert_eq!(sc.timeout(&global), PromDuration::from_secs(5));
        let errs = sc.validate("scrape_configs[0]", &global);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("scrape_configs[0].static_configs[0].targets[1]"));
    }

    #[test]
    fn limits_fall_back_to_the_global_ones() {
        let global: GlobalConfig =
            serde_yaml::from_str("sample_limit: 100\ntarget_limit: 5\nlabel_value_length_limit: 64").unwrap();
        let sc: ScrapeConfig = serde_yaml::from_str(
            "job_name: j\nsample_limit: 10\nlabel_limit: 30\nlabel_name_length_limit: 20",
        )
        .unwrap();
        assert_eq!(
            sc.limits(&global),
            ScrapeLimits {
                sample_limit: 10,
                label_limit: 30,
                label_name_length_limit: 20,
                label_value_length_limit: 64,
            }
        );
        assert_eq!(sc.target_limit(&global), 5);
        let none: ScrapeConfig = serde_yaml::from_str("job_name: j").unwrap();
        assert_eq!(none.limits(&GlobalConfig::default()), ScrapeLimits::default());
        assert_eq!(none.target_limit(&GlobalConfig::default()), 0);
    }

    #[test]
    fn http_settings_are_validated_with_the_job() {
        let sc: ScrapeConfig = serde_yaml::from_str(
            "job_name: j\nbasic_auth: {username: u, password: p, password_file: /}\n\
             bearer_token: t\ntls_config: {cert_file: /nonexistent}",
        )
        .unwrap();
        let errs = sc.validate("scrape_configs[0]", &GlobalConfig::default());
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert!(!format!("{sc:?}").contains("password: Some(\"p\")"));
    }
}
