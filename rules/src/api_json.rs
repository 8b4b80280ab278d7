//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus' shapes, as typed
//! values. The evaluator's [`GroupStatus`] holds [`crate::Rule`]s (with
//! parsed templates, not serialisable); [`group_json`] renders a group
//! once, and the same value is what `sluice all` answers from memory and
//! what a process shard publishes on the rules-status topic for a separate
//! query role (see [`crate::status_record`]), so both answer one shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::status::{GroupStatus, RuleStatus};
use crate::{Alert, AlertState, Rule};

/// Prometheus' `lastEvaluation` of a rule never evaluated (Go's zero time).
pub const NEVER: &str = "0001-01-01T00:00:00Z";

/// One group of `/api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupJson {
    /// Group name.
    pub name: String,
    /// The rule file.
    pub file: String,
    /// Rules in file order.
    pub rules: Vec<RuleJson>,
    /// Evaluation interval, seconds.
    #[serde(serialize_with = "go_float")]
    pub interval: f64,
    /// Prometheus reports the group's `limit:`; Sluice always 0, as before.
    pub limit: u64,
    /// Wall-clock seconds the last evaluation took.
    pub evaluation_time: f64,
    /// RFC 3339 event time of the last evaluation, [`NEVER`] if none.
    pub last_evaluation: String,
}

/// A rule of a group, tagged `"type": "recording" | "alerting"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RuleJson {
    /// `record:`
    Recording(RecordingRuleJson),
    /// `alert:`
    Alerting(AlertingRuleJson),
}

/// A recording rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRuleJson {
    /// Output metric name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// Labels set on the output (`omitempty` in Prometheus).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `ok`, `err` or `unknown`.
    pub health: String,
    /// The last evaluation's error (`omitempty`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// Seconds the group's last evaluation took.
    pub evaluation_time: f64,
    /// RFC 3339, [`NEVER`] if none.
    pub last_evaluation: String,
}

/// An alerting rule with its live alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertingRuleJson {
    /// `firing` if any alert fires, `pending` if any is pending, else `inactive`.
    pub state: String,
    /// `alertname`.
    pub name: String,
    /// The expression.
    pub query: String,
    /// `for:`, seconds.
    #[serde(serialize_with = "go_float")]
    pub duration: f64,
    /// `keep_firing_for:`, seconds.
    #[serde(serialize_with = "go_float")]
    pub keep_firing_for: f64,
    /// Label templates as written.
    pub labels: BTreeMap<String, String>,
    /// Annotation templates as written.
    pub annotations: BTreeMap<String, String>,
    /// Pending and firing alerts.
    pub alerts: Vec<AlertJson>,
    /// `ok`, `err` or `unknown`.
    pub health: String,
    /// The last evaluation's error (`omitempty`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
    /// Seconds the group's last evaluation took.
    pub evaluation_time: f64,
    /// RFC 3339, [`NEVER`] if none.
    pub last_evaluation: String,
}

/// One alert, as in `/api/v1/alerts` and inside an alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertJson {
    /// Its labels (with `alertname`).
    pub labels: BTreeMap<String, String>,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// `pending` or `firing`.
    pub state: String,
    /// RFC 3339.
    pub active_at: String,
    /// The value, as Go prints a float64 with `%e` (`4e+01`).
    pub value: String,
}

/// Which rules `/api/v1/rules?type=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleType {
    /// `type=alert`
    Alerting,
    /// `type=record`
    Recording,
}

impl RuleType {
    /// The `type` parameter: empty means all rules; anything but `alert`
    /// and `record` is an error (Prometheus answers 400).
    pub fn parse(s: &str) -> Result<Option<RuleType>, String> {
        match s {
            "" => Ok(None),
            "alert" => Ok(Some(RuleType::Alerting)),
            "record" => Ok(Some(RuleType::Recording)),
            other => Err(format!("unsupported type {other:?}")),
        }
    }
}

impl RuleJson {
    fn is(&self, t: RuleType) -> bool {
        matches!(
            (self, t),
            (RuleJson::Alerting(_), RuleType::Alerting) | (RuleJson::Recording(_), RuleType::Recording)
        )
    }
}

impl GroupJson {
    /// The group with only the rules of type `want` (all if `None`).
    pub fn only(mut self, want: Option<RuleType>) -> GroupJson {
        if let Some(t) = want {
            self.rules.retain(|r| r.is(t));
        }
        self
    }

    /// Its live alerts, rule by rule.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertJson> {
        self.rules.iter().flat_map(|r| match r {
            RuleJson::Alerting(a) => a.alerts.as_slice(),
            RuleJson::Recording(_) => &[],
        })
    }
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A float the way Go's encoder writes a float64: whole numbers without a
/// fraction (`60`, not `60.0`), others as they are (`0.5`).
fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// Pending and firing alerts (resolved ones are kept only for resending).
fn live(alerts: &[Alert]) -> impl Iterator<Item = &Alert> {
    alerts.iter().filter(|a| a.state != AlertState::Inactive)
}

fn alert_json(a: &Alert) -> AlertJson {
    AlertJson {
        labels: a
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        annotations: a.annotations.clone(),
        state: a.state.as_str().to_string(),
        active_at: rfc3339(a.active_at_ms),
        value: sluice_model::float_text::go_exponent(a.value),
    }
}

fn rule_json(g: &GroupStatus, r: &RuleStatus) -> RuleJson {
    let health = match (&r.last_error, r.evaluated) {
        (Some(_), _) => "err",
        (None, true) => "ok",
        (None, false) => "unknown",
    }
    .to_string();
    let last_evaluation = g.last_eval_ms.map_or(NEVER.to_string(), rfc3339);
    let last_error = r.last_error.clone().unwrap_or_default();
    match &r.rule {
        Rule::Recording(rec) => RuleJson::Recording(RecordingRuleJson {
            name: rec.name.clone(),
            query: rec.expr.clone(),
            labels: rec.labels.iter().cloned().collect(),
            health,
            last_error,
            evaluation_time: g.eval_seconds,
            last_evaluation,
        }),
        Rule::Alerting(a) => {
            let alerts: Vec<AlertJson> = live(&r.alerts).map(alert_json).collect();
            let state = if alerts.iter().any(|x| x.state == AlertState::Firing.as_str()) {
                "firing"
            } else if alerts.is_empty() {
                "inactive"
            } else {
                "pending"
            };
            let templates = |ts: &[(String, crate::template::Template)]| {
                ts.iter()
                    .map(|(k, t)| (k.clone(), t.text().to_string()))
                    .collect()
            };
            RuleJson::Alerting(AlertingRuleJson {
                state: state.to_string(),
                name: a.name.clone(),
                query: a.expr.clone(),
                duration: a.for_ms as f64 / 1000.0,
                keep_firing_for: a.keep_firing_for_ms as f64 / 1000.0,
                labels: templates(&a.labels),
                annotations: templates(&a.annotations),
                alerts,
                health,
                last_error,
                evaluation_time: g.eval_seconds,
                last_evaluation,
            })
        }
    }
}

/// A group's status as `/api/v1/rules` shows it (all its rules).
pub fn group_json(g: &GroupStatus) -> GroupJson {
    GroupJson {
        name: g.name.clone(),
        file: g.file.clone(),
        rules: g.rules.iter().map(|r| rule_json(g, r)).collect(),
        interval: g.interval_ms as f64 / 1000.0,
        limit: 0,
        evaluation_time: g.eval_seconds,
        last_evaluation: g.last_eval_ms.map_or(NEVER.to_string(), rfc3339),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{GroupStatus, RuleStatus};
    use crate::{LoadOptions, load_str};

    fn status() -> GroupStatus {
        let groups = load_str(
            "f.yml",
            "groups:\n  - name: g\n    interval: 1500ms\n    rules:\n      - record: r\n        expr: up\n      - alert: A\n        expr: up == 1\n        for: 1m\n        labels: {severity: page}\n        annotations: {summary: '{{ $value }}'}\n",
            LoadOptions::default(),
        )
        .unwrap();
        let g = &groups[0];
        GroupStatus {
            name: g.name.clone(),
            file: g.file.clone(),
            interval_ms: 1500,
            last_eval_ms: Some(1_700_000_000_000),
            eval_seconds: 0.25,
            rules: g
                .rules
                .iter()
                .map(|r| RuleStatus {
                    rule: r.clone(),
                    last_error: None,
                    evaluated: true,
                    alerts: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn renders_prometheus_shape_and_reads_back() {
        let g = group_json(&status());
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["interval"], serde_json::json!(1.5));
        assert_eq!(v["lastEvaluation"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["rules"][0]["type"], "recording");
        assert!(v["rules"][0].get("labels").is_none(), "omitempty");
        assert!(v["rules"][0].get("lastError").is_none(), "omitempty");
        let a = &v["rules"][1];
        assert_eq!(a["type"], "alerting");
        assert_eq!(a["duration"].to_string(), "60");
        assert_eq!(a["keepFiringFor"].to_string(), "0");
        assert_eq!(a["state"], "inactive");
        assert_eq!(a["labels"]["severity"], "page");
        assert_eq!(a["annotations"]["summary"], "{{ $value }}");
        assert_eq!(a["health"], "ok");
        let back: GroupJson = serde_json::from_value(v).unwrap();
        assert_eq!(back, g);
        assert_eq!(g.clone().only(Some(RuleType::Alerting)).rules.len(), 1);
        assert_eq!(g.clone().only(Some(RuleType::Recording)).rules.len(), 1);
        assert_eq!(g.only(None).rules.len(), 2);
    }

    #[test]
    fn rule_type_parameter() {
        assert_eq!(RuleType::parse(""), Ok(None));
        assert_eq!(RuleType::parse("alert"), Ok(Some(RuleType::Alerting)));
        assert_eq!(RuleType::parse("record"), Ok(Some(RuleType::Recording)));
        assert!(RuleType::parse("alerts").is_err());
    }
}
