//! `time`, `pi`, `vector`, `scalar`, `absent`, and the `sort*` family.

use std::cmp::Ordering;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;
use sluice_model::{Labels, METRIC_NAME};

use super::super::util::cmp_f64_nan_last;
use super::math::{go_max, go_min};
use super::{Evaluator, Grid, Series, Val, string_arg};
use crate::QueryError;

/// Labels `absent()` reports: the equality matchers of a selector argument,
/// except names matched more than once (Prometheus' historic behaviour).
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut out = Labels::default();
    let mut seen: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            out.set(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            out.remove(&m.name);
        }
    }
    out
}

/// Scalars about the query itself (`step()`, `range()`, `start()`,
/// `end()`, in seconds; 0 step and range for instant queries) and
/// `min_of`/`max_of` (Go's `math.Min`/`math.Max`, NaN wins).
pub(crate) fn query_scalar(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let n = grid.len();
    let v = match name {
        "step" => ev.query_step as f64 / 1e3,
        "range" => (ev.query_end - ev.query_start) as f64 / 1e3,
        "start" => ev.query_start as f64 / 1e3,
        "end" => ev.query_end as f64 / 1e3,
        _ => {
            let a = ev.eval_scalar(args[0], grid)?;
            let b = ev.eval_scalar(args[1], grid)?;
            let f = if name == "min_of" { go_min } else { go_max };
            return Ok(Val::Scalar(a.into_iter().zip(b).map(|(x, y)| f(x, y)).collect()));
        }
    };
    Ok(Val::Scalar(vec![v; n]))
}

pub(crate) fn eval(
    ev: &mut Evaluator<'_>,
    name: &str,
    args: &[&Expr],
    grid: Grid,
) -> Result<Val, QueryError> {
    let n = grid.len();
    Ok(match name {
        "time" => Val::Scalar((0..n).map(|i| grid.ts(i) as f64 / 1000.0).collect()),
        "pi" => Val::Scalar(vec![std::f64::consts::PI; n]),
        "vector" => {
            let s = ev.eval_scalar(args[0], grid)?;
            Val::Vector(vec![Series {
                labels: Labels::default(),
                drop_name: false,
                vals: s.into_iter().map(Some).collect(),
            }])
        }
        "scalar" => {
            let v = ev.eval_vector(args[0], grid)?;
            Val::Scalar(
                (0..n)
                    .map(|i| {
                        let mut it = v.iter().filter_map(|s| s.vals[i]);
                        match (it.next(), it.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            )
        }
        "absent" => {
            let v = ev.eval_vector(args[0], grid)?;
            let vals: Vec<Option<f64>> = (0..n)
                .map(|i| (!v.iter().any(|s| s.vals[i].is_some())).then_some(1.0))
                .collect();
            if vals.iter().any(Option::is_some) {
                Val::Vector(vec![Series {
                    labels: absent_labels(args[0]),
                    drop_name: false,
                    vals,
                }])
            } else {
                Val::Vector(vec![])
            }
        }
        _ => {
            // sort, sort_desc, sort_by_label, sort_by_label_desc: only the
            // order of an instant result changes; range results are always
            // ordered by labels.
            let mut v = ev.eval_vector(args[0], grid)?;
            let mut by: Vec<String> = Vec::new();
            for a in &args[1..] {
                by.push(string_arg(ev, Some(a), grid)?);
            }
            let val = |s: &Series| s.vals.first().copied().flatten().unwrap_or(f64::NAN);
            match name {
                "sort" => v.sort_by(|a, b| cmp_f64_nan_last(val(a), val(b))),
                "sort_desc" => v.sort_by(|a, b| match (val(a).is_nan(), val(b).is_nan()) {
                    (false, false) => cmp_f64_nan_last(val(b), val(a)),
                    _ => cmp_f64_nan_last(val(a), val(b)),
                }),
                _ => {
                    let desc = name == "sort_by_label_desc";
                    v.sort_by(|a, b| {
                        let mut o = Ordering::Equal;
                        for l in &by {
                            o = natural_cmp(a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                            if o != Ordering::Equal {
                                break;
                            }
                        }
                        if o == Ordering::Equal {
                            o = a.labels.cmp(&b.labels);
                        }
                        if desc { o.reverse() } else { o }
                    })
                }
            }
            Val::Vector(v)
        }
    })
}

/// Natural ("human") order: digit runs compare numerically.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}
