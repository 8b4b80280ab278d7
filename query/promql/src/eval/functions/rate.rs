//! `rate`, `increase`, `delta` (extrapolated) and `irate`, `idelta`.

use promql_parser::parser::Expr;
use sluice_model::Sample;

use super::{Evaluator, Grid, Series, Val, map_windows};
use crate::QueryError;

/// The functions of this module.
pub(crate) const NAMES: &[&str] = &["rate", "increase", "delta", "irate", "idelta"];

pub(crate) fn handles(name: &str) -> bool {
    NAMES.contains(&name)
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let m = ev.eval_matrix(args[0], grid)?;
    let (range, ends) = (m.range, &m.ends);
    let out = map_windows(&m, true, |_, i, w| window_value(name, w, ends[i], range));
    counter_info(ev, name, args[0], &out);
    Ok(Val::Vector(out))
}

/// Prometheus' info that `rate`/`increase` ran over a series whose name
/// does not look like a counter's.
pub(crate) fn counter_info(ev: &mut Evaluator<'_>, name: &str, arg: &Expr, out: &[Series]) {
    if name != "rate" && name != "increase" {
        return;
    }
    for s in out {
        if let Some(metric) = s.labels.metric_name()
            && !["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|suf| metric.ends_with(suf))
        {
            let pos = ev.pos(arg);
            ev.annotations.info(format!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}{pos}"
            ));
        }
    }
}

/// `name` (`rate`, `increase`, `delta`, `irate`, `idelta`) over one window
/// `(end - range, end]`.
pub(crate) fn window_value(name: &str, w: &[Sample], end: i64, range: i64) -> Option<f64> {
    match name {
        "rate" | "increase" | "delta" => {
            extrapolated_rate(w, end - range, end, range, name != "delta", name == "rate")
        }
        "irate" | "idelta" => instant_value(w, name == "irate"),
        _ => None,
    }
}

/// Prometheus' `extrapolatedRate`: the increase between first and last
/// sample of the window (with counter resets compensated), extrapolated
/// towards the window boundaries when the samples come close enough to them
/// (within 110% of the average sample spacing), never below zero for
/// counters.
pub(crate) fn extrapolated_rate(
    w: &[Sample],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let first = w[0];
    let last = w[w.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for s in &w[1..] {
            if s.value < prev {
                result += prev;
            }
            prev = s.value;
        }
    }
    let mut to_start = (first.timestamp_ms - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let avg_step = sampled / (w.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if is_counter && result > 0.0 && first.value >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the
        // point where it would have been zero.
        let to_zero = sampled * (first.value / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate`/`idelta`: from the last two samples only.
fn instant_value(w: &[Sample], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let a = w[w.len() - 2];
    let b = w[w.len() - 1];
    let mut v = b.value - a.value;
    if is_rate && b.value < a.value {
        // Counter reset: the last value is the increase since the reset.
        v = b.value;
    }
    let dt = b.timestamp_ms - a.timestamp_ms;
    if dt == 0 {
        return None;
    }
    if is_rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}
