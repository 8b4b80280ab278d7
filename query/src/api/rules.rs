//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus' shapes
//! ([`sluice_rules::api_json`]), from the process' [`RulesView`]: the
//! evaluator in the same process (`sluice all`), or the shards' statuses
//! followed from the rules-status topic (a query role of its own). No view:
//! no groups and no alerts.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_rules::api_json::{AlertJson, GroupJson, RuleType};

use super::AppState;
use super::response::{ApiError, success};

fn groups(st: &AppState) -> Vec<GroupJson> {
    st.rules.as_ref().map(|v| v.groups()).unwrap_or_default()
}

/// `GET /api/v1/rules[?type=alert|record]`
pub(super) async fn rules(State(st): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let want = match RuleType::parse(q.get("type").map_or("", String::as_str)) {
        Ok(w) => w,
        Err(e) => return ApiError::bad_data(e).into_response(),
    };
    let groups: Vec<GroupJson> = groups(&st).into_iter().map(|g| g.only(want)).collect();
    success(json!({ "groups": groups }), &[], &[])
}

/// `GET /api/v1/alerts`: every group's pending and firing alerts, in group
/// and rule order.
pub(super) async fn alerts(State(st): State<AppState>) -> Response {
    let groups = groups(&st);
    let alerts: Vec<&AlertJson> = groups.iter().flat_map(GroupJson::alerts).collect();
    success(json!({ "alerts": alerts }), &[], &[])
}
