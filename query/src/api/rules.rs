//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus' shapes, from the
//! rule evaluator running in the same process (`sluice all`). A process
//! without one reports no groups and no alerts.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sluice_rules::status::{GroupStatus, RuleStatus};
use sluice_rules::{Alert, AlertState, Rule};

use super::AppState;
use super::response::{ApiError, labels_json, success};
use super::targets::rfc3339;

const NEVER: &str = "0001-01-01T00:00:00Z";

/// Milliseconds as seconds the way Go encodes a float64 (`60`, `0.5`).
fn seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn alert_json(a: &Alert) -> Value {
    json!({
        "labels": labels_json(&a.labels),
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at_ms),
        "value": sluice_model::float_text::go_exponent(a.value),
    })
}

/// Pending and firing alerts (resolved ones are kept only for resending).
fn live(alerts: &[Alert]) -> impl Iterator<Item = &Alert> {
    alerts.iter().filter(|a| a.state != AlertState::Inactive)
}

fn rule_json(g: &GroupStatus, r: &RuleStatus) -> Value {
    let health = match (&r.last_error, r.evaluated) {
        (Some(_), _) => "err",
        (None, true) => "ok",
        (None, false) => "unknown",
    };
    let last_eval = g.last_eval_ms.map_or(NEVER.to_string(), rfc3339);
    let error = r.last_error.clone().unwrap_or_default();
    match &r.rule {
        Rule::Recording(rec) => {
            let mut r = json!({
                "name": rec.name,
                "query": rec.expr,
                "health": health,
                "evaluationTime": g.eval_seconds,
                "lastEvaluation": last_eval,
                "type": "recording",
            });
            // `omitempty` in Prometheus' rule JSON.
            if !error.is_empty() {
                r["lastError"] = json!(error);
            }
            if !rec.labels.is_empty() {
                r["labels"] = json!(rec.labels.iter().cloned().collect::<HashMap<_, _>>());
            }
            r
        }
        Rule::Alerting(a) => {
            let alerts: Vec<&Alert> = live(&r.alerts).collect();
            let state = if alerts.iter().any(|x| x.state == AlertState::Firing) {
                "firing"
            } else if alerts.is_empty() {
                "inactive"
            } else {
                "pending"
            };
            let mut r = json!({
                "state": state,
                "name": a.name,
                "query": a.expr,
                "duration": seconds(a.for_ms),
                "keepFiringFor": seconds(a.keep_firing_for_ms),
                "labels": a.labels.iter().map(|(k, t)| (k.clone(), t.text().to_string())).collect::<HashMap<_, _>>(),
                "annotations": a.annotations.iter().map(|(k, t)| (k.clone(), t.text().to_string())).collect::<HashMap<_, _>>(),
                "alerts": alerts.into_iter().map(alert_json).collect::<Vec<_>>(),
                "health": health,
                "evaluationTime": g.eval_seconds,
                "lastEvaluation": last_eval,
                "type": "alerting",
            });
            if !error.is_empty() {
                r["lastError"] = json!(error);
            }
            r
        }
    }
}

/// `GET /api/v1/rules[?type=alert|record]`
pub(super) async fn rules(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let want = match q.get("type").map(String::as_str) {
        None | Some("") => None,
        Some("alert") => Some(true),
        Some("record") => Some(false),
        Some(other) => return ApiError::bad_data(format!("unsupported type {other:?}")).into_response(),
    };
    let groups: Vec<Value> = st
        .rules
        .as_ref()
        .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).groups.clone())
        .unwrap_or_default()
        .iter()
        .map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter(|r| want.is_none_or(|alert| matches!(r.rule, Rule::Alerting(_)) == alert))
                .map(|r| rule_json(g, r))
                .collect();
            json!({
                "name": g.name,
                "file": g.file,
                "rules": rules,
                "interval": seconds(g.interval_ms),
                "limit": 0,
                "evaluationTime": g.eval_seconds,
                "lastEvaluation": g.last_eval_ms.map_or(NEVER.to_string(), rfc3339),
            })
        })
        .collect();
    success(json!({ "groups": groups }), &[], &[])
}

/// `GET /api/v1/alerts`
pub(super) async fn alerts(State(st): State<AppState>) -> Response {
    let alerts: Vec<Value> = st
        .rules
        .as_ref()
        .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).groups.clone())
        .unwrap_or_default()
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| live(&r.alerts).map(alert_json).collect::<Vec<_>>())
        .collect();
    success(json!({ "alerts": alerts }), &[], &[])
}
