//! `/api/v1/query` and `/api/v1/query_range`.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_promql::{Engine, MaxSourceResolution, QueryError, QueryOptions, QueryResult};
use sluice_sink::segment::SAMPLES_TABLE;

use super::AppState;
use super::params::{Params, parse_duration_param, parse_time};
use super::response::{ApiError, success_value};
use crate::segments::source::SegmentSource;

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

/// The response header naming the tables a query read, e.g.
/// `samples_1h,samples`: which data answered (the raw samples, or a
/// downsampled tier chosen by `max_source_resolution`).
pub(crate) const TABLES_READ_HEADER: &str = "sluice-tables-read";

/// `max_source_resolution` (Thanos' parameter): `auto`, `0s`, `5m`, `1h`,
/// ...; the configured default when absent.
fn query_options(st: &AppState, p: &Params) -> Result<QueryOptions, ApiError> {
    let max_source_resolution = match p.get("max_source_resolution") {
        None | Some("") => st.max_source_resolution,
        Some(v) => MaxSourceResolution::parse(v)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"max_source_resolution\": {e}")))?,
    };
    Ok(QueryOptions {
        max_source_resolution,
        ..Default::default()
    })
}

/// `stats`: absent, `true`-like (timings and totals), or `all` (also per
/// step), as Prometheus reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StatsParam {
    Off,
    Totals,
    All,
}

fn stats_param(p: &Params) -> StatsParam {
    match p.get("stats") {
        None | Some("") => StatsParam::Off,
        Some("all") => StatsParam::All,
        Some(_) => StatsParam::Totals,
    }
}

/// Prometheus' `stats` object: timings in seconds, then sample counts.
fn stats_json(res: &QueryResult, queue_wait: Duration, which: StatsParam) -> serde_json::Value {
    let s = &res.stats;
    let eval_total = s.preparation + s.inner_eval + s.result_sort;
    let mut samples = serde_json::Map::new();
    if which == StatsParam::All
        && let Some(per_step) = &s.total_queryable_samples_per_step
    {
        let steps: Vec<serde_json::Value> = per_step
            .iter()
            .map(|&(t, n)| serde_json::json!([t as f64 / 1000.0, n]))
            .collect();
        samples.insert("totalQueryableSamplesPerStep".into(), steps.into());
    }
    samples.insert("totalQueryableSamples".into(), s.total_queryable_samples.into());
    samples.insert("peakSamples".into(), s.peak_samples.into());
    serde_json::json!({
        "timings": {
            "evalTotalTime": eval_total.as_secs_f64(),
            "resultSortTime": s.result_sort.as_secs_f64(),
            "queryPreparationTime": s.preparation.as_secs_f64(),
            "innerEvalTime": s.inner_eval.as_secs_f64(),
            "execQueueTime": queue_wait.as_secs_f64(),
            "execTotalTime": (queue_wait + eval_total).as_secs_f64(),
        },
        "samples": samples,
    })
}

/// The success response, with the tables read in [`TABLES_READ_HEADER`]
/// and, when asked, the `stats`.
fn respond(st: &AppState, res: &QueryResult, stats: Option<serde_json::Value>) -> Response {
    let mut tables: Vec<&str> = res
        .reads
        .tiers_ms
        .iter()
        .rev()
        .filter_map(|r| {
            st.tier_tables
                .iter()
                .find(|t| t.resolution_ms == *r)
                .map(|t| t.table.as_str())
        })
        .collect();
    if res.reads.raw {
        tables.push(SAMPLES_TABLE);
    }
    tracing::debug!(tables = ?tables, "query read");
    let mut resp = success_value(&res.value, &res.warnings, &res.infos, stats.as_ref());
    if let Ok(v) = HeaderValue::from_str(&tables.join(",")) {
        resp.headers_mut().insert(TABLES_READ_HEADER, v);
    }
    resp
}

/// Instant query.
pub(super) async fn instant(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let query = required(&p, "query")?;
    let t = time_param(&p, "time", now_ms())?;
    let opts = query_options(&st, &p)?;
    let (res, queue_wait) = queued(&st, query, opts, move |engine, source, query, opts| async move {
        engine.instant_with(source.as_ref(), &query, t, opts).await
    })
    .await?;
    Ok(respond_with_stats(&st, &p, &res, queue_wait))
}

fn respond_with_stats(st: &AppState, p: &Params, res: &QueryResult, queue_wait: Duration) -> Response {
    let stats = match stats_param(p) {
        StatsParam::Off => None,
        which => Some(stats_json(res, queue_wait, which)),
    };
    respond(st, res, stats)
}

/// Parses `query` (an unparsable one is answered at once, not after the
/// queue), waits for a query slot, then runs `eval` with the slot's
/// deadline on the query runtime. Also says how long it waited.
async fn queued<F, Fut>(
    st: &AppState,
    query: &str,
    mut opts: QueryOptions,
    eval: F,
) -> Result<(QueryResult, Duration), ApiError>
where
    F: FnOnce(Arc<Engine>, Arc<SegmentSource>, String, QueryOptions) -> Fut,
    Fut: Future<Output = Result<QueryResult, QueryError>> + Send + 'static,
{
    st.engine.check(query)?;
    let arrived = Instant::now();
    let admitted = st.queue.admit().await?;
    let queue_wait = arrived.elapsed();
    opts.deadline = Some(admitted.deadline);
    let work = eval(st.engine.clone(), st.source.clone(), query.to_string(), opts);
    Ok((admitted.run(work).await??, queue_wait))
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
    let opts = query_options(&st, &p)?;
    let (res, queue_wait) = queued(&st, query, opts, move |engine, source, query, opts| async move {
        engine
            .range_with(source.as_ref(), &query, start, end, step, opts)
            .await
    })
    .await?;
    Ok(respond_with_stats(&st, &p, &res, queue_wait))
}
