//! A call answered from a downsampled tier (chosen by
//! [`crate::resolution`]): the tier's aggregates become range vectors over
//! the same windows the raw selector would have, and the function is
//! mapped onto them (`count_over_time` sums the counts, `avg_over_time`
//! divides summed sums by summed counts). Evaluation times past the tier's
//! complete part are evaluated over raw data, as if no tier existed.

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr};
use sluice_model::Labels;

use super::over_time::{window_max, window_min, window_sum};
use super::rate::extrapolated_rate;
use super::{Evaluator, Grid, Series, Val, eval_call_raw, map_windows, unwrap_parens};
use crate::QueryError;
use crate::eval::dur_ms;
use crate::eval::selector::{build_matrix, window_ends};
use crate::resolution::{TierFunc, TieredCall};

pub(crate) fn eval(ev: &mut Evaluator<'_>, c: &Call, t: &TieredCall, grid: Grid) -> Result<Val, QueryError> {
    let Some(Expr::MatrixSelector(ms)) = c.args.args.first().map(|a| unwrap_parens(a)) else {
        // The planner only tiers calls over a matrix selector.
        return eval_call_raw(ev, c, grid);
    };
    let ends = window_ends(ev, &ms.vs, grid);
    let range = dur_ms(&ms.range);
    let from_tier: Vec<bool> = ends.iter().map(|&e| e <= t.tier.complete_until_ms).collect();
    let mut out: Vec<Series> = Vec::new();
    if from_tier.contains(&true) {
        let m = t
            .data
            .iter()
            .map(|d| build_matrix(ev, d, range, ends.clone(), grid))
            .collect::<Result<Vec<_>, _>>()?;
        out = match t.func {
            TierFunc::Counter { is_rate } => map_windows(&m[0], true, |_, i, w| {
                extrapolated_rate(w, ends[i] - range, ends[i], range, true, is_rate)
            }),
            TierFunc::Min => map_windows(&m[0], true, |_, _, w| Some(window_min(w))),
            TierFunc::Max => map_windows(&m[0], true, |_, _, w| Some(window_max(w))),
            TierFunc::Sum | TierFunc::Count => map_windows(&m[0], true, |_, _, w| Some(window_sum(w))),
            TierFunc::Avg => {
                let sums = map_windows(&m[0], true, |_, _, w| Some(window_sum(w)));
                let counts: HashMap<Labels, Vec<Option<f64>>> =
                    map_windows(&m[1], true, |_, _, w| Some(window_sum(w)))
                        .into_iter()
                        .map(|s| (s.labels, s.vals))
                        .collect();
                sums.into_iter()
                    .filter_map(|mut s| {
                        let n = counts.get(&s.labels)?;
                        for (v, n) in s.vals.iter_mut().zip(n) {
                            *v = match (*v, n) {
                                (Some(sum), Some(n)) if *n > 0.0 => Some(sum / n),
                                _ => None,
                            };
                        }
                        Some(s)
                    })
                    .collect()
            }
        };
        for s in &mut out {
            for (v, tier) in s.vals.iter_mut().zip(&from_tier) {
                if !tier {
                    *v = None;
                }
            }
        }
    }
    if from_tier.contains(&false) {
        let raw = match eval_call_raw(ev, c, grid)? {
            Val::Vector(v) => v,
            other => {
                return Err(super::err_bad(format!(
                    "expected instant vector, got {}",
                    other.type_name()
                )));
            }
        };
        let mut index: HashMap<Labels, usize> = out
            .iter()
            .enumerate()
            .map(|(i, s)| (s.labels.clone(), i))
            .collect();
        for mut r in raw {
            for (v, tier) in r.vals.iter_mut().zip(&from_tier) {
                if *tier {
                    *v = None;
                }
            }
            match index.get(&r.labels) {
                Some(&i) => {
                    for (a, b) in out[i].vals.iter_mut().zip(r.vals) {
                        if b.is_some() {
                            *a = b;
                        }
                    }
                }
                None => {
                    index.insert(r.labels.clone(), out.len());
                    out.push(r);
                }
            }
        }
    }
    out.retain(|s| s.vals.iter().any(Option::is_some));
    Ok(Val::Vector(out))
}
