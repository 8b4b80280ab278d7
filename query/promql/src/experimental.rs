//! Prometheus' experimental PromQL, refused unless the engine enables it.
//!
//! Prometheus parses `limitk` and `limit_ratio` only with
//! `--enable-feature=promql-experimental-functions`; Sluice's switch is
//! [`crate::EngineOptions::experimental_functions`] (`query.experimental_functions`
//! in the config). promql-parser always accepts them, so the engine checks
//! the parsed expression before it plans any read.
//!
//! Only these two are gated: the experimental functions Sluice answered
//! before the switch existed (`sort_by_label`, `mad_over_time`,
//! `double_exponential_smoothing`, `first_over_time`, `ts_of_*_over_time`,
//! ...) stay available without it, so existing queries and rules keep
//! working.

use promql_parser::parser::Expr;
use promql_parser::parser::token::{T_LIMIT_RATIO, T_LIMITK};

use crate::QueryError;

/// The `bad_data` error Prometheus' parser gives for the first
/// experimental aggregation in `expr`, if any.
pub(crate) fn check_disabled(expr: &Expr) -> Result<(), QueryError> {
    match first_experimental(expr) {
        Some(op) => Err(QueryError::BadData(format!(
            "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
        ))),
        None => Ok(()),
    }
}

/// The name of the first experimental aggregation in `expr`, depth first,
/// parameters included (`topk(scalar(limitk(1, x)), y)` has one).
fn first_experimental(expr: &Expr) -> Option<&'static str> {
    match expr {
        Expr::Aggregate(a) => {
            let op = a.op.id();
            if op == T_LIMITK {
                return Some("limitk");
            }
            if op == T_LIMIT_RATIO {
                return Some("limit_ratio");
            }
            a.param
                .as_deref()
                .and_then(first_experimental)
                .or_else(|| first_experimental(&a.expr))
        }
        Expr::Call(c) => c.args.args.iter().find_map(|a| first_experimental(a)),
        Expr::Unary(u) => first_experimental(&u.expr),
        Expr::Binary(b) => first_experimental(&b.lhs).or_else(|| first_experimental(&b.rhs)),
        Expr::Paren(p) => first_experimental(&p.expr),
        Expr::Subquery(s) => first_experimental(&s.expr),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_expr;

    fn check(q: &str) -> Result<(), String> {
        check_disabled(&parse_expr(q).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn limitk_and_limit_ratio_anywhere_are_refused_with_prometheus_text() {
        for (q, op) in [
            ("limitk(1, x)", "limitk"),
            ("limit_ratio(0.5, x)", "limit_ratio"),
            ("sum(rate(x[5m])) + on() limitk by (a) (2, y)", "limitk"),
            ("topk(scalar(limit_ratio(0.1, x)), y)", "limit_ratio"),
            ("abs(-limitk(1, x))", "limitk"),
            ("max_over_time(limitk(1, x)[5m:1m])", "limitk"),
        ] {
            assert_eq!(
                check(q).unwrap_err(),
                format!(
                    "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                ),
                "{q}"
            );
        }
    }

    #[test]
    fn everything_else_passes() {
        for q in [
            "topk(1, x)",
            "sum by (limitk) (x)",
            "limitk_total",
            r#"x{a="limitk(1, y)"}"#,
        ] {
            assert_eq!(check(q), Ok(()), "{q}");
        }
    }
}
