//! `histogram_quantile` and `histogram_fraction` over classic histograms
//! (series with an `le` bucket label). Native histograms are not stored by
//! Sluice, so the native-only functions (`histogram_count`, ...) yield
//! nothing.

use std::collections::HashMap;

use promql_parser::parser::Expr;
use sluice_model::Labels;

use super::super::aggregate::fmt_g;
use super::{Evaluator, Grid, Series, Val, scalar_arg};
use crate::QueryError;

#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Go's `strconv.ParseFloat` for the spellings `le` labels use.
fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.contains(char::is_whitespace) {
        return None;
    }
    t.parse::<f64>().ok()
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < eps * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Sorts, merges equal bounds, and irons out decreases; returns whether
/// monotonicity had to be forced.
fn prepare(buckets: &mut Vec<Bucket>) -> bool {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(l) if l.upper == b.upper => l.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let cur = b.count;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, 1e-12) {
            b.count = prev;
            continue;
        }
        if cur < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    forced
}

/// Prometheus' `BucketQuantile`: linear interpolation inside the bucket
/// holding the rank.
fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let forced = prepare(&mut buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|b| b.count < rank);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    let mut start = 0.0;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

/// Fraction of observations between `lower` and `upper`, interpolating
/// linearly inside buckets. Buckets of infinite width cannot be
/// interpolated: their observations are taken to sit at the infinite end
/// (so they count only when the whole bucket is inside the range).
fn bucket_fraction(lower: f64, upper: f64, mut buckets: Vec<Bucket>) -> f64 {
    buckets.sort_by(|a, b| a.upper.partial_cmp(&b.upper).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    prepare(&mut buckets);
    let total = buckets[buckets.len() - 1].count;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let rank = |x: f64| -> f64 {
        if x == f64::NEG_INFINITY {
            return 0.0;
        }
        if x == f64::INFINITY {
            return total;
        }
        let mut prev_count = 0.0;
        for (i, b) in buckets.iter().enumerate() {
            let lo = match i {
                0 if b.upper <= 0.0 => f64::NEG_INFINITY,
                0 => 0.0,
                _ => buckets[i - 1].upper,
            };
            if x <= b.upper {
                let cnt = b.count - prev_count;
                return if lo == f64::NEG_INFINITY {
                    b.count
                } else if b.upper == f64::INFINITY {
                    prev_count
                } else {
                    prev_count + cnt * (x.max(lo) - lo) / (b.upper - lo)
                };
            }
            prev_count = b.count;
        }
        total
    };
    (rank(upper) - rank(lower)) / total
}

/// `histogram_quantiles(v, "label", q1, q2, ...)`: one output series per
/// quantile, told apart by `label`.
pub(crate) fn eval_quantiles(ev: &mut Evaluator<'_>, args: &[&Expr], grid: Grid) -> Result<Val, QueryError> {
    let label = super::string_arg(ev, args.get(1), grid)?;
    let mut out = Vec::new();
    for q in &args[2..] {
        let qs = ev.eval_scalar(q, grid)?;
        let call_args = [*q, args[0]];
        let Val::Vector(vs) = eval(ev, "histogram_quantile", &call_args, grid)? else {
            continue;
        };
        let mut text = super::super::util::format_float(qs.first().copied().unwrap_or(f64::NAN));
        if qs.first().is_some_and(|q| q.is_finite()) && !text.contains('.') {
            text.push_str(".0");
        }
        for mut s in vs {
            s.labels.set(&label, &text);
            out.push(s);
        }
    }
    Ok(Val::Vector(out))
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let n = grid.len();
    let (params, varg): (Vec<Vec<f64>>, &Expr) = match name {
        "histogram_quantile" => (vec![scalar_arg(ev, args.first(), grid, 0.0)?], args[1]),
        "histogram_fraction" => (
            vec![
                scalar_arg(ev, args.first(), grid, 0.0)?,
                scalar_arg(ev, args.get(1), grid, 0.0)?,
            ],
            args[2],
        ),
        _ => {
            // Native-histogram functions: floats have no histogram value.
            ev.eval_vector(args[0], grid)?;
            return Ok(Val::Vector(vec![]));
        }
    };
    if name == "histogram_quantile"
        && let Some(q) = params[0].iter().find(|q| !(0.0..=1.0).contains(*q))
    {
        let pos = ev.pos(args[0]);
        ev.annotations.warn(format!(
            "quantile value should be between 0 and 1, got {}{pos}",
            fmt_g(*q)
        ));
    }
    let input = ev.eval_vector(varg, grid)?;
    // Group by all labels but `le` (the name is part of the group, and is
    // dropped from the result later).
    let mut groups: Vec<(Labels, Vec<(usize, f64)>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (k, s) in input.iter().enumerate() {
        let le = s.labels.get("le").and_then(parse_le);
        let Some(le) = le else {
            let pos = ev.pos(varg);
            ev.annotations.warn(format!(
                "bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}{pos}",
                s.labels.get("le").unwrap_or(""),
                s.labels.metric_name().unwrap_or("")
            ));
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((key, Vec::new()));
            groups.len() - 1
        });
        groups[g].1.push((k, le));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, members) in groups {
        let mut vals = vec![None; n];
        for (i, slot) in vals.iter_mut().enumerate() {
            let buckets: Vec<Bucket> = members
                .iter()
                .filter_map(|&(k, le)| input[k].vals[i].map(|c| Bucket { upper: le, count: c }))
                .collect();
            if buckets.is_empty() {
                continue;
            }
            *slot = Some(if name == "histogram_quantile" {
                let (v, forced) = bucket_quantile(params[0][i], buckets);
                if forced {
                    let pos = ev.pos(varg);
                    ev.annotations.info(format!(
                        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {:?}{pos}",
                        key.metric_name().unwrap_or("")
                    ));
                }
                v
            } else {
                bucket_fraction(params[0][i], params[1][i], buckets)
            });
        }
        out.push(Series {
            labels: key,
            drop_name: true,
            vals,
        });
    }
    Ok(Val::Vector(out))
}
