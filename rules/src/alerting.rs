//! Alerting rules: Prometheus' alert lifecycle (`rules/alerting.go`).
//!
//! Each output series of the expression is one alert, identified by its
//! labels after templating. A new alert is *pending*; it *fires* once it
//! has been active for `for`; when it disappears from the result it is
//! *resolved* (state inactive) — unless it was firing and
//! `keep_firing_for` has not yet passed since it disappeared — and kept
//! for 15 minutes so the resolution is resent to Alertmanager. A pending
//! alert that disappears is dropped without a notification. Times are
//! milliseconds; nothing here reads a clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::{Labels, METRIC_NAME};

use crate::AlertingRule;
use crate::template::AlertData;

/// How long a resolved alert is kept (and resent), as Prometheus.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// The state of one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Resolved (kept for resending) or not active.
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for at least `for`.
    Firing,
}

impl AlertState {
    /// Prometheus' name for the state (the `alertstate` label).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Identity: the expression's labels (without `__name__`) with the
    /// rule's templated labels and `alertname`.
    pub labels: Labels,
    /// Templated annotations (an empty expansion is kept, as Prometheus).
    pub annotations: BTreeMap<String, String>,
    /// Current state.
    pub state: AlertState,
    /// The expression's value at the last evaluation that produced it
    /// (serialised as its bit pattern: JSON has no NaN, checkpoints must be exact).
    #[serde(with = "f64_bits")]
    pub value: f64,
    /// When it became pending.
    pub active_at_ms: i64,
    /// When it started firing.
    pub fired_at_ms: Option<i64>,
    /// When it was resolved.
    pub resolved_at_ms: Option<i64>,
    /// When it was last handed to the notifier.
    pub last_sent_at_ms: Option<i64>,
    /// Until when the last notification is valid (its `endsAt`).
    pub valid_until_ms: Option<i64>,
    /// Since when a firing alert has been kept firing by `keep_firing_for`.
    pub keep_firing_since_ms: Option<i64>,
}

/// An `f64` as its IEEE bit pattern in serde, so NaN (and the staleness
/// marker) survive formats without NaN such as JSON.
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// A rule's alerts, keyed by the fingerprint of their labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertingState {
    /// Pending, firing and recently resolved alerts.
    pub active: BTreeMap<u64, Alert>,
}

/// A change of an alert's state, for the alerts topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    /// The alert's labels.
    pub labels: Labels,
    /// Its annotations at the time of the change.
    pub annotations: BTreeMap<String, String>,
    /// The state before (`None`: the alert is new).
    pub from: Option<AlertState>,
    /// The state after. A pending alert that cleared goes to `Inactive`
    /// and is dropped.
    pub to: AlertState,
    /// Evaluation time of the change.
    pub at_ms: i64,
    /// When the alert became active.
    pub active_at_ms: i64,
    /// When it started firing, if it did.
    pub fired_at_ms: Option<i64>,
    /// The expression's value at the change (the last value for a
    /// resolution). Serialised as its bit pattern, like [`Alert::value`].
    #[serde(with = "f64_bits")]
    pub value: f64,
    /// The rule's `generatorURL` (set by the group evaluation, which knows
    /// the external URL).
    #[serde(default)]
    pub generator_url: String,
}

/// An alert as the notifier sends it to Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// `startsAt`: when the alert started firing.
    pub starts_at_ms: i64,
    /// `endsAt`: the resolution time, or how long the alert stays valid
    /// without being resent.
    pub ends_at_ms: i64,
    /// `generatorURL`.
    pub generator_url: String,
}

/// What one evaluation of an alerting rule produced.
#[derive(Debug, Default)]
pub(crate) struct AlertingOutput {
    /// `ALERTS` and `ALERTS_FOR_STATE` samples (label set, value).
    pub(crate) series: Vec<(Labels, f64)>,
    pub(crate) transitions: Vec<AlertTransition>,
}

/// What templates see besides the alert itself.
pub(crate) struct TemplateEnv<'a> {
    pub(crate) external_labels: &'a Labels,
    pub(crate) external_url: &'a str,
    /// PromQL at the evaluation time, for the `query` template function.
    pub(crate) query: Option<crate::template::QueryFn<'a>>,
}

/// Advances `state` with the expression's result at `ts_ms`.
///
/// On error (duplicate label sets, `limit`) the rule produces nothing; a
/// `limit` error also forgets every alert, as Prometheus does.
pub(crate) fn advance(
    rule: &AlertingRule,
    state: &mut AlertingState,
    result: Vec<(Labels, f64)>,
    ts_ms: i64,
    env: &TemplateEnv<'_>,
    limit: usize,
) -> Result<AlertingOutput, String> {
    let mut out = AlertingOutput::default();
    let mut current: BTreeMap<u64, Alert> = BTreeMap::new();
    for (metric, value) in result {
        let data = AlertData {
            labels: &metric,
            external_labels: env.external_labels,
            external_url: env.external_url,
            value,
            query: env.query,
        };
        let mut labels = metric.without_metric_name();
        for (name, tmpl) in &rule.labels {
            labels.set(name, &tmpl.expand_or_error_text(&data));
        }
        labels.set("alertname", &rule.name);
        let annotations = rule
            .annotations
            .iter()
            .map(|(name, tmpl)| (name.clone(), tmpl.expand_or_error_text(&data)))
            .collect();
        let fp = labels.hash();
        if current.contains_key(&fp) {
            return Err("vector contains metrics with the same labelset after applying alert labels".into());
        }
        current.insert(
            fp,
            Alert {
                labels,
                annotations,
                state: AlertState::Pending,
                value,
                active_at_ms: ts_ms,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
                valid_until_ms: None,
                keep_firing_since_ms: None,
            },
        );
    }

    let returned: Vec<u64> = current.keys().copied().collect();
    for (fp, new) in current {
        match state.active.get_mut(&fp) {
            // An alert still active keeps its state and times; only its value
            // and annotations follow the latest evaluation.
            Some(existing) if existing.state != AlertState::Inactive => {
                existing.value = new.value;
                existing.annotations = new.annotations;
            }
            _ => {
                out.transitions.push(AlertTransition {
                    labels: new.labels.clone(),
                    annotations: new.annotations.clone(),
                    from: None,
                    to: AlertState::Pending,
                    at_ms: ts_ms,
                    active_at_ms: ts_ms,
                    fired_at_ms: None,
                    value: new.value,
                    generator_url: String::new(),
                });
                state.active.insert(fp, new);
            }
        }
    }

    let mut active_count = 0usize;
    let mut dropped = Vec::new();
    for (fp, alert) in state.active.iter_mut() {
        if returned.binary_search(fp).is_err() {
            let mut keep_firing = false;
            if alert.state == AlertState::Firing && rule.keep_firing_for_ms > 0 {
                let since = *alert.keep_firing_since_ms.get_or_insert(ts_ms);
                keep_firing = ts_ms - since < rule.keep_firing_for_ms;
            }
            let expired = alert
                .resolved_at_ms
                .is_some_and(|r| ts_ms - r > RESOLVED_RETENTION_MS);
            if alert.state == AlertState::Pending || expired {
                dropped.push(*fp);
            }
            if alert.state != AlertState::Inactive && !keep_firing {
                out.transitions.push(AlertTransition {
                    labels: alert.labels.clone(),
                    annotations: alert.annotations.clone(),
                    from: Some(alert.state),
                    to: AlertState::Inactive,
                    at_ms: ts_ms,
                    active_at_ms: alert.active_at_ms,
                    fired_at_ms: alert.fired_at_ms,
                    value: alert.value,
                    generator_url: String::new(),
                });
                alert.state = AlertState::Inactive;
                alert.resolved_at_ms = Some(ts_ms);
            }
            if !keep_firing {
                continue;
            }
        } else {
            alert.keep_firing_since_ms = None;
        }
        active_count += 1;
        if alert.state == AlertState::Pending && ts_ms - alert.active_at_ms >= rule.for_ms {
            alert.state = AlertState::Firing;
            alert.fired_at_ms = Some(ts_ms);
            out.transitions.push(AlertTransition {
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                from: Some(AlertState::Pending),
                to: AlertState::Firing,
                at_ms: ts_ms,
                active_at_ms: alert.active_at_ms,
                fired_at_ms: alert.fired_at_ms,
                value: alert.value,
                generator_url: String::new(),
            });
        }
        out.series.push((alert_series(rule, alert, "ALERTS", true), 1.0));
        out.series.push((
            alert_series(rule, alert, "ALERTS_FOR_STATE", false),
            alert.active_at_ms.div_euclid(1000) as f64,
        ));
    }
    for fp in dropped {
        state.active.remove(&fp);
    }
    if limit > 0 && active_count > limit {
        state.active.clear();
        return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
    }
    Ok(out)
}

/// The `ALERTS{alertstate}` / `ALERTS_FOR_STATE` label set. As in
/// Prometheus it starts from the rule's label *templates* and overlays the
/// alert's labels, so a label whose template expanded to nothing keeps its
/// raw text here.
fn alert_series(rule: &AlertingRule, alert: &Alert, metric: &str, with_state: bool) -> Labels {
    let mut labels = Labels::new(rule.labels.iter().map(|(k, t)| (k.as_str(), t.text())));
    for l in &alert.labels {
        labels.set(&l.name, &l.value);
    }
    labels.set(METRIC_NAME, metric);
    labels.set("alertname", &rule.name);
    if with_state {
        labels.set("alertstate", alert.state.as_str());
    }
    labels
}

/// Prometheus' `Alert.needsSending`: firing alerts every `resend_delay`,
/// a resolution as soon as it happens.
fn needs_sending(alert: &Alert, ts_ms: i64, resend_delay_ms: i64) -> bool {
    if alert.state == AlertState::Pending {
        return false;
    }
    match (alert.resolved_at_ms, alert.last_sent_at_ms) {
        (Some(resolved), Some(sent)) if resolved > sent => true,
        (_, None) => true,
        (_, Some(sent)) => sent + resend_delay_ms < ts_ms,
    }
}

/// Prometheus' `sendAlerts`: the alerts to hand to Alertmanager now.
pub(crate) fn notifications(
    state: &mut AlertingState,
    ts_ms: i64,
    resend_delay_ms: i64,
    interval_ms: i64,
    generator_url: &str,
) -> Vec<Notification> {
    let mut out = Vec::new();
    for alert in state.active.values_mut() {
        if !needs_sending(alert, ts_ms, resend_delay_ms) {
            continue;
        }
        alert.last_sent_at_ms = Some(ts_ms);
        // Allow for two missed evaluations or sends before it expires.
        let valid_until = ts_ms + 4 * resend_delay_ms.max(interval_ms);
        alert.valid_until_ms = Some(valid_until);
        out.push(Notification {
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_at_ms),
            ends_at_ms: alert.resolved_at_ms.unwrap_or(valid_until),
            generator_url: generator_url.to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_state_with_a_nan_value_round_trips_through_json() {
        let alert = Alert {
            labels: Labels::new([("alertname", "A")]),
            annotations: BTreeMap::new(),
            state: AlertState::Firing,
            value: f64::NAN,
            active_at_ms: 1,
            fired_at_ms: Some(2),
            resolved_at_ms: None,
            last_sent_at_ms: None,
            valid_until_ms: None,
            keep_firing_since_ms: None,
        };
        let state = AlertingState {
            active: BTreeMap::from([(alert.labels.hash(), alert)]),
        };
        let back: AlertingState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        let a = back.active.values().next().unwrap();
        assert_eq!(a.value.to_bits(), f64::NAN.to_bits());
        assert_eq!((a.state, a.fired_at_ms), (AlertState::Firing, Some(2)));
    }
}
