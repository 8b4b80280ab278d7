//! The selecting aggregations `topk`, `bottomk`, `limitk` and
//! `limit_ratio`: their output series are input series (all labels kept,
//! `__name__` included), present at the steps where they are selected.
//!
//! `limitk` and `limit_ratio` are Prometheus' experimental aggregations
//! (`--enable-feature=promql-experimental-functions`); the engine refuses
//! them before evaluation unless enabled ([`crate::EngineOptions`]).

use promql_parser::parser::AggregateExpr;
use promql_parser::parser::token::{T_LIMIT_RATIO, T_LIMITK, T_TOPK, TokenId};
use sluice_model::{Labels, METRIC_NAME};

use super::aggregate::fmt_g;
use super::{Evaluator, Series, Val, err_exec};
use crate::QueryError;

/// Evaluates one of the four over `input`, grouped into `groups` (member
/// indexes in input order), with the parameter's value per step.
pub(crate) fn select_k(
    ev: &mut Evaluator<'_>,
    a: &AggregateExpr,
    input: &[Series],
    groups: &[(Labels, Vec<usize>)],
    params: &[f64],
    n: usize,
) -> Result<Val, QueryError> {
    let op = a.op.id();
    let params = &params[..n];
    if op == T_LIMIT_RATIO {
        if !check_ratios(ev, a, params)? {
            return Ok(Val::Vector(Vec::new()));
        }
    } else {
        check_ks(params)?;
    }
    // limit_ratio keeps a series by its labels alone: hash each once. A
    // name a function has dropped is not hashed: Sluice drops names late
    // (for `label_replace` and friends), Prometheus by default at once,
    // so its aggregation never sees it.
    let offsets: Vec<f64> = if op == T_LIMIT_RATIO {
        input
            .iter()
            .map(|s| {
                if s.drop_name {
                    let mut l = s.labels.clone();
                    l.remove(METRIC_NAME);
                    sample_offset(&l)
                } else {
                    sample_offset(&s.labels)
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<Series> = input
        .iter()
        .map(|s| Series {
            labels: s.labels.clone(),
            drop_name: s.drop_name,
            vals: vec![None; n],
        })
        .collect();
    // Order of the instant result: per group, best first for topk/bottomk
    // (what Prometheus' heap pop yields), input order for the limits
    // (Prometheus leaves theirs unordered); used when there is one step.
    let mut order: Vec<usize> = Vec::new();
    for (i, &p) in params.iter().enumerate() {
        for (_, members) in groups {
            let present = members.iter().copied().filter(|&m| input[m].vals[i].is_some());
            let chosen: Vec<usize> = match op {
                T_LIMIT_RATIO => {
                    if p == 0.0 {
                        continue;
                    }
                    let r = p.clamp(-1.0, 1.0);
                    present.filter(|&m| keeps_ratio(r, offsets[m])).collect()
                }
                _ => {
                    let k = p.trunc() as i64;
                    if k < 1 {
                        continue;
                    }
                    if op == T_LIMITK {
                        // The first k in the engine's series order.
                        present.take(k as usize).collect()
                    } else {
                        best_k(op, input, i, present.collect(), k as usize)
                    }
                }
            };
            for m in chosen {
                out[m].vals[i] = input[m].vals[i];
                if n == 1 {
                    order.push(m);
                }
            }
        }
    }
    if n == 1 {
        let mut ordered = Vec::with_capacity(order.len());
        for m in order {
            ordered.push(std::mem::replace(
                &mut out[m],
                Series {
                    labels: Labels::default(),
                    drop_name: false,
                    vals: vec![None],
                },
            ));
        }
        return Ok(Val::Vector(ordered));
    }
    Ok(Val::Vector(
        out.into_iter()
            .filter(|s| s.vals.iter().any(Option::is_some))
            .collect(),
    ))
}

/// The k of topk, bottomk and limitk must be a number an int64 holds.
fn check_ks(params: &[f64]) -> Result<(), QueryError> {
    for &p in params {
        if p.is_nan() {
            return Err(err_exec("Parameter value is NaN"));
        }
        if !(-9.223372036854776e18..9.223372036854776e18).contains(&p) {
            return Err(err_exec(format!("Scalar value {} overflows int64", fmt_g(p))));
        }
    }
    Ok(())
}

/// Prometheus' checks of limit_ratio's ratios over all steps, in its
/// order: all zero selects nothing (false, and no error even for an empty
/// input), any NaN is an error, and a ratio beyond ±1 is capped with one
/// warning per side naming the extreme value.
fn check_ratios(ev: &mut Evaluator<'_>, a: &AggregateExpr, params: &[f64]) -> Result<bool, QueryError> {
    if params.iter().all(|&r| r == 0.0) {
        return Ok(false);
    }
    if params.iter().any(|r| r.is_nan()) {
        return Err(err_exec("Ratio value is NaN"));
    }
    let max = params.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = params.iter().copied().fold(f64::INFINITY, f64::min);
    let pos = a.param.as_ref().map(|p| ev.pos(p)).unwrap_or_default();
    let mut capped = |value: f64, cap: f64| {
        ev.annotations.warn(format!(
            "ratio value should be between -1 and 1, got {}, capping to {}{pos}",
            fmt_g(value),
            fmt_g(cap)
        ))
    };
    if max > 1.0 {
        capped(max, 1.0);
    }
    if min < -1.0 {
        capped(min, -1.0);
    }
    Ok(true)
}

/// Where a series falls in `[0, 1]`: Prometheus' hash of its labels over
/// the largest hash (`float64(math.MaxUint64)`, which rounds to 2^64).
pub(crate) fn sample_offset(labels: &Labels) -> f64 {
    labels.prometheus_hash() as f64 / u64::MAX as f64
}

/// Prometheus' `AddRatioSampleWithOffset`: a ratio `r >= 0` keeps the
/// series whose offset is below `r`, a negative one the complement side
/// (`limit_ratio(-0.2, v)` keeps what `limit_ratio(0.8, v)` drops). As
/// upstream, `r == 1` misses a series whose offset rounds to exactly 1.0
/// (a hash within about 2^11 of the top), and `r == -1` keeps everything.
pub(crate) fn keeps_ratio(r: f64, offset: f64) -> bool {
    (r >= 0.0 && offset < r) || (r < 0.0 && offset >= 1.0 + r)
}

/// topk/bottomk: the `k` best of `present` at step `i`, best first; NaN is
/// always the least preferred value.
fn best_k(op: TokenId, input: &[Series], i: usize, mut present: Vec<usize>, k: usize) -> Vec<usize> {
    let val = |m: usize| input[m].vals[i].unwrap_or(f64::NAN);
    present.sort_by(|&x, &y| {
        let (a, b) = (val(x), val(y));
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if op == T_TOPK => b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal),
            _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        }
    });
    present.truncate(k);
    present
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_prometheus_hash() {
        // 0x4f9eaa4cfaa995d8 / 2^64 (see sluice_model's pinned hash).
        let l = Labels::new([
            ("__name__", "http_requests"),
            ("group", "production"),
            ("instance", "0"),
            ("job", "api-server"),
        ]);
        let off = sample_offset(&l);
        assert!((off - 0.311_014_789_384_591_87).abs() < 1e-15, "{off}");
        assert!(keeps_ratio(0.32, off));
        assert!(!keeps_ratio(0.31, off));
        // The complement: -0.69 keeps offsets >= 0.31.
        assert!(keeps_ratio(-0.69, off));
        assert!(!keeps_ratio(-0.68, off));
    }

    #[test]
    fn a_ratio_and_its_complement_split_every_offset() {
        for off in [0.0, 0.1, 0.25, 0.5, 0.999_999] {
            for r in [0.2, 0.5, 0.8] {
                assert_ne!(keeps_ratio(r, off), keeps_ratio(r - 1.0, off), "{r} {off}");
            }
            assert!(keeps_ratio(1.0, off) && keeps_ratio(-1.0, off));
        }
    }
}
