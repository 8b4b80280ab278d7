//! Public entry points of the engine: parse, plan and fetch, evaluate, and
//! shape the result as Prometheus' API does.

use std::time::{Duration, Instant};

use promql_parser::parser::{Expr, value::ValueType};
use sluice_model::Sample;

use std::collections::HashSet;

use crate::eval::selector::selector_key;
use crate::eval::{self, Annotations, Evaluator, Grid, Val, precomputed};
use crate::leaves::{self, FoundLeaf, Leaf};
use crate::plan::SelectRequest;
use crate::resolution::{self, MaxSourceResolution, Reads};
use crate::stats::{QueryStats, SampleCounter};
use crate::value::{InstantSample, RangeSeries};
use crate::{SeriesSource, SourceError, Value, plan};

/// Limits and defaults, as Prometheus' flags name them.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta` (default 5 m).
    pub lookback_delta_ms: i64,
    /// `--query.max-samples` (default 50,000,000).
    pub max_samples: usize,
    /// Raw samples one query may read from storage (default 100,000,000,
    /// about 1.6 GB held): Prometheus streams selector data, Sluice holds
    /// a query's reads whole, so this bounds their memory.
    pub max_fetched_samples: usize,
    /// `--query.timeout` (default 2 m).
    pub timeout: Duration,
    /// `--enable-feature=promql-experimental-functions` (default off):
    /// allows `limitk` and `limit_ratio` (see `crate::experimental`).
    pub experimental_functions: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            max_fetched_samples: 100_000_000,
            timeout: Duration::from_secs(120),
            experimental_functions: false,
        }
    }
}

/// A query's value plus Prometheus' annotations.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// Warning annotations (`PromQL warning: ...`).
    pub warnings: Vec<String>,
    /// Info annotations (`PromQL info: ...`).
    pub infos: Vec<String>,
    /// Which data the query read: raw samples and/or downsampled tiers.
    pub reads: Reads,
    /// Timings and sample counts (Prometheus' `stats`).
    pub stats: QueryStats,
}

/// Per-query settings beyond the expression and its times.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryOptions {
    /// The coarsest downsampled tier the query may read (default: raw only).
    pub max_source_resolution: MaxSourceResolution,
    /// When the query times out. Default: `timeout` after evaluation
    /// starts. A server that queues queries sets it from the request's
    /// arrival, so the time spent waiting counts (Prometheus'
    /// `--query.timeout` covers its query queue too).
    pub deadline: Option<Instant>,
}

/// Why a query failed, in Prometheus' error classes.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse or is ill-typed (HTTP 400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (HTTP 422 `execution`), e.g. too many samples.
    #[error("{0}")]
    Execution(String),
    /// The query ran past the timeout (HTTP 503 `timeout`).
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The storage failed (HTTP 500 `internal`).
    #[error("storage error: {0}")]
    Source(SourceError),
}

impl From<SourceError> for QueryError {
    fn from(e: SourceError) -> Self {
        if e.is_sample_limit() {
            QueryError::Execution(e.0)
        } else {
            QueryError::Source(e)
        }
    }
}

impl QueryError {
    /// Prometheus' `errorType` string.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Source(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_) => 422,
            QueryError::Timeout(_) => 503,
            QueryError::Source(_) => 500,
        }
    }
}

/// Prometheus' limit on points per series of a range query (API level).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates PromQL over a [`SeriesSource`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Options in force.
    pub options: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Parses `query` without evaluating it: `Ok` with the expression's
    /// value type (`"scalar"`, `"vector"`, `"matrix"` or `"string"`), or the
    /// `bad_data` error Prometheus would answer with.
    pub fn parse_check(query: &str) -> Result<&'static str, QueryError> {
        Ok(type_name(&parse(query)?))
    }

    /// Parses `query` as [`Engine::parse_check`] does, then refuses the
    /// experimental aggregations unless they are enabled: the `bad_data`
    /// error Prometheus with the same feature flags would answer with.
    pub fn check(&self, query: &str) -> Result<&'static str, QueryError> {
        let expr = parse(query)?;
        self.check_enabled(&expr)?;
        Ok(type_name(&expr))
    }

    /// Refuses `expr` if it uses what these options leave disabled (the
    /// experimental aggregations), with Prometheus' `bad_data` message.
    pub fn check_enabled(&self, expr: &Expr) -> Result<(), QueryError> {
        if self.options.experimental_functions {
            Ok(())
        } else {
            crate::experimental::check_disabled(expr)
        }
    }

    /// Instant query at `time_ms`.
    pub async fn instant(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_with(source, query, time_ms, QueryOptions::default())
            .await
    }

    /// [`Engine::instant`] with per-query options.
    pub async fn instant_with(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        time_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let expr = parse(query)?;
        self.instant_expr_with(source, &expr, query, time_ms, opts).await
    }

    /// [`Engine::instant`] on an already parsed expression; `text` is the
    /// query as written (annotations point into it).
    pub async fn instant_expr(
        &self,
        source: &dyn SeriesSource,
        expr: &Expr,
        text: &str,
        time_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.instant_expr_with(source, expr, text, time_ms, QueryOptions::default())
            .await
    }

    async fn instant_expr_with(
        &self,
        source: &dyn SeriesSource,
        expr: &Expr,
        text: &str,
        time_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        let grid = Grid {
            start: time_ms,
            end: time_ms,
            step: 1,
        };
        let (val, ann, reads, mut stats) = self.run(source, expr, text, grid, 0, opts).await?;
        let sorting = Instant::now();
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                timestamp_ms: time_ms,
                value: v[0],
            },
            Val::Str(s) => Value::String {
                timestamp_ms: time_ms,
                value: s,
            },
            Val::Vector(vs) => Value::Vector(
                eval::finalize_series(vs)?
                    .into_iter()
                    .filter_map(|s| {
                        s.vals[0].map(|value| InstantSample {
                            labels: s.labels,
                            timestamp_ms: time_ms,
                            value,
                        })
                    })
                    .collect(),
            ),
            Val::Matrix(m) => {
                let mut out = Vec::new();
                for (k, s) in m.series.iter().enumerate() {
                    let w = m.window(k, 0);
                    if w.is_empty() {
                        continue;
                    }
                    let labels = if s.drop_name {
                        s.labels.without_metric_name()
                    } else {
                        s.labels.clone()
                    };
                    out.push(RangeSeries {
                        labels,
                        samples: w.to_vec(),
                    });
                }
                check_unique(&out)?;
                Value::Matrix(out)
            }
        };
        stats.result_sort = sorting.elapsed();
        Ok(QueryResult {
            value,
            warnings: ann.warnings,
            infos: ann.infos,
            reads,
            stats,
        })
    }

    /// Range query over `[start_ms, end_ms]` every `step_ms`; the value is
    /// always a matrix.
    pub async fn range(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_with(source, query, start_ms, end_ms, step_ms, QueryOptions::default())
            .await
    }

    /// [`Engine::range`] with per-query options.
    pub async fn range_with(
        &self,
        source: &dyn SeriesSource,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let expr = parse(query)?;
        self.range_expr_with(source, &expr, query, start_ms, end_ms, step_ms, opts)
            .await
    }

    /// [`Engine::range`] on an already parsed expression; `text` is the
    /// query as written (annotations point into it).
    pub async fn range_expr(
        &self,
        source: &dyn SeriesSource,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.range_expr_with(
            source,
            expr,
            text,
            start_ms,
            end_ms,
            step_ms,
            QueryOptions::default(),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn range_expr_with(
        &self,
        source: &dyn SeriesSource,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: QueryOptions,
    ) -> Result<QueryResult, QueryError> {
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            t => {
                let name = if t == ValueType::Matrix {
                    "range vector"
                } else {
                    "string"
                };
                return Err(QueryError::BadData(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let grid = Grid {
            start: start_ms,
            end: end_ms,
            step: step_ms,
        };
        let (val, ann, reads, mut stats) = self.run(source, expr, text, grid, step_ms, opts).await?;
        let sorting = Instant::now();
        let to_samples = |vals: Vec<Option<f64>>| -> Vec<Sample> {
            vals.into_iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| Sample::new(grid.ts(i), v)))
                .collect()
        };
        let mut out: Vec<RangeSeries> = match val {
            Val::Scalar(v) => vec![RangeSeries {
                labels: Default::default(),
                samples: to_samples(v.into_iter().map(Some).collect()),
            }],
            Val::Vector(vs) => eval::finalize_series(vs)?
                .into_iter()
                .map(|s| RangeSeries {
                    labels: s.labels,
                    samples: to_samples(s.vals),
                })
                .collect(),
            other => {
                return Err(QueryError::BadData(format!(
                    "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                    other.type_name()
                )));
            }
        };
        out.retain(|s| !s.samples.is_empty());
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        stats.result_sort = sorting.elapsed();
        Ok(QueryResult {
            value: Value::Matrix(out),
            warnings: ann.warnings,
            infos: ann.infos,
            reads,
            stats,
        })
    }

    fn lookback_ms(&self) -> i64 {
        // As Prometheus: a zero (or negative) lookback means the default.
        if self.options.lookback_delta_ms > 0 {
            self.options.lookback_delta_ms
        } else {
            300_000
        }
    }

    /// The reads of raw samples that evaluating `query` over `[start_ms,
    /// end_ms]` makes (an instant query has `start_ms == end_ms`), in the
    /// order it makes them. A caller that runs them itself answers them to
    /// the engine through a [`crate::PrefetchedSource`].
    pub fn select_requests(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<SelectRequest>, QueryError> {
        let expr = parse(query)?;
        plan::requests(&plan::plan(&expr, start_ms, end_ms, self.lookback_ms()))
    }

    /// How a caller that runs the reads itself plans `expr` over
    /// `[start_ms, end_ms]` every `step_ms` (0 for an instant query at
    /// `start_ms`): the leaves it can compute ahead ([`crate::leaves`]) and
    /// the raw reads the evaluator still makes. Hand the leaves' results
    /// and the reads' data back through a [`crate::PrefetchedSource`].
    pub fn plan_query(
        &self,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryPlan, QueryError> {
        self.check_enabled(expr)?;
        let grid = Grid {
            start: start_ms,
            end: if step_ms == 0 { start_ms } else { end_ms },
            step: step_ms.max(1),
        };
        let found = leaves::find(expr, grid, self.lookback_ms())?;
        let fetches = raw_fetches(expr, grid, self.lookback_ms(), &found);
        Ok(QueryPlan {
            leaves: found.into_iter().map(|f| f.leaf).collect(),
            reads: plan::requests(&fetches)?,
        })
    }

    async fn run(
        &self,
        source: &dyn SeriesSource,
        expr: &Expr,
        text: &str,
        grid: Grid,
        query_step: i64,
        opts: QueryOptions,
    ) -> Result<(Val, Annotations, Reads, QueryStats), QueryError> {
        // Every query path (text or parsed, instant or range) comes here.
        self.check_enabled(expr)?;
        let started = Instant::now();
        let lookback = self.lookback_ms();
        // A source holding precomputed leaves answers only the other reads.
        let (found, leaf_values) = match source.leaf_results() {
            Some(results) => {
                let found = leaves::find(expr, grid, lookback)?;
                let values = precomputed::leaf_values(&found, results)?;
                (found, values)
            }
            None => (Vec::new(), Default::default()),
        };
        let mut fetches = raw_fetches(expr, grid, lookback, &found);
        let (tiered, reads) =
            resolution::plan_and_fetch(source, expr, &mut fetches, query_step, opts.max_source_resolution)
                .await?;
        let data = plan::fetch(source, &fetches, self.options.max_fetched_samples).await?;
        let mut stats = QueryStats {
            samples_fetched: fetched_samples(&data),
            preparation: started.elapsed(),
            ..QueryStats::default()
        };
        let evaluating = Instant::now();
        let mut ev = Evaluator {
            data: &data,
            leaves: &leaf_values,
            tiered: &tiered,
            lookback,
            max_samples: self.options.max_samples,
            query_start: grid.start,
            query_end: grid.end,
            query_step,
            query_text: text,
            deadline: opts.deadline.unwrap_or(started + self.options.timeout),
            timeout_text: "expression evaluation".into(),
            annotations: Annotations::default(),
            counter: std::cell::RefCell::new(SampleCounter::new(grid)),
        };
        let val = ev.eval(expr, grid)?;
        stats.inner_eval = evaluating.elapsed();
        ev.counter.into_inner().finish(&mut stats);
        Ok((val, ev.annotations, reads, stats))
    }
}

/// The selectors of `expr` read raw: all but the leaves' own.
fn raw_fetches<'e>(
    expr: &'e Expr,
    grid: Grid,
    lookback: i64,
    found: &[FoundLeaf<'e>],
) -> Vec<plan::Fetch<'e>> {
    let leaf_selectors: HashSet<usize> = found.iter().map(|f| selector_key(f.selector)).collect();
    let mut fetches = plan::plan(expr, grid.start, grid.end, lookback);
    fetches.retain(|f| !leaf_selectors.contains(&selector_key(f.selector)));
    fetches
}

/// The plan of a query for a caller that runs its reads itself (see
/// [`Engine::plan_query`]).
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// The leaves to compute ahead, in the order their results are handed
    /// back.
    pub leaves: Vec<Leaf>,
    /// The raw reads the evaluator makes besides.
    pub reads: Vec<SelectRequest>,
}

/// Raw samples in the fetched data, each shared read counted once.
fn fetched_samples(data: &plan::Fetched) -> u64 {
    let mut seen = std::collections::HashSet::new();
    data.values()
        .filter(|d| seen.insert(std::sync::Arc::as_ptr(d)))
        .flat_map(|d| d.iter())
        .map(|s| s.samples.len() as u64)
        .sum()
}

fn type_name(expr: &Expr) -> &'static str {
    match expr.value_type() {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
    }
}

pub(crate) fn parse(query: &str) -> Result<Expr, QueryError> {
    crate::syntax::parse_expr(query).map_err(QueryError::BadData)
}

fn check_unique(series: &[RangeSeries]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::new();
    for s in series {
        if !seen.insert(&s.labels) {
            return Err(QueryError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}
