//! `/api/v1/query` and `/api/v1/query_range`.

use axum::extract::State;
use axum::response::Response;

use super::AppState;
use super::params::{Params, parse_duration_param, parse_time};
use super::response::{ApiError, success, value_json};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn required<'a>(p: &'a Params, key: &str) -> Result<&'a str, ApiError> {
    p.get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{key}\": missing")))
}

pub(crate) fn time_param(p: &Params, key: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(key) {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}"))),
    }
}

/// Instant query.
pub(super) async fn instant(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let query = required(&p, "query")?;
    let t = time_param(&p, "time", now_ms())?;
    let res = st.engine.instant(st.source.as_ref(), query, t).await?;
    Ok(success(value_json(&res.value), &res.warnings, &res.infos))
}

/// Range query.
pub(super) async fn range(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let query = required(&p, "query")?;
    let start = parse_time(required(&p, "start")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"start\": {e}")))?;
    let end = parse_time(required(&p, "end")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"end\": {e}")))?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = parse_duration_param(required(&p, "step")?)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let res = st
        .engine
        .range(st.source.as_ref(), query, start, end, step)
        .await?;
    Ok(success(value_json(&res.value), &res.warnings, &res.infos))
}
