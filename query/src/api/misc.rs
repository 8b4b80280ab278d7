//! Smaller read endpoints Prometheus clients (Grafana, promtool) call.

use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use sluice_model::clock::{SystemClock, TimeProvider};

use super::AppState;
use super::params::Params;
use super::response::{ApiError, success};
use crate::metric_metadata::MetadataQuery;

/// `GET|POST /api/v1/format_query`: the query, pretty-printed.
pub(super) async fn format_query(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let query = p
        .get("query")
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": missing"))?;
    let invalid = |e: String| ApiError::bad_data(format!("invalid parameter \"query\": {e}"));
    let expr = sluice_promql::parse_expr(query).map_err(invalid)?;
    // Prometheus' parser refuses disabled experimental syntax here too.
    st.engine
        .check_enabled(&expr)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(success(json!(expr.prettify()), &[], &[]))
}

/// `GET /api/v1/metadata`: per metric family, the distinct TYPE/HELP/UNIT
/// entries the scrape workers and remote_write senders reported (see
/// [`crate::metric_metadata`]); params `metric`, `limit`,
/// `limit_per_metric` as in Prometheus.
pub(super) async fn metadata(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let number = |name: &str, default: i64| -> Result<i64, ApiError> {
        p.get(name).filter(|s| !s.is_empty()).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| ApiError::bad_data(format!("{name} must be a number")))
        })
    };
    let q = MetadataQuery {
        metric: p.get("metric").filter(|m| !m.is_empty()).map(str::to_string),
        limit: number("limit", -1)?,
        limit_per_metric: number("limit_per_metric", 0)?,
    };
    let data = match &st.metadata {
        Some(store) => serde_json::to_value(store.query(&q, SystemClock.now_ms()))
            .map_err(|e| ApiError::internal(e.to_string()))?,
        None => json!({}),
    };
    Ok(success(data, &[], &[]))
}

/// `GET|POST /api/v1/query_exemplars`: exemplars are dropped at ingest.
pub(super) async fn query_exemplars() -> Response {
    success(json!([]), &[], &[])
}

/// `GET /api/v1/status/runtimeinfo`
pub(super) async fn runtimeinfo(State(st): State<AppState>) -> Response {
    let segments = st.index.refresh().await.map(|s| s.len()).unwrap_or(0);
    success(
        json!({
            "startTime": st.started_at,
            "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
            "reloadConfigSuccess": true,
            "lastConfigTime": st.started_at,
            "corruptionCount": 0,
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": "unlimited",
            "segments": segments,
        }),
        &[],
        &[],
    )
}

/// `GET /api/v1/status/flags`: the engine settings, under Prometheus' flag names.
/// `GET /api/v1/status/config`: the effective config of this process.
pub(super) async fn config(State(st): State<AppState>) -> Response {
    let yaml = st.config_yaml.as_deref().map_or("", String::as_str);
    success(json!({ "yaml": yaml }), &[], &[])
}

pub(super) async fn flags(State(st): State<AppState>) -> Response {
    let o = &st.engine.options;
    // Prometheus lists its enabled feature flags comma-separated.
    let features = if o.experimental_functions {
        "promql-experimental-functions"
    } else {
        ""
    };
    success(
        json!({
            "enable-feature": features,
            "query.lookback-delta": sluice_model::PromDuration(std::time::Duration::from_millis(o.lookback_delta_ms as u64)).to_string(),
            "query.max-concurrency": st.queue.max_concurrency().to_string(),
            "query.max-samples": o.max_samples.to_string(),
            "query.timeout": sluice_model::PromDuration(o.timeout).to_string(),
        }),
        &[],
        &[],
    )
}
