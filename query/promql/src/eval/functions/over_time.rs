//! `*_over_time`, `deriv`, `predict_linear`, double exponential smoothing,
//! `resets`, `changes`, `absent_over_time`.

use promql_parser::parser::Expr;
use sluice_model::Sample;

use super::super::aggregate::{avg, fmt_g, kahan_inc, quantile};
use super::{Evaluator, Grid, Series, Val, map_windows, misc::absent_labels};
use crate::QueryError;

/// The functions of this module.
pub(crate) const NAMES: &[&str] = &[
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "mad_over_time",
    "absent_over_time",
    "deriv",
    "predict_linear",
    "holt_winters",
    "double_exponential_smoothing",
    "resets",
    "changes",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
];

pub(crate) fn handles(name: &str) -> bool {
    NAMES.contains(&name)
}

/// `sum_over_time` of one window (Kahan-compensated, as Prometheus).
pub(crate) fn window_sum(w: &[Sample]) -> f64 {
    let (s, c) = w.iter().fold((0.0, 0.0), |(s, c), x| kahan_inc(x.value, s, c));
    s + c
}

/// `min_over_time` of one window (NaN only if every value is NaN).
pub(crate) fn window_min(w: &[Sample]) -> f64 {
    w.iter().fold(
        f64::NAN,
        |a, s| if a > s.value || a.is_nan() { s.value } else { a },
    )
}

/// `max_over_time` of one window (NaN only if every value is NaN).
pub(crate) fn window_max(w: &[Sample]) -> f64 {
    w.iter().fold(
        f64::NAN,
        |a, s| if a < s.value || a.is_nan() { s.value } else { a },
    )
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    // The matrix argument is the first, except for quantile_over_time.
    let (marg, rest): (&Expr, &[&Expr]) = if name == "quantile_over_time" {
        (args[1], &args[..1])
    } else {
        (args[0], &args[1..])
    };
    let params: Vec<Vec<f64>> = rest
        .iter()
        .map(|a| ev.eval_scalar(a, grid))
        .collect::<Result<_, _>>()?;
    let m = ev.eval_matrix(marg, grid)?;
    let out = match name {
        "absent_over_time" => {
            let n = grid.len();
            let vals: Vec<Option<f64>> = (0..n)
                .map(|i| {
                    let any = (0..m.series.len()).any(|s| !m.window(s, i).is_empty());
                    (!any).then_some(1.0)
                })
                .collect();
            if vals.iter().any(Option::is_some) {
                vec![Series {
                    labels: absent_labels(marg),
                    drop_name: false,
                    vals,
                }]
            } else {
                vec![]
            }
        }
        _ => {
            if matches!(name, "holt_winters" | "double_exponential_smoothing") {
                for (&sf, &tf) in params[0].iter().zip(&params[1]) {
                    check_smoothing(sf, tf)?;
                }
            }
            let at = |k: usize, i: usize| params.get(k).map_or(0.0, |p| p[i]);
            // Prometheus warns about a bad quantile per evaluated window,
            // so only where there is data.
            let mut bad_quantile = None;
            let out = map_windows(&m, !keeps_metric_name(name), |_, i, w| {
                if name == "quantile_over_time" && !(0.0..=1.0).contains(&params[0][i]) {
                    bad_quantile = Some(params[0][i]);
                }
                window_value(name, w, grid.ts(i), [at(0, i), at(1, i)])
            });
            if let Some(q) = bad_quantile {
                quantile_warning(ev, q, args[0]);
            }
            out
        }
    };
    Ok(Val::Vector(out))
}

/// The over-time functions that return a sample as is keep its name.
pub(crate) fn keeps_metric_name(name: &str) -> bool {
    matches!(name, "last_over_time" | "first_over_time")
}

/// Prometheus' warning for a `quantile_over_time` quantile outside [0, 1].
pub(crate) fn quantile_warning(ev: &mut Evaluator<'_>, q: f64, q_arg: &Expr) {
    let pos = ev.pos(q_arg);
    ev.annotations.warn(format!(
        "quantile value should be between 0 and 1, got {}{pos}",
        fmt_g(q)
    ));
}

/// Refuses smoothing and trend factors outside (0, 1), as Prometheus.
pub(crate) fn check_smoothing(sf: f64, tf: f64) -> Result<(), QueryError> {
    if sf <= 0.0 || sf >= 1.0 {
        return Err(super::super::err_exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(super::super::err_exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    Ok(())
}

/// The value of over-time function `name` (any but `absent_over_time`) on
/// one non-empty window `w`, evaluated at step time `step_ts`, with its
/// scalar parameters `p` at that step (`quantile_over_time`'s quantile,
/// `predict_linear`'s duration, the smoothing and trend factors).
pub(crate) fn window_value(name: &str, w: &[Sample], step_ts: i64, p: [f64; 2]) -> Option<f64> {
    match name {
        "avg_over_time" => Some(avg(w.iter().map(|s| s.value))),
        "sum_over_time" => Some(window_sum(w)),
        "min_over_time" => Some(window_min(w)),
        "max_over_time" => Some(window_max(w)),
        "count_over_time" => Some(w.len() as f64),
        "present_over_time" => Some(1.0),
        "last_over_time" => w.last().map(|s| s.value),
        "first_over_time" => w.first().map(|s| s.value),
        "ts_of_last_over_time" => w.last().map(|s| s.timestamp_ms as f64 / 1e3),
        "ts_of_first_over_time" => w.first().map(|s| s.timestamp_ms as f64 / 1e3),
        "ts_of_max_over_time" | "ts_of_min_over_time" => {
            let max = name == "ts_of_max_over_time";
            let mut best = *w.first()?;
            for s in &w[1..] {
                let better = if max {
                    s.value >= best.value
                } else {
                    s.value <= best.value
                };
                if better || best.value.is_nan() {
                    best = *s;
                }
            }
            Some(best.timestamp_ms as f64 / 1e3)
        }
        "stddev_over_time" => Some(variance(w).sqrt()),
        "stdvar_over_time" => Some(variance(w)),
        "quantile_over_time" => Some(quantile(p[0], w.iter().map(|s| s.value).collect())),
        "mad_over_time" => {
            let vals: Vec<f64> = w.iter().map(|s| s.value).collect();
            if vals.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let med = quantile(0.5, vals.clone());
            Some(quantile(0.5, vals.iter().map(|v| (v - med).abs()).collect()))
        }
        "deriv" => {
            if w.len() < 2 {
                return None;
            }
            Some(linear_regression(w, w[0].timestamp_ms).0)
        }
        "predict_linear" => {
            if w.len() < 2 {
                return None;
            }
            let (slope, intercept) = linear_regression(w, step_ts);
            Some(intercept + slope * p[0])
        }
        "holt_winters" | "double_exponential_smoothing" => smoothing(w, p[0], p[1]),
        "resets" => Some(w.windows(2).filter(|p| p[1].value < p[0].value).count() as f64),
        "changes" => Some(
            w.windows(2)
                .filter(|p| !(p[1].value == p[0].value || (p[1].value.is_nan() && p[0].value.is_nan())))
                .count() as f64,
        ),
        _ => None,
    }
}

/// Variance with Kahan-compensated running mean (Prometheus 3).
fn variance(w: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for s in w {
        count += 1.0;
        let delta = s.value - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.value - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Least-squares fit with x in seconds relative to `intercept_time`.
pub(crate) fn linear_regression(w: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = w[0].value;
    let mut const_y = true;
    for (i, s) in w.iter().enumerate() {
        if const_y && i > 0 && s.value != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.timestamp_ms - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.value, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.value, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn smoothing(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1, mut b) = (0.0, w[0].value, w[1].value - w[0].value);
    for (i, s) in w.iter().enumerate().skip(1) {
        let x = sf * s.value;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}
