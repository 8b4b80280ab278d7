//! The alerts topic's record: one JSON object per alert state change.
//!
//! The fields are those Alertmanager's `/api/v2/alerts` takes (`labels`,
//! `annotations`, `startsAt`, `endsAt`, `generatorURL`) plus the state
//! change and where it came from, so a consumer can both forward alerts
//! and follow their lifecycle. The key is the alert's label fingerprint
//! (16 hex digits), so one alert's changes stay in order on one
//! partition. Field by field in `docs/bus-format.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use sluice_model::Labels;
use sluice_rules::{AlertState, AlertTransition};

/// One alert state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    /// The alert's identity.
    pub labels: BTreeMap<String, String>,
    /// Templated annotations at the time of the change.
    pub annotations: BTreeMap<String, String>,
    /// `pending`, `firing` or `inactive` (a firing alert that resolved, or
    /// a pending alert that cleared before `for` elapsed).
    pub state: String,
    /// The state before the change; absent for a new alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<String>,
    /// When the alert became active (pending or firing since).
    pub active_at: String,
    /// As sent to Alertmanager: when it started firing (for a pending
    /// alert, when it became active).
    pub starts_at: String,
    /// The resolution time (`inactive` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// The event time of the evaluation that made the change.
    pub evaluated_at: String,
    /// The expression's value at that evaluation, as Prometheus'
    /// `/api/v1/alerts` prints it (`2e+01`).
    pub value: String,
    /// Link back to the expression.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// The rule group.
    pub group: String,
    /// The rule file of the group.
    pub file: String,
    /// Label fingerprint, as the record key.
    pub fingerprint: String,
}

impl AlertRecord {
    /// The record of `t`, a change of an alert of group `group` in `file`.
    pub fn from_transition(t: &AlertTransition, group: &str, file: &str) -> Self {
        let iso = |ms: i64| rfc3339(ms);
        AlertRecord {
            labels: label_map(&t.labels),
            annotations: t.annotations.clone(),
            state: t.to.as_str().to_string(),
            previous_state: t.from.map(|s| s.as_str().to_string()),
            active_at: iso(t.active_at_ms),
            starts_at: iso(t.fired_at_ms.unwrap_or(t.active_at_ms)),
            ends_at: (t.to == AlertState::Inactive).then(|| iso(t.at_ms)),
            evaluated_at: iso(t.at_ms),
            value: sluice_model::float_text::go_exponent(t.value),
            generator_url: t.generator_url.clone(),
            group: group.to_string(),
            file: file.to_string(),
            fingerprint: fingerprint(&t.labels),
        }
    }

    /// What identifies the record for de-duplication after a restart.
    pub fn identity(&self) -> (String, String, String) {
        (
            self.fingerprint.clone(),
            self.state.clone(),
            self.evaluated_at.clone(),
        )
    }
}

/// The record key of an alert.
pub fn fingerprint(labels: &Labels) -> String {
    format!("{:016x}", labels.hash())
}

/// Labels as a JSON object.
pub(crate) fn label_map(labels: &Labels) -> BTreeMap<String, String> {
    labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

/// Milliseconds since the epoch in RFC 3339 with milliseconds, UTC.
pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_carries_alertmanager_fields_and_state() {
        let t = AlertTransition {
            labels: Labels::new([("alertname", "HighErrors"), ("job", "api")]),
            annotations: BTreeMap::from([("summary".to_string(), "errors".to_string())]),
            from: Some(AlertState::Firing),
            to: AlertState::Inactive,
            at_ms: 1_700_000_060_000,
            active_at_ms: 1_700_000_000_000,
            fired_at_ms: Some(1_700_000_030_000),
            value: 1.5,
            generator_url: "http://x/graph".into(),
        };
        let r = AlertRecord::from_transition(&t, "g", "rules.yml");
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["state"], "inactive");
        assert_eq!(json["previousState"], "firing");
        assert_eq!(json["startsAt"], "2023-11-14T22:13:50.000Z");
        assert_eq!(json["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(json["labels"]["job"], "api");
        assert_eq!(json["generatorURL"], "http://x/graph");
        assert_eq!(json["value"], "1.5e+00");
        assert_eq!(r.fingerprint.len(), 16);
        let back: AlertRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
