//! Step-wise evaluation of a parsed PromQL expression.
//!
//! Every node is evaluated over *all* steps of its [`Grid`] at once and
//! yields a [`Val`]: a scalar per step, or a set of series each holding an
//! optional value per step. Labels of a series are fixed across steps, so
//! work that depends only on labels (grouping keys, matching signatures) is
//! done once per series rather than once per step and series. Selector data
//! was fetched beforehand (see [`crate::plan`]); evaluation is synchronous.

pub(crate) mod aggregate;
pub(crate) mod aggregate_k;
pub(crate) mod binary;
pub(crate) mod functions;
pub(crate) mod precomputed;
pub(crate) mod selector;
pub(crate) mod subquery;
pub(crate) mod util;

use std::collections::HashMap;
use std::time::Instant;

use promql_parser::parser::{self, Expr};
use sluice_model::{Labels, Sample};

use crate::QueryError;

/// The evaluation timestamps of a node: `start, start+step, ..., end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
}

impl Grid {
    pub(crate) fn len(&self) -> usize {
        if self.end < self.start {
            return 0;
        }
        // Saturating: offsets and ranges of millions of years meet here.
        (self.end.saturating_sub(self.start) / self.step + 1) as usize
    }

    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of an instant-vector result, over all steps of the grid.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    /// Prometheus 3 delays dropping `__name__` until the end of evaluation
    /// (so `label_replace` can still read it); this marks series whose name
    /// is to be dropped.
    pub(crate) drop_name: bool,
    pub(crate) vals: Vec<Option<f64>>,
}

/// Raw points of one series of a range vector.
#[derive(Debug, Clone)]
pub(crate) struct RawSeries {
    pub(crate) labels: Labels,
    pub(crate) drop_name: bool,
    pub(crate) samples: Vec<Sample>,
}

/// A range vector over a grid: for step `i` the window of a series is
/// `(ends[i] - range, ends[i]]` (left-open, as in Prometheus 3).
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    pub(crate) series: Vec<RawSeries>,
    pub(crate) range: i64,
    pub(crate) ends: Vec<i64>,
}

impl Matrix {
    /// The samples of series `s` inside the window of step `i`.
    pub(crate) fn window(&self, s: usize, i: usize) -> &[Sample] {
        let samples = &self.series[s].samples;
        &samples[crate::steps::window(samples, self.ends[i], self.range)]
    }

    /// The windows of series `s` for every step, in step order.
    pub(crate) fn windows(&self, s: usize) -> Vec<&[Sample]> {
        let samples = &self.series[s].samples;
        crate::steps::windows(samples, &self.ends, self.range)
            .into_iter()
            .map(|r| &samples[r])
            .collect()
    }
}

/// The value of a node over all steps.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Str(String),
    Vector(Vec<Series>),
    Matrix(Matrix),
}

impl Val {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

/// Warnings and infos collected while evaluating (deduplicated, in order).
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
}

impl Annotations {
    pub(crate) fn warn(&mut self, msg: String) {
        let m = format!("PromQL warning: {msg}");
        if !self.warnings.contains(&m) {
            self.warnings.push(m);
        }
    }

    pub(crate) fn info(&mut self, msg: String) {
        let m = format!("PromQL info: {msg}");
        if !self.infos.contains(&m) {
            self.infos.push(m);
        }
    }
}

/// Evaluation state shared by all nodes of one query.
pub(crate) struct Evaluator<'a> {
    /// Fetched series per selector node (keyed by node address).
    pub(crate) data: &'a crate::plan::Fetched,
    /// Leaves computed ahead of evaluation, by node (see [`crate::leaves`]).
    pub(crate) leaves: &'a precomputed::LeafValues,
    /// Calls answered from a downsampled tier (see [`crate::resolution`]).
    pub(crate) tiered: &'a crate::resolution::TieredCalls,
    pub(crate) lookback: i64,
    pub(crate) max_samples: usize,
    /// The query's own start and end, what `@ start()` / `@ end()` mean
    /// even inside subqueries.
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    /// The range query's step (0 for instant queries), what `step()` says.
    pub(crate) query_step: i64,
    /// The query text, to point annotations at the offending expression.
    pub(crate) query_text: &'a str,
    pub(crate) deadline: Instant,
    pub(crate) timeout_text: String,
    pub(crate) annotations: Annotations,
    /// Queryable and peak samples, for `stats`.
    pub(crate) counter: std::cell::RefCell<crate::stats::SampleCounter>,
}

pub(crate) fn err_exec(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

pub(crate) fn err_bad(msg: impl Into<String>) -> QueryError {
    QueryError::BadData(msg.into())
}

/// Milliseconds of a parser duration.
pub(crate) fn dur_ms(d: &std::time::Duration) -> i64 {
    d.as_millis() as i64
}

/// Signed milliseconds of an `offset` modifier.
pub(crate) fn offset_ms(o: &Option<parser::Offset>) -> i64 {
    match o {
        None => 0,
        Some(parser::Offset::Pos(d)) => dur_ms(d),
        Some(parser::Offset::Neg(d)) => -dur_ms(d),
    }
}

impl Evaluator<'_> {
    /// The absolute time an `@` modifier pins evaluation to, if any.
    pub(crate) fn at_ms(&self, at: &Option<parser::AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(parser::AtModifier::Start) => Some(self.query_start),
            Some(parser::AtModifier::End) => Some(self.query_end),
            Some(parser::AtModifier::At(t)) => Some(util::system_time_ms(t)),
        }
    }

    /// Prometheus' ` (line:col)` suffix of an annotation about `e`: the
    /// parser keeps no positions, so the node's canonical text is looked up
    /// in the query (omitted when it cannot be found).
    pub(crate) fn pos(&self, e: &dyn std::fmt::Display) -> String {
        let needle = e.to_string();
        let off = self.query_text.find(&needle).or_else(|| {
            // The promqltest harness pins `@ t` onto selectors: look for
            // the node as written, without the added modifier.
            let re = regex::Regex::new(r" @ -?[0-9.]+").ok()?;
            self.query_text.find(re.replace_all(&needle, "").as_ref())
        });
        let Some(off) = off else {
            return String::new();
        };
        let before = &self.query_text[..off];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!(" ({line}:{col})")
    }

    pub(crate) fn check_timeout(&self) -> Result<(), QueryError> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(self.timeout_text.clone()));
        }
        Ok(())
    }

    /// Enforces `max_samples` on a node's output: Prometheus counts the
    /// samples a query holds in memory at once; we approximate that with
    /// the points of the largest intermediate result.
    pub(crate) fn check_samples(&self, n: usize) -> Result<(), QueryError> {
        self.counter.borrow_mut().peak(n);
        if n > self.max_samples {
            return Err(err_exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        Ok(())
    }

    /// Evaluates `expr` over every step of `grid`.
    pub(crate) fn eval(&mut self, expr: &Expr, grid: Grid) -> Result<Val, QueryError> {
        self.check_timeout()?;
        // Every node holds a value (or a window end) per step, so a grid
        // longer than the sample limit cannot give a result within it; it is
        // refused before anything is allocated. A subquery `[290y:1ms]` asked
        // for 9e12 steps, and the failed 73 TB allocation aborted the process
        // (found by fuzzing).
        self.check_samples(grid.len())?;
        let v = if let Some(v) = self.precomputed(expr, grid)? {
            v
        } else {
            self.eval_node(expr, grid)?
        };
        let points = match &v {
            Val::Vector(vs) => vs.iter().map(|s| s.vals.iter().flatten().count()).sum(),
            _ => 0,
        };
        self.check_samples(points)?;
        Ok(v)
    }

    fn eval_node(&mut self, expr: &Expr, grid: Grid) -> Result<Val, QueryError> {
        Ok(match expr {
            Expr::NumberLiteral(n) => Val::Scalar(vec![n.val; grid.len()]),
            Expr::StringLiteral(s) => Val::Str(s.val.clone()),
            Expr::Paren(p) => self.eval(&p.expr, grid)?,
            Expr::Unary(u) => match self.eval(&u.expr, grid)? {
                Val::Scalar(v) => Val::Scalar(v.into_iter().map(|x| -x).collect()),
                Val::Vector(mut vs) => {
                    for s in &mut vs {
                        s.drop_name = true;
                        for v in s.vals.iter_mut().flatten() {
                            *v = -*v;
                        }
                    }
                    Val::Vector(vs)
                }
                other => {
                    return Err(err_bad(format!(
                        "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                        other.type_name()
                    )));
                }
            },
            Expr::VectorSelector(vs) => Val::Vector(selector::eval_vector_selector(self, vs, grid, false)?),
            Expr::MatrixSelector(ms) => Val::Matrix(selector::eval_matrix_selector(self, ms, grid)?),
            Expr::Subquery(sq) => Val::Matrix(subquery::eval_subquery(self, sq, grid)?),
            Expr::Aggregate(a) => aggregate::eval_aggregate(self, a, grid)?,
            Expr::Binary(b) => binary::eval_binary(self, b, grid)?,
            Expr::Call(c) => functions::eval_call(self, c, grid)?,
            Expr::Extension(e) => {
                return Err(err_bad(format!(
                    "unsupported expression extension {}",
                    e.expr.name()
                )));
            }
        })
    }

    /// Evaluates an expression that must yield an instant vector.
    pub(crate) fn eval_vector(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<Series>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Vector(v) => Ok(v),
            other => Err(err_bad(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates an expression that must yield a scalar.
    pub(crate) fn eval_scalar(&mut self, expr: &Expr, grid: Grid) -> Result<Vec<f64>, QueryError> {
        match self.eval(expr, grid)? {
            Val::Scalar(v) => Ok(v),
            other => Err(err_bad(format!("expected scalar, got {}", other.type_name()))),
        }
    }

    /// Evaluates an expression that must yield a range vector.
    pub(crate) fn eval_matrix(&mut self, expr: &Expr, grid: Grid) -> Result<Matrix, QueryError> {
        match self.eval(expr, grid)? {
            Val::Matrix(m) => Ok(m),
            other => Err(err_bad(format!(
                "expected range vector, got {}",
                other.type_name()
            ))),
        }
    }
}

/// Applies delayed `__name__` dropping and merges series that end up with
/// the same labels. Two series colliding at the same step is the error
/// Prometheus reports as "vector cannot contain metrics with the same
/// labelset"; colliding at disjoint steps is fine (they become one series).
pub(crate) fn finalize_series(series: Vec<Series>) -> Result<Vec<Series>, QueryError> {
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    for mut s in series {
        if s.drop_name {
            s.labels = s.labels.without_metric_name();
            s.drop_name = false;
        }
        if !s.vals.iter().any(Option::is_some) {
            continue;
        }
        match index.get(&s.labels) {
            Some(&i) => {
                let t = &mut out[i];
                for (a, b) in t.vals.iter_mut().zip(s.vals) {
                    if b.is_some() {
                        if a.is_some() {
                            return Err(err_exec("vector cannot contain metrics with the same labelset"));
                        }
                        *a = b;
                    }
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}
