//! Aggregation operators (`sum`, `avg`, `quantile`, ...; the selecting
//! ones, `topk` and its relatives, are in [`super::aggregate_k`]).
//!
//! Grouping depends only on labels, which are fixed per series, so groups
//! are formed once; each step then folds the members that have a value.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMIT_RATIO, T_LIMITK, T_MAX, T_MIN, T_QUANTILE,
    T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};
use sluice_model::{Labels, METRIC_NAME};

use super::util::{format_float, project};
use super::{Evaluator, Grid, Series, Val, err_exec};
use crate::QueryError;

/// Neumaier-compensated summation step, as Prometheus' `kahanSumInc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus' `quantile` over a set of values (NaN sorts first, as the Go
/// heap's `Less` puts it).
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Mean with Kahan summation that falls back to an incremental mean once
/// the plain sum would overflow (Prometheus 3 `avg`).
pub(crate) fn avg(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c, mut count) = (0.0f64, 0.0f64, 0.0f64);
    let mut incremental = false;
    let mut mean = 0.0f64;
    for f in values {
        count += 1.0;
        if count == 1.0 {
            sum = f;
            continue;
        }
        if !incremental {
            let (ns, nc) = kahan_inc(f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if f.is_infinite() && (mean > 0.0) == (f > 0.0) {
                continue;
            }
            if !f.is_infinite() && !f.is_nan() {
                continue;
            }
        }
        let cur = mean + c;
        let (nm, nc) = kahan_inc(f / count - cur / count, mean, c);
        mean = nm;
        c = nc;
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

fn grouping_key(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Labels::default(),
        Some(LabelModifier::Include(ls)) => project(l, &ls.labels, true),
        Some(LabelModifier::Exclude(ls)) => project(l, &ls.labels, false),
    }
}

pub(crate) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    grid: Grid,
) -> Result<Val, QueryError> {
    let op = a.op.id();
    let n = grid.len();
    // Parameters are evaluated before the argument, like Prometheus.
    let mut param_str = None;
    let mut param_num = None;
    if let Some(p) = &a.param {
        match p.as_ref() {
            Expr::StringLiteral(s) => param_str = Some(s.val.clone()),
            other => match ev.eval(other, grid)? {
                Val::Scalar(v) => param_num = Some(v),
                Val::Str(s) => param_str = Some(s),
                v => {
                    return Err(super::err_bad(format!(
                        "expected type scalar in aggregation parameter, got {}",
                        v.type_name()
                    )));
                }
            },
        }
    }
    let input = ev.eval_vector(&a.expr, grid)?;
    // Groups in order of first appearance.
    let mut groups: Vec<(Labels, Vec<usize>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (i, s) in input.iter().enumerate() {
        let key = grouping_key(&s.labels, &a.modifier);
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push(i);
    }
    match op {
        T_TOPK | T_BOTTOMK | T_LIMITK | T_LIMIT_RATIO => {
            let params = param_num.unwrap_or_else(|| vec![0.0; n]);
            super::aggregate_k::select_k(ev, a, &input, &groups, &params, n)
        }
        T_COUNT_VALUES => {
            let label = param_str.unwrap_or_default();
            count_values(&input, &groups, &label, n)
        }
        _ => {
            if op == T_QUANTILE
                && let Some(q) = param_num
                    .as_ref()
                    .and_then(|p| p.iter().find(|q| !(0.0..=1.0).contains(*q)))
            {
                let pos = a.param.as_ref().map(|p| ev.pos(p)).unwrap_or_default();
                ev.annotations.warn(format!(
                    "quantile value should be between 0 and 1, got {}{pos}",
                    fmt_g(*q)
                ));
            }
            let mut out = Vec::with_capacity(groups.len());
            for (key, members) in &groups {
                // Dropped later if any member was to drop it.
                let drop_name = key.get(METRIC_NAME).is_some() && members.iter().any(|&m| input[m].drop_name);
                let mut vals = vec![None; n];
                for (i, slot) in vals.iter_mut().enumerate() {
                    let it = members.iter().filter_map(|&m| input[m].vals[i]);
                    let mut it = it.peekable();
                    if it.peek().is_none() {
                        continue;
                    }
                    *slot = Some(match op {
                        T_SUM => {
                            let (s, c) = it.fold((0.0, 0.0), |(s, c), v| kahan_inc(v, s, c));
                            s + c
                        }
                        T_AVG => avg(it),
                        T_COUNT => it.count() as f64,
                        T_GROUP => 1.0,
                        T_MIN => it.fold(f64::NAN, |acc, v| if acc > v || acc.is_nan() { v } else { acc }),
                        T_MAX => it.fold(f64::NAN, |acc, v| if acc < v || acc.is_nan() { v } else { acc }),
                        T_STDDEV | T_STDVAR => {
                            let v = stdvar(it);
                            if op == T_STDDEV { v.sqrt() } else { v }
                        }
                        T_QUANTILE => {
                            let q = param_num.as_ref().map(|p| p[i]).unwrap_or(f64::NAN);
                            quantile(q, it.collect())
                        }
                        _ => return Err(err_exec(format!("unsupported aggregation operator {}", a.op))),
                    });
                }
                out.push(Series {
                    labels: key.clone(),
                    drop_name,
                    vals,
                });
            }
            Ok(Val::Vector(out))
        }
    }
}

/// Go's `%g` for the few messages that print a float: the shortest digits
/// that read back the same, in exponent form (`1e+06`, `1.5e-05`) when the
/// decimal exponent is below -4 or at least 6.
pub(crate) fn fmt_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Rust's `{:e}` gives the same shortest digits: "1.5e-5", "-1e6".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn stdvar(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut acc) = (0.0f64, 0.0f64, 0.0f64);
    for f in values {
        count += 1.0;
        if count == 1.0 {
            mean = f;
            acc = if f.is_nan() || f.is_infinite() {
                f64::NAN
            } else {
                0.0
            };
            continue;
        }
        let delta = f - mean;
        mean += delta / count;
        acc += delta * (f - mean);
    }
    acc / count
}

fn count_values(
    input: &[Series],
    groups: &[(Labels, Vec<usize>)],
    label: &str,
    n: usize,
) -> Result<Val, QueryError> {
    if !is_valid_label_name(label) {
        return Err(err_exec(format!("invalid label name {label:?}")));
    }
    let mut out: Vec<Series> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (key, members) in groups {
        for i in 0..n {
            for &m in members {
                let Some(v) = input[m].vals[i] else { continue };
                let mut l = key.clone();
                l.set(label, &format_float(v));
                let o = *index.entry(l.clone()).or_insert_with(|| {
                    out.push(Series {
                        labels: l,
                        drop_name: false,
                        vals: vec![None; n],
                    });
                    out.len() - 1
                });
                *out[o].vals[i].get_or_insert(0.0) += 1.0;
            }
        }
    }
    Ok(Val::Vector(out))
}

/// Prometheus 3 accepts any non-empty valid UTF-8 label name.
pub(crate) fn is_valid_label_name(s: &str) -> bool {
    !s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::fmt_g;

    #[test]
    fn fmt_g_prints_as_go_does() {
        for (f, want) in [
            (1.1, "1.1"),
            (-1.0, "-1"),
            (0.0, "0"),
            (123456.7, "123456.7"),
            (1e6, "1e+06"),
            (-1234567.0, "-1.234567e+06"),
            (0.0001, "0.0001"),
            (0.000015, "1.5e-05"),
            (1e30, "1e+30"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(fmt_g(f), want, "{f}");
        }
    }
}
