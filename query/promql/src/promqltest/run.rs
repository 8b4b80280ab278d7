//! Executing parsed scripts against an [`Engine`] and a source factory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};

use crate::syntax::parse_expr;
use sluice_model::{Labels, Sample, TimeSeries};

use super::compare::{check_outcome, check_values};
use super::parse::{Command, Eval, EvalKind, SeqValue, parse_script};
use super::target::{SourceTarget, Target};
use crate::{Engine, EngineOptions, SeriesSource};

/// What a [`SourceFactory`] returns: the target to evaluate against, or
/// why it could not be built (the evals that needed it then fail with that
/// message).
pub type SourceFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<dyn Target>, String>> + Send + 'a>>;

/// Builds the storage the evals of a script run against, from every series
/// loaded so far (samples ascending by timestamp). Called lazily, once per
/// change of the loaded data, before the next eval. Async so a server can
/// write the data through its real ingest path (segments, table provider).
pub type SourceFactory<'a> = dyn Fn(Vec<TimeSeries>) -> SourceFuture<'a> + Send + Sync + 'a;

/// A factory over [`crate::MemorySource`].
pub fn memory_source_factory(series: Vec<TimeSeries>) -> SourceFuture<'static> {
    Box::pin(async move {
        let source: Arc<dyn SeriesSource> = Arc::new(crate::MemorySource::new(series));
        Ok(Arc::new(SourceTarget(source)) as Arc<dyn Target>)
    })
}

/// One failed eval.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The PromQL expression.
    pub expr: String,
    /// What went wrong.
    pub message: String,
}

/// Outcome of one script.
#[derive(Debug, Clone, Default)]
pub struct FileResult {
    /// File name (relative to the directory run, or as given).
    pub file: String,
    /// Evals that passed.
    pub passed: usize,
    /// Evals that failed.
    pub failed: usize,
    /// Evals not run, with the reason per eval line.
    pub skipped: usize,
    /// Details of every failure.
    pub failures: Vec<Failure>,
    /// `(line, reason)` of every skipped eval (or `(0, reason)` for a
    /// skipped file).
    pub skips: Vec<(usize, String)>,
}

/// Outcome of a directory of scripts.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Per-file results, in file name order.
    pub files: Vec<FileResult>,
}

impl Summary {
    /// Total passed evals.
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }

    /// Total failed evals.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }

    /// Total skipped evals.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(|f| f.skipped).sum()
    }
}

/// One line per file, then `promqltest: N passed, M failed, K skipped`.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.files {
            writeln!(
                f,
                "{}: {} passed, {} failed, {} skipped",
                r.file, r.passed, r.failed, r.skipped
            )?;
        }
        write!(
            f,
            "promqltest: {} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// Files the runner does not execute, and why.
pub fn skip_reason(file_name: &str) -> Option<&'static str> {
    let stem = file_name.trim_end_matches(".test");
    Some(match stem {
        "native_histograms" => "native histograms are not stored by Sluice",
        "extended_vectors" => "experimental: anchored/smoothed range selectors",
        "fill-modifier" => "experimental: fill modifiers of binary operators",
        "info" => "experimental: info() function",
        "start_timestamps" => "experimental: start timestamps",
        "type_and_unit" => "experimental: type-and-unit labels",
        "duration_expression" => "experimental: duration expressions",
        _ => return None,
    })
}

/// Functions whose result depends on the evaluation time even with `@`
/// pinned arguments: upstream does not run `@` variants for them.
/// Functions about the query's own range: an instant query cannot be
/// re-run as a range query (or at other times) and give the same result.
const QUERY_RANGE_FUNCTIONS: &[&str] = &["step", "range", "start", "end"];

fn calls_any(e: &Expr, names: &[&str]) -> bool {
    match e {
        Expr::Call(c) => names.contains(&c.func.name) || c.args.args.iter().any(|a| calls_any(a, names)),
        Expr::Aggregate(a) => {
            a.param.as_ref().is_some_and(|p| calls_any(p, names)) || calls_any(&a.expr, names)
        }
        Expr::Unary(u) => calls_any(&u.expr, names),
        Expr::Binary(b) => calls_any(&b.lhs, names) || calls_any(&b.rhs, names),
        Expr::Paren(p) => calls_any(&p.expr, names),
        Expr::Subquery(s) => calls_any(&s.expr, names),
        _ => false,
    }
}

const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

fn system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Sets `@ t` on every selector and subquery lacking one (not inside a
/// subquery that has one). Returns false if the expression uses an
/// `@`-unsafe function.
fn pin_at(e: &mut Expr, t: SystemTime) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            vs.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::MatrixSelector(ms) => {
            ms.vs.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::Subquery(sq) => {
            sq.at.get_or_insert(AtModifier::At(t));
            true
        }
        Expr::Call(c) => {
            let mut ok = !AT_UNSAFE.contains(&c.func.name);
            for a in &mut c.args.args {
                ok &= pin_at(a, t);
            }
            ok
        }
        Expr::Aggregate(a) => {
            let ok = a.param.as_mut().is_none_or(|p| pin_at(p, t));
            ok & pin_at(&mut a.expr, t)
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Binary(b) => pin_at(&mut b.lhs, t) & pin_at(&mut b.rhs, t),
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => true,
    }
}

struct State {
    data: BTreeMap<Labels, Vec<Sample>>,
    source: Option<Arc<dyn Target>>,
    /// Label sets of native-histogram series that were not loaded (also
    /// the native versions `load_with_nhcb` would have created).
    histograms: BTreeSet<Labels>,
}

impl State {
    async fn source(&mut self, factory: &SourceFactory<'_>) -> Result<Arc<dyn Target>, String> {
        if let Some(s) = &self.source {
            return Ok(Arc::clone(s));
        }
        let series = self
            .data
            .iter()
            .map(|(l, s)| TimeSeries {
                labels: l.clone(),
                samples: s.clone(),
            })
            .collect();
        let source = factory(series)
            .await
            .map_err(|e| format!("building the source failed: {e}"))?;
        self.source = Some(Arc::clone(&source));
        Ok(source)
    }
}

/// Runs one script's text.
pub async fn run_script(name: &str, text: &str, engine: &Engine, factory: &SourceFactory<'_>) -> FileResult {
    // Upstream's runner enables the experimental functions for every
    // script (parser.EnableExperimentalFunctions); so does this one.
    let engine = &Engine::new(EngineOptions {
        experimental_functions: true,
        ..engine.options.clone()
    });
    let mut res = FileResult {
        file: name.to_string(),
        ..Default::default()
    };
    if let Some(reason) = skip_reason(name.rsplit('/').next().unwrap_or(name)) {
        // Count the evals without parsing: skipped files may use syntax
        // this parser does not know.
        for (i, l) in text.lines().enumerate() {
            if l.trim_start().starts_with("eval") {
                res.skipped += 1;
                res.skips.push((i + 1, reason.to_string()));
            }
        }
        return res;
    }
    let cmds = match parse_script(text) {
        Ok(c) => c,
        Err(e) => {
            res.failed += 1;
            res.failures.push(Failure {
                line: 0,
                expr: String::new(),
                message: format!("script does not parse: {e}"),
            });
            return res;
        }
    };
    let mut st = State {
        data: BTreeMap::new(),
        source: None,
        histograms: BTreeSet::new(),
    };
    for c in cmds {
        match c {
            Command::Clear => {
                st.data.clear();
                st.source = None;
                st.histograms.clear();
            }
            Command::Load {
                series,
                interval_ms,
                nhcb,
            } => {
                for s in series {
                    if s.histogram {
                        st.histograms.insert(s.labels);
                        continue;
                    }
                    if nhcb
                        && let (Some(name), Some(_)) = (s.labels.metric_name(), s.labels.get("le"))
                        && let Some(base) = name.strip_suffix("_bucket")
                    {
                        let mut l = s.labels.clone();
                        l.remove("le");
                        l.set("__name__", base);
                        st.histograms.insert(l);
                    }
                    let e = st.data.entry(s.labels).or_default();
                    for (i, v) in s.values.iter().enumerate() {
                        if let SeqValue::Value(v) = v {
                            e.push(Sample::new(i as i64 * interval_ms, *v));
                        }
                    }
                    // Later loads win for equal timestamps.
                    e.reverse();
                    e.sort_by_key(|s| s.timestamp_ms);
                    e.dedup_by_key(|s| s.timestamp_ms);
                }
                st.data.retain(|_, s| !s.is_empty());
                st.source = None;
            }
            Command::Eval(ev) => {
                if let Some(reason) = skip_eval(&ev, &st) {
                    res.skipped += 1;
                    res.skips.push((ev.line, reason));
                    continue;
                }
                let outcome = match st.source(factory).await {
                    Ok(source) => run_eval(&ev, engine, source.as_ref()).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => res.passed += 1,
                    Err(message) => {
                        res.failed += 1;
                        res.failures.push(Failure {
                            line: ev.line,
                            expr: ev.expr.clone(),
                            message,
                        });
                    }
                }
            }
        }
    }
    res
}

/// Evals whose expectation belongs to another Prometheus version than the
/// one Sluice follows (main, 3.14), so no engine can pass both suites:
/// `(expression, expected warning text, why)`. Matched on the expected
/// text too, so the newer suite's version of the same eval still runs.
const VERSION_SKIPS: &[(&str, &str, &str)] = &[(
    "quantile without(point)(NaN, data)",
    "PromQL warning: quantile value should be between 0 and 1, got NaN",
    "expects Prometheus 3.5's warning text; later versions (and Sluice) end it with the \
     parameter's position, `(line:column)`, as main-3.14's copy of this eval expects",
)];

fn version_skip(ev: &Eval) -> Option<&'static str> {
    VERSION_SKIPS.iter().find_map(|(expr, warning, why)| {
        (ev.expr.trim() == *expr && ev.warn.iter().any(|w| w.msg.as_deref() == Some(*warning)))
            .then_some(*why)
    })
}

fn skip_eval(ev: &Eval, st: &State) -> Option<String> {
    if let Some(r) = &ev.unsupported {
        return Some(r.clone());
    }
    if let Some(why) = version_skip(ev) {
        return Some(format!("version difference: {why}"));
    }
    // Parsed as the HTTP API parses a query (promql-parser behind Sluice's
    // checks), so the suite tests that front end too.
    let expr = match parse_expr(&ev.expr) {
        Ok(e) => e,
        Err(_) if ev.fail.is_some() => return None,
        Err(e) => return Some(format!("unsupported parser syntax: {e}")),
    };
    // Evals whose selectors reach a native histogram we could not load.
    if !st.histograms.is_empty() {
        for f in crate::plan::plan(&expr, 0, 0, 0) {
            let sets = crate::plan::matcher_sets(f.selector).unwrap_or_default();
            if let Some(h) = st
                .histograms
                .iter()
                .find(|h| sets.iter().any(|ms| ms.iter().all(|m| m.matches_labels(h))))
            {
                return Some(format!("selects native-histogram series {h}"));
            }
        }
    }
    None
}

async fn run_eval(ev: &Eval, engine: &Engine, source: &dyn Target) -> Result<(), String> {
    let expr = match parse_expr(&ev.expr) {
        Ok(e) => e,
        Err(e) => {
            // Only reached when a failure is expected (see skip_eval).
            let err = crate::QueryError::BadData(e);
            return check_outcome(ev, &Err(err)).map(|_| ());
        }
    };
    match ev.kind {
        EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        } => {
            let r = source
                .range(engine, &expr, &ev.expr, start_ms, end_ms, step_ms)
                .await;
            if let Some(res) = check_outcome(ev, &r)? {
                check_values(ev, &res.value, Some((start_ms, end_ms, step_ms)))?;
            }
            Ok(())
        }
        EvalKind::Instant { at_ms } => {
            run_instant(ev, engine, source, &expr, at_ms)
                .await
                .map_err(|e| format!("instant query: {e}"))?;
            if calls_any(&expr, QUERY_RANGE_FUNCTIONS) {
                return Ok(());
            }
            let mut pinned = expr.clone();
            if pin_at(&mut pinned, system_time(at_ms)) {
                let times = if at_ms == 0 {
                    vec![-1000, 0, 1000]
                } else {
                    vec![-10 * at_ms, 0, at_ms / 5, at_ms, 10 * at_ms]
                };
                for t in times {
                    run_instant(ev, engine, source, &pinned, t)
                        .await
                        .map_err(|e| format!("with @ {at_ms}ms pinned, evaluated at {t}ms: {e}"))?;
                }
            }
            Ok(())
        }
    }
}

async fn run_instant(
    ev: &Eval,
    engine: &Engine,
    source: &dyn Target,
    expr: &Expr,
    t: i64,
) -> Result<(), String> {
    let r = source.instant(engine, expr, &ev.expr, t).await;
    let Some(res) = check_outcome(ev, &r)? else {
        return Ok(());
    };
    check_values(ev, &res.value, None)?;
    if ev.ordered
        || ev.string.is_some()
        || matches!(res.value, crate::Value::Matrix(_))
        || calls_any(expr, QUERY_RANGE_FUNCTIONS)
    {
        // Range results are ordered by labels, and strings/range vectors
        // cannot be range-query results: upstream skips this check too.
        return Ok(());
    }
    // The same expression as a range query must agree at `t`.
    let r = source
        .range(engine, expr, &ev.expr, t - 60_000, t + 60_000, 60_000)
        .await
        .map_err(|e| format!("range mode: unexpected error: {e}"))?;
    let crate::Value::Matrix(m) = r.value else {
        return Err("range mode: result is not a matrix".into());
    };
    let at_t: Vec<crate::InstantSample> = m
        .iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.timestamp_ms == t)
                .map(|p| crate::InstantSample {
                    labels: s.labels.clone(),
                    timestamp_ms: t,
                    value: p.value,
                })
        })
        .collect();
    let v = if matches!(res.value, crate::Value::Scalar { .. }) {
        match at_t.first() {
            Some(s) => crate::Value::Scalar {
                timestamp_ms: t,
                value: s.value,
            },
            None => return Err("range mode: no scalar point at the evaluation time".into()),
        }
    } else {
        crate::Value::Vector(at_t)
    };
    check_values(ev, &v, None).map_err(|e| format!("range mode: {e}"))
}

/// Runs one `.test` file.
pub async fn run_file(
    path: &Path,
    engine: &Engine,
    factory: &SourceFactory<'_>,
) -> std::io::Result<FileResult> {
    let text = std::fs::read_to_string(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(run_script(&name, &text, engine, factory).await)
}

/// Runs every `*.test` file of `dir` in name order.
pub async fn run_dir(dir: &Path, engine: &Engine, factory: &SourceFactory<'_>) -> std::io::Result<Summary> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    paths.sort();
    let mut summary = Summary::default();
    for p in paths {
        summary.files.push(run_file(&p, engine, factory).await?);
    }
    Ok(summary)
}
