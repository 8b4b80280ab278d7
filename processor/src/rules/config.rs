//! The rule evaluator's settings (`rule_evaluation:`) and Prometheus'
//! `alerting:` section (where alerts are sent).

use serde::{Deserialize, Serialize};
use sluice_model::PromDuration;
use sluice_model::kafka::KafkaConfig;

/// `rule_evaluation:` — how `sluice process` evaluates `rule_files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleEvalConfig {
    /// How far behind the newest sample a sample may arrive and still be
    /// seen by the evaluation it belongs to: a group evaluates at `t` once
    /// every partition that is not idle has data past `t + allowed_lateness`.
    pub allowed_lateness: PromDuration,
    /// How often the evaluation state is checkpointed.
    pub checkpoint_interval: PromDuration,
    /// Consumer group (for committed offsets / lag).
    pub group_id: String,
    /// This instance's shard of the rule groups (each group is evaluated
    /// by exactly one instance; every instance reads every partition).
    pub shard_index: u32,
    /// Number of rule-evaluator instances.
    pub shard_count: u32,
    /// How often a firing alert is resent to Alertmanager (Prometheus'
    /// `--rules.alert.resend-delay`).
    pub resend_delay: PromDuration,
    /// The URL templates see as `$externalURL`; alerts link back to it.
    pub external_url: String,
    /// How long a group's published status (`<prefix>.rules_status`) is
    /// shown by query roles in other processes without being refreshed;
    /// it is refreshed after every evaluation round and every checkpoint,
    /// so this is how long a stopped shard's groups stay listed.
    pub status_ttl: PromDuration,
}

impl Default for RuleEvalConfig {
    fn default() -> Self {
        RuleEvalConfig {
            allowed_lateness: PromDuration::from_secs(15),
            checkpoint_interval: PromDuration::from_secs(10),
            group_id: "sluice-rules".into(),
            shard_index: 0,
            shard_count: 1,
            resend_delay: PromDuration::from_secs(60),
            external_url: "http://localhost:9464".into(),
            status_ttl: PromDuration::from_secs(60),
        }
    }
}

impl RuleEvalConfig {
    /// The alerts topic: one JSON record per alert state change.
    pub fn alerts_topic(&self, kafka: &KafkaConfig) -> String {
        format!("{}.alerts", kafka.topic_prefix)
    }

    /// The checkpoint topic; instance `shard_index` uses that partition.
    pub fn state_topic(&self, kafka: &KafkaConfig) -> String {
        format!("{}.state.rules", kafka.topic_prefix)
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str, kafka: &KafkaConfig) -> Vec<String> {
        let mut errs = Vec::new();
        if self.shard_count == 0 || self.shard_index >= self.shard_count {
            errs.push(format!("{path}.shard_index: must be below shard_count"));
        }
        if self.shard_count > kafka.partitions as u32 {
            errs.push(format!(
                "{path}.shard_count: at most kafka.partitions ({}) instances (each checkpoints on its own partition)",
                kafka.partitions
            ));
        }
        if self.checkpoint_interval.0.is_zero() {
            errs.push(format!("{path}.checkpoint_interval: must be greater than 0"));
        }
        if self.status_ttl.0 < 2 * self.checkpoint_interval.0 {
            errs.push(format!(
                "{path}.status_ttl: must be at least twice checkpoint_interval ({}): the status is refreshed at every checkpoint",
                self.checkpoint_interval
            ));
        }
        if self.resend_delay.0.is_zero() {
            errs.push(format!("{path}.resend_delay: must be greater than 0"));
        }
        errs
    }
}

/// Prometheus' `alerting:` section (static Alertmanager targets).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertingConfig {
    /// Where notifications go; each receives every alert.
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// One `alertmanagers:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertmanagerConfig {
    /// `http` or `https`.
    pub scheme: String,
    /// Prefix before `/api/v2/alerts`.
    pub path_prefix: String,
    /// Per-request timeout.
    pub timeout: PromDuration,
    /// Only `v2` (Alertmanager 0.16+; v1 was removed in 0.27).
    pub api_version: String,
    /// `host:port` targets.
    pub static_configs: Vec<StaticAlertmanagers>,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            scheme: "http".into(),
            path_prefix: String::new(),
            timeout: PromDuration::from_secs(10),
            api_version: "v2".into(),
            static_configs: Vec::new(),
        }
    }
}

/// `static_configs: [{targets: [...]}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaticAlertmanagers {
    /// `host:port` of each Alertmanager.
    pub targets: Vec<String>,
}

impl AlertingConfig {
    /// The `/api/v2/alerts` URL of every configured Alertmanager.
    pub fn endpoints(&self) -> Vec<String> {
        self.alertmanagers
            .iter()
            .flat_map(|am| {
                am.static_configs.iter().flat_map(move |sc| {
                    sc.targets.iter().map(move |t| {
                        format!(
                            "{}://{t}{}/api/v2/alerts",
                            am.scheme,
                            am.path_prefix.trim_end_matches('/')
                        )
                    })
                })
            })
            .collect()
    }

    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        for (i, am) in self.alertmanagers.iter().enumerate() {
            let p = format!("{path}.alertmanagers[{i}]");
            if am.scheme != "http" && am.scheme != "https" {
                errs.push(format!("{p}.scheme: must be http or https, not {:?}", am.scheme));
            }
            if am.api_version != "v2" {
                errs.push(format!(
                    "{p}.api_version: only v2 is supported, not {:?}",
                    am.api_version
                ));
            }
            for (j, sc) in am.static_configs.iter().enumerate() {
                for (k, t) in sc.targets.iter().enumerate() {
                    if t.is_empty() || t.contains('/') || !t.contains(':') {
                        errs.push(format!(
                            "{p}.static_configs[{j}].targets[{k}]: {t:?} is not host:port"
                        ));
                    }
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ttl_must_outlast_two_checkpoints() {
        let kafka = KafkaConfig::default();
        assert!(
            RuleEvalConfig::default()
                .validate("rule_evaluation", &kafka)
                .is_empty()
        );
        let short = RuleEvalConfig {
            checkpoint_interval: PromDuration::from_secs(10),
            status_ttl: PromDuration::from_secs(15),
            ..RuleEvalConfig::default()
        };
        assert_eq!(
            short.validate("rule_evaluation", &kafka),
            [
                "rule_evaluation.status_ttl: must be at least twice checkpoint_interval (10s): the status is refreshed at every checkpoint"
            ]
        );
    }
}
