//! Function calls: dispatch by name to the module implementing the family.

pub(crate) mod histogram;
pub(crate) mod label;
pub(crate) mod math;
pub(crate) mod misc;
pub(crate) mod over_time;
pub(crate) mod rate;
pub(crate) mod tiered;
pub(crate) mod time;

use promql_parser::parser::{Call, Expr};
use sluice_model::Sample;

use super::{Evaluator, Grid, Matrix, Series, Val, err_bad};
use crate::QueryError;

pub(crate) fn eval_call(ev: &mut Evaluator<'_>, c: &Call, grid: Grid) -> Result<Val, QueryError> {
    if let Some(t) = ev.tiered.get(&crate::resolution::call_key(c)) {
        return tiered::eval(ev, c, t, grid);
    }
    eval_call_raw(ev, c, grid)
}

/// A call evaluated over the raw data its selectors fetched.
pub(crate) fn eval_call_raw(ev: &mut Evaluator<'_>, c: &Call, grid: Grid) -> Result<Val, QueryError> {
    let name = c.func.name;
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    if name.starts_with("sort") && ev.query_start != ev.query_end {
        let pos = ev.pos(c);
        ev.annotations.warn(format!(
            "sort is ineffective for range queries since results are always ordered by labels{pos}"
        ));
    }
    match name {
        "step" | "range" | "start" | "end" | "min_of" | "max_of" => misc::query_scalar(ev, name, &args, grid),
        "histogram_quantiles" => histogram::eval_quantiles(ev, &args, grid),
        "time" | "pi" | "vector" | "scalar" | "absent" | "sort" | "sort_desc" | "sort_by_label"
        | "sort_by_label_desc" => misc::eval(ev, name, &args, grid),
        "timestamp" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
        | "minute" | "month" | "year" => time::eval(ev, name, &args, grid),
        "label_replace" | "label_join" => label::eval(ev, name, &args, grid),
        "histogram_quantile" | "histogram_fraction" | "histogram_count" | "histogram_sum"
        | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => histogram::eval(ev, name, &args, grid),
        _ if rate::handles(name) => rate::eval(ev, name, &args, grid),
        _ if over_time::handles(name) => over_time::eval(ev, name, &args, grid),
        _ if math::handles(name) => math::eval(ev, name, &args, grid),
        _ => Err(err_bad(format!("function {name:?} is not supported"))),
    }
}

/// Applies `f` to every (series, step) window of a range vector. The result
/// keeps the input's labels; whether `__name__` is dropped is up to the
/// caller (most range functions drop it).
pub(crate) fn map_windows(
    m: &Matrix,
    drop_name: bool,
    mut f: impl FnMut(usize, usize, &[Sample]) -> Option<f64>,
) -> Vec<Series> {
    let mut out = Vec::with_capacity(m.series.len());
    for s in 0..m.series.len() {
        let vals: Vec<Option<f64>> = m
            .windows(s)
            .into_iter()
            .enumerate()
            .map(|(i, w)| if w.is_empty() { None } else { f(s, i, w) })
            .collect();
        if vals.iter().any(Option::is_some) {
            out.push(Series {
                labels: m.series[s].labels.clone(),
                drop_name: drop_name || m.series[s].drop_name,
                vals,
            });
        }
    }
    out
}

/// Evaluates an optional scalar argument, defaulting to `default`.
pub(crate) fn scalar_arg(
    ev: &mut Evaluator<'_>,
    arg: Option<&&Expr>,
    grid: Grid,
    default: f64,
) -> Result<Vec<f64>, QueryError> {
    match arg {
        Some(e) => ev.eval_scalar(e, grid),
        None => Ok(vec![default; grid.len()]),
    }
}

/// Evaluates a string argument (only literals are strings in PromQL).
pub(crate) fn string_arg(
    ev: &mut Evaluator<'_>,
    arg: Option<&&Expr>,
    grid: Grid,
) -> Result<String, QueryError> {
    match arg {
        Some(e) => match ev.eval(e, grid)? {
            Val::Str(s) => Ok(s),
            other => Err(err_bad(format!(
                "expected string argument, got {}",
                other.type_name()
            ))),
        },
        None => Err(err_bad("missing string argument")),
    }
}

/// Strips parentheses, which Prometheus ignores when a function inspects
/// the syntactic form of its argument.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}
