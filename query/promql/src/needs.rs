//! What an expression reads, for callers that keep their own data window.
//!
//! The rule evaluator holds only recent samples in memory. It asks, for
//! each rule expression, which series the expression can select and how
//! far back before the evaluation time its data reaches (range, lookback,
//! offset and enclosing subqueries included — the same span arithmetic the
//! planner uses to fetch), so it can keep just those series and trim the
//! rest.

use promql_parser::parser::{AtModifier, Expr};

use crate::plan::{matcher_sets, plan};
use crate::{Matcher, QueryError};

/// One selector of an expression, seen from an instant evaluation at `t`.
#[derive(Debug, Clone)]
pub struct SelectorNeed {
    /// Its matcher sets (a series is selected if it matches every matcher
    /// of any one set).
    pub matcher_sets: Vec<Vec<Matcher>>,
    /// How far before `t` its data reaches, in milliseconds.
    pub reach_back_ms: i64,
    /// How far after `t` its data reaches (a negative `offset`).
    pub reach_ahead_ms: i64,
}

/// The selectors an instant evaluation of `query` reads. An `@` with an
/// absolute timestamp pins data at a fixed time no sliding window can
/// promise to hold, so it is an error here.
pub fn selector_needs(query: &str, lookback_ms: i64) -> Result<Vec<SelectorNeed>, QueryError> {
    let expr = crate::engine::parse(query)?;
    if has_absolute_at(&expr) {
        return Err(QueryError::BadData(
            "`@ <timestamp>` reads data at a fixed time; rules evaluated on the stream support only `@ start()`/`@ end()`".into(),
        ));
    }
    plan(&expr, 0, 0, lookback_ms)
        .iter()
        .map(|f| {
            Ok(SelectorNeed {
                matcher_sets: matcher_sets(f.selector)?,
                reach_back_ms: -f.start_ms,
                reach_ahead_ms: f.end_ms.max(0),
            })
        })
        .collect()
}

fn has_absolute_at(e: &Expr) -> bool {
    let abs = |a: &Option<AtModifier>| matches!(a, Some(AtModifier::At(_)));
    match e {
        Expr::VectorSelector(vs) => abs(&vs.at),
        Expr::MatrixSelector(ms) => abs(&ms.vs.at),
        Expr::Subquery(sq) => abs(&sq.at) || has_absolute_at(&sq.expr),
        Expr::Aggregate(a) => a.param.as_deref().is_some_and(has_absolute_at) || has_absolute_at(&a.expr),
        Expr::Unary(u) => has_absolute_at(&u.expr),
        Expr::Binary(b) => has_absolute_at(&b.lhs) || has_absolute_at(&b.rhs),
        Expr::Paren(p) => has_absolute_at(&p.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_absolute_at(a)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_covers_ranges_offsets_and_subqueries() {
        let needs = selector_needs(
            "rate(a[5m]) + b offset 1m + max_over_time(rate(c[1m])[10m:1m])",
            300_000,
        )
        .unwrap();
        let reach: Vec<i64> = needs.iter().map(|n| n.reach_back_ms).collect();
        assert_eq!(reach, vec![300_000, 360_000, 660_000]);
        assert!(needs[0].matcher_sets[0][0].matches("a"));
        assert!(selector_needs("x @ 100", 300_000).is_err());
        assert!(selector_needs("x @ end()", 300_000).is_ok());
        assert_eq!(
            selector_needs("x offset -1m", 0).unwrap()[0].reach_ahead_ms,
            60_000
        );
    }
}
