//! Subqueries: the inner expression is evaluated on its own step grid and
//! its points become a range vector for the outer steps.

use promql_parser::parser::SubqueryExpr;
use sluice_model::Sample;

use super::{Evaluator, Grid, Matrix, RawSeries, Val, dur_ms, offset_ms};
use crate::QueryError;

/// Default subquery step when none is given (Prometheus uses the global
/// evaluation interval, 1 m by default, which promqltest also uses).
pub(crate) const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;

pub(crate) fn eval_subquery(
    ev: &mut Evaluator<'_>,
    sq: &SubqueryExpr,
    grid: Grid,
) -> Result<Matrix, QueryError> {
    let off = offset_ms(&sq.offset);
    let range = dur_ms(&sq.range);
    let step = sq
        .step
        .as_ref()
        .map(dur_ms)
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SUBQUERY_STEP_MS);
    let at = ev.at_ms(&sq.at);
    let ends: Vec<i64> = (0..grid.len()).map(|i| at.unwrap_or(grid.ts(i)) - off).collect();
    let first_end = ends.iter().copied().min().unwrap_or(0);
    let last_end = ends.iter().copied().max().unwrap_or(0);
    // Prometheus starts at the first multiple of the step after
    // `start - offset - range` (Go's truncating division, kept on purpose so
    // negative timestamps align the same way).
    let lo = first_end - range;
    let mut start = step * (lo / step);
    if start <= lo {
        start += step;
    }
    let inner = Grid {
        start,
        end: last_end,
        step,
    };
    let series = match ev.eval(&sq.expr, inner)? {
        Val::Scalar(v) => vec![RawSeries {
            labels: Default::default(),
            drop_name: false,
            samples: points(inner, v.into_iter().map(Some)),
        }],
        Val::Vector(vs) => vs
            .into_iter()
            .map(|s| RawSeries {
                labels: s.labels,
                drop_name: s.drop_name,
                samples: points(inner, s.vals.into_iter()),
            })
            .filter(|s| !s.samples.is_empty())
            .collect(),
        other => {
            return Err(super::err_bad(format!(
                "subquery is only allowed on instant vector, got {}",
                other.type_name()
            )));
        }
    };
    Ok(Matrix { series, range, ends })
}

fn points(grid: Grid, vals: impl Iterator<Item = Option<f64>>) -> Vec<Sample> {
    vals.enumerate()
        .filter_map(|(i, v)| v.map(|v| Sample::new(grid.ts(i), v)))
        .collect()
}
