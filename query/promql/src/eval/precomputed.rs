//! The evaluator's hook for leaves computed ahead of evaluation (see
//! [`crate::leaves`]): reaching a leaf's node, it takes the leaf's result
//! instead of computing the node, and still reports what the node would
//! report (annotations, queryable samples).

use std::collections::HashMap;

use promql_parser::parser::Expr;
use sluice_model::TimeSeries;

use super::functions::{over_time, rate};
use super::{Evaluator, Grid, Series, Val, err_exec};
use crate::QueryError;
use crate::leaves::{FoundLeaf, LeafKind};

/// A leaf's value over its grid.
pub(crate) struct LeafValue {
    grid: Grid,
    kind: LeafKind,
    series: Vec<Series>,
}

/// Leaf values keyed by the address of their node in the expression.
pub(crate) type LeafValues = HashMap<usize, LeafValue>;

fn node_key(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// Pairs each found leaf with its result (same order); the series come
/// out as the evaluator would produce them: sorted by labels, a value per
/// step of the grid.
pub(crate) fn leaf_values(
    found: &[FoundLeaf<'_>],
    results: &[Vec<TimeSeries>],
) -> Result<LeafValues, QueryError> {
    if found.len() != results.len() {
        return Err(err_exec(format!(
            "the plan computed {} leaves, the query has {}",
            results.len(),
            found.len()
        )));
    }
    let mut out = HashMap::with_capacity(found.len());
    for (f, rows) in found.iter().zip(results) {
        let grid = f.leaf.steps.grid();
        let drop_name = match &f.leaf.kind {
            LeafKind::Instant { .. } => false,
            LeafKind::Range { function, .. } => function.drops_metric_name(),
        };
        let mut series = Vec::with_capacity(rows.len());
        for ts in rows {
            let mut vals = vec![None; grid.len()];
            for p in &ts.samples {
                let i = (p.timestamp_ms - grid.start) / grid.step;
                match vals.get_mut(i as usize) {
                    Some(slot) if i >= 0 && grid.ts(i as usize) == p.timestamp_ms => *slot = Some(p.value),
                    _ => {
                        return Err(err_exec(format!(
                            "a leaf result has a point at {} ms, not a step of its grid",
                            p.timestamp_ms
                        )));
                    }
                }
            }
            if vals.iter().any(Option::is_some) {
                series.push(Series {
                    labels: ts.labels.clone(),
                    drop_name,
                    vals,
                });
            }
        }
        // The evaluator's selectors yield series in label order.
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        out.insert(
            node_key(f.node),
            LeafValue {
                grid,
                kind: f.leaf.kind.clone(),
                series,
            },
        );
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// The precomputed value of `expr` over `grid`, if it is a leaf.
    pub(crate) fn precomputed(&mut self, expr: &Expr, grid: Grid) -> Result<Option<Val>, QueryError> {
        let Some(leaf) = self.leaves.get(&node_key(expr)) else {
            return Ok(None);
        };
        if leaf.grid != grid {
            // Leaves are only planned outside subqueries, so this is a bug.
            return Err(err_exec(format!(
                "a precomputed leaf planned for {:?} was evaluated over {grid:?}",
                leaf.grid
            )));
        }
        let series = leaf.series.clone();
        match (&leaf.kind, expr) {
            (LeafKind::Instant { .. }, _) => {
                let mut queryable = vec![0u64; grid.len()];
                for s in &series {
                    for (q, v) in queryable.iter_mut().zip(&s.vals) {
                        *q += u64::from(v.is_some());
                    }
                }
                self.counter.borrow_mut().add(grid, queryable);
            }
            (LeafKind::Range { function, .. }, Expr::Call(c)) => {
                let name = function.name();
                if let Some(arg) = c.args.args.first() {
                    rate::counter_info(self, name, arg, &series);
                    if name == "quantile_over_time"
                        && !series.is_empty()
                        && let Some(&q) = function.params().first()
                        && !(0.0..=1.0).contains(&q)
                    {
                        over_time::quantile_warning(self, q, arg);
                    }
                }
            }
            (LeafKind::Range { .. }, _) => {
                return Err(err_exec("a precomputed range function is not a call"));
            }
        }
        Ok(Some(Val::Vector(series)))
    }
}
