//! Leaves of an expression that a caller can evaluate ahead of the
//! evaluator, each from one read of raw samples: instant vector selectors
//! and per-series range functions over a matrix selector (`rate(x[5m])`,
//! `quantile_over_time(0.9, x[5m])`).
//!
//! The query layer plans each leaf as its own DataFusion nodes
//! (`PromInstantManipulate`, or `PromRangeManipulate` under
//! `PromRangeFunction`) and hands the results back through
//! [`crate::SeriesSource::leaf_results`]; the evaluator then takes a leaf's
//! result when it reaches the leaf's node instead of computing it (see
//! `Evaluator::precomputed`). Only nodes evaluated over the query's own
//! steps are leaves; these stay with the evaluator, over raw reads:
//! selectors inside subqueries (their steps are the subquery's), the
//! selector of `timestamp(x)` (it reports sample times), selectors with
//! `or` inside braces (several reads), matrix selectors not directly under
//! a per-series range function (`absent_over_time`, a bare `x[5m]`), and
//! range functions whose parameters are not number literals.

use promql_parser::parser::{AtModifier, Call, Expr, VectorSelector};
use sluice_model::TimeSeries;

use crate::QueryError;
use crate::eval::functions::unwrap_parens;
use crate::eval::util::system_time_ms;
use crate::eval::{Grid, dur_ms, offset_ms};
use crate::plan::{SelectRequest, matcher_sets};
use crate::steps::RangeFunction;

/// The steps of a leaf and where its windows end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct LeafSteps {
    /// First step time (ms).
    pub start_ms: i64,
    /// Last step time (ms).
    pub end_ms: i64,
    /// Step width (ms; 1 for an instant query, which has one step).
    pub step_ms: i64,
    /// The selector's `offset` (ms), subtracted from every window end.
    pub offset_ms: i64,
    /// The selector's `@` time, which every window then ends at (before
    /// the offset).
    pub at_ms: Option<i64>,
}

impl LeafSteps {
    /// The number of steps.
    pub fn len(&self) -> usize {
        self.grid().len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time of step `i`.
    pub fn step_ts(&self, i: usize) -> i64 {
        self.grid().ts(i)
    }

    /// Where the window of each step ends: the step time (or the `@` time)
    /// minus the offset.
    pub fn ends(&self) -> Vec<i64> {
        (0..self.len())
            .map(|i| self.at_ms.unwrap_or(self.step_ts(i)) - self.offset_ms)
            .collect()
    }

    pub(crate) fn grid(&self) -> Grid {
        Grid {
            start: self.start_ms,
            end: self.end_ms,
            step: self.step_ms,
        }
    }
}

/// What a leaf computes per series and step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub enum LeafKind {
    /// An instant vector selector: the latest sample within the lookback.
    Instant {
        /// The lookback delta (ms).
        lookback_ms: i64,
    },
    /// A range function over the left-open windows `(end - range, end]`.
    Range {
        /// The selector's range (ms).
        range_ms: i64,
        /// The function and its constant parameters.
        function: RangeFunction,
    },
}

/// One leaf: what it computes, over which steps, from which read.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// What it computes.
    pub kind: LeafKind,
    /// Its steps and window ends.
    pub steps: LeafSteps,
    /// The raw samples it needs.
    pub read: SelectRequest,
}

/// A leaf and the nodes of the expression it stands for.
pub(crate) struct FoundLeaf<'e> {
    pub(crate) leaf: Leaf,
    /// The node whose value the leaf is (the selector or the call).
    pub(crate) node: &'e Expr,
    /// The selector whose raw read the leaf replaces.
    pub(crate) selector: &'e VectorSelector,
}

/// The leaves of `expr` evaluated over `grid` (the query's steps), in a
/// fixed order (depth first, left to right).
pub(crate) fn find(expr: &Expr, grid: Grid, lookback_ms: i64) -> Result<Vec<FoundLeaf<'_>>, QueryError> {
    let mut out = Vec::new();
    walk(expr, grid, lookback_ms, &mut out)?;
    Ok(out)
}

fn walk<'e>(e: &'e Expr, grid: Grid, lookback: i64, out: &mut Vec<FoundLeaf<'e>>) -> Result<(), QueryError> {
    match e {
        Expr::VectorSelector(vs) => {
            if let Some(leaf) = leaf(
                vs,
                grid,
                LeafKind::Instant {
                    lookback_ms: lookback,
                },
                lookback,
            )? {
                out.push(FoundLeaf {
                    leaf,
                    node: e,
                    selector: vs,
                });
            }
        }
        Expr::Call(c) => {
            if c.func.name == "timestamp" {
                // Its selector reports sample times: evaluated with raw data.
                return Ok(());
            }
            if let Some((ms_vs, kind, back)) = range_call(c)?
                && let Some(leaf) = leaf(ms_vs, grid, kind, back)?
            {
                out.push(FoundLeaf {
                    leaf,
                    node: e,
                    selector: ms_vs,
                });
                return Ok(());
            }
            for a in &c.args.args {
                walk(a, grid, lookback, out)?;
            }
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, grid, lookback, out)?;
            }
            walk(&a.expr, grid, lookback, out)?;
        }
        Expr::Unary(u) => walk(&u.expr, grid, lookback, out)?,
        Expr::Binary(b) => {
            walk(&b.lhs, grid, lookback, out)?;
            walk(&b.rhs, grid, lookback, out)?;
        }
        Expr::Paren(p) => walk(&p.expr, grid, lookback, out)?,
        // Subqueries evaluate on their own steps; bare matrix selectors
        // are range vectors, not per-step values.
        Expr::Subquery(_)
        | Expr::MatrixSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => {}
    }
    Ok(())
}

/// A per-series range function over a matrix selector with number-literal
/// parameters: its selector, kind and range.
fn range_call(c: &Call) -> Result<Option<(&VectorSelector, LeafKind, i64)>, QueryError> {
    let args: Vec<&Expr> = c.args.args.iter().map(|a| unwrap_parens(a)).collect();
    let m = usize::from(c.func.name == "quantile_over_time");
    let Some(Expr::MatrixSelector(ms)) = args.get(m) else {
        return Ok(None);
    };
    let mut params = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i == m {
            continue;
        }
        match number(a) {
            Some(v) => params.push(v),
            None => return Ok(None),
        }
    }
    let Ok(function) = RangeFunction::new(c.func.name, &params) else {
        return Ok(None);
    };
    let range_ms = dur_ms(&ms.range);
    Ok(Some((&ms.vs, LeafKind::Range { range_ms, function }, range_ms)))
}

/// A number literal, possibly negated or parenthesised.
fn number(e: &Expr) -> Option<f64> {
    match unwrap_parens(e) {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Unary(u) => number(&u.expr).map(|v| -v),
        _ => None,
    }
}

/// The leaf of selector `vs` over `grid` looking back `back` ms, unless
/// its braces hold `or` (several reads).
fn leaf(vs: &VectorSelector, grid: Grid, kind: LeafKind, back: i64) -> Result<Option<Leaf>, QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Ok(None);
    }
    let at_ms = match &vs.at {
        None => None,
        Some(AtModifier::Start) => Some(grid.start),
        Some(AtModifier::End) => Some(grid.end),
        Some(AtModifier::At(t)) => Some(system_time_ms(t)),
    };
    let offset_ms = offset_ms(&vs.offset);
    let (lo, hi) = at_ms.map_or((grid.start, grid.end), |a| (a, a));
    let Some(matchers) = matcher_sets(vs)?.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(Leaf {
        kind,
        steps: LeafSteps {
            start_ms: grid.start,
            end_ms: grid.end,
            step_ms: grid.step,
            offset_ms,
            at_ms,
        },
        read: SelectRequest {
            matchers,
            start_ms: lo - offset_ms - back,
            end_ms: hi - offset_ms,
        },
    }))
}

/// The results of a query's leaves, in [`crate::Engine::plan_query`]'s
/// order: per leaf, its series with one sample per step that has a value
/// (timestamped with the step time).
pub type LeafResults = Vec<Vec<TimeSeries>>;
