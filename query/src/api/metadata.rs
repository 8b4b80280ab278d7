//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::Response;
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;
use serde_json::Value as Json;
use sluice_model::{Labels, METRIC_NAME};
use sluice_promql::parse_expr;
use sluice_promql::{MatchOp, Matcher, SeriesSource};

use super::AppState;
use super::params::{MAX_TIME_MS, MIN_TIME_MS, Params};
use super::query::time_param as optional_time;
use super::response::{ApiError, labels_json, success};

/// The matcher sets of a `match[]` selector (several for `or` selectors).
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = parse_expr(s)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        ));
    };
    let convert = |ms: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, String> {
        let mut out: Vec<Matcher> = Vec::new();
        if let Some(name) = &vs.name {
            out.push(Matcher::new(METRIC_NAME, MatchOp::Equal, name.clone()).map_err(|e| e.to_string())?);
        }
        for m in ms {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            out.push(Matcher::new(m.name.clone(), op, m.value.clone()).map_err(|e| e.to_string())?);
        }
        Ok(out)
    };
    if vs.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&vs.matchers.matchers)?])
    } else {
        vs.matchers.or_matchers.iter().map(|ms| convert(ms)).collect()
    }
}

struct Window {
    start: i64,
    end: i64,
    limit: Option<usize>,
}

fn window(p: &Params) -> Result<Window, ApiError> {
    let limit = match p.get("limit") {
        None | Some("") => None,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n > 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"limit\": cannot parse {s:?}"
                )));
            }
        },
    };
    Ok(Window {
        start: optional_time(p, "start", MIN_TIME_MS)?,
        end: optional_time(p, "end", MAX_TIME_MS)?,
        limit,
    })
}

/// Distinct label sets matching any of the `match[]` selectors.
async fn matching_series(
    st: &AppState,
    selectors: &[&str],
    w: &Window,
) -> Result<BTreeSet<Labels>, ApiError> {
    let mut out = BTreeSet::new();
    for sel in selectors {
        let sets = parse_selector(sel)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
        for matchers in sets {
            if matchers.iter().all(|m| m.matches_empty()) {
                return Err(ApiError::bad_data(
                    "match[] must contain at least one non-empty matcher",
                ));
            }
            let series = st
                .source
                .select(&matchers, w.start, w.end)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend(series.into_iter().map(|s| s.labels));
        }
    }
    Ok(out)
}

/// `GET|POST /api/v1/series`
pub(super) async fn series(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let selectors = p.all("match[]");
    if selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let w = window(&p)?;
    let set = matching_series(&st, &selectors, &w).await?;
    let data: Vec<Json> = set
        .iter()
        .take(w.limit.unwrap_or(usize::MAX))
        .map(labels_json)
        .collect();
    Ok(success(Json::Array(data), &[], &[]))
}

/// `GET|POST /api/v1/labels`
pub(super) async fn labels(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let w = window(&p)?;
    let selectors = p.all("match[]");
    let mut names: BTreeSet<String> = BTreeSet::new();
    if selectors.is_empty() {
        let segs = st
            .index
            .candidates(w.start, w.end, &|_| true)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for s in &segs {
            names.insert(METRIC_NAME.to_string());
            names.extend(s.metrics.values().flatten().cloned());
        }
    } else {
        for l in matching_series(&st, &selectors, &w).await? {
            names.extend(l.iter().map(|l| l.name.clone()));
        }
    }
    let data: Vec<Json> = names
        .into_iter()
        .take(w.limit.unwrap_or(usize::MAX))
        .map(Json::String)
        .collect();
    Ok(success(Json::Array(data), &[], &[]))
}

/// `GET /api/v1/label/<name>/values`
pub(super) async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let w = window(&p)?;
    let selectors = p.all("match[]");
    let mut values: BTreeSet<String> = BTreeSet::new();
    if selectors.is_empty() && name == METRIC_NAME {
        let segs = st
            .index
            .candidates(w.start, w.end, &|_| true)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        for s in &segs {
            values.extend(s.metrics.keys().cloned());
        }
    } else if selectors.is_empty() {
        values = st
            .sql
            .distinct_label_values(&name, w.start, w.end)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    } else {
        for l in matching_series(&st, &selectors, &w).await? {
            if let Some(v) = l.get(&name) {
                values.insert(v.to_string());
            }
        }
    }
    let data: Vec<Json> = values
        .into_iter()
        .take(w.limit.unwrap_or(usize::MAX))
        .map(Json::String)
        .collect();
    Ok(success(Json::Array(data), &[], &[]))
}
