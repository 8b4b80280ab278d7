//! `OPERATOR(pg_catalog.~)`: Postgres' explicitly qualified operator
//! syntax, which psql 15 writes around every name pattern (`\d samples`
//! sends `c.relname OPERATOR(pg_catalog.~) '^(samples)$'`). sqlparser
//! parses it; this planner gives the built-in operators it names their
//! DataFusion meaning (all of Postgres' operators live in `pg_catalog`).

use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans `OPERATOR(pg_catalog.op)` and `OPERATOR(op)`.
#[derive(Debug)]
pub(crate) struct QualifiedOperators;

impl ExprPlanner for QualifiedOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let op = match &expr.op {
            BinaryOperator::PGCustomBinaryOperator(name) => match name.as_slice() {
                [op] => builtin(op),
                [schema, op] if schema.eq_ignore_ascii_case("pg_catalog") => builtin(op),
                _ => None,
            },
            _ => None,
        };
        Ok(match op {
            Some(op) => PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(
                Box::new(expr.left),
                op,
                Box::new(expr.right),
            ))),
            // An unknown operator stays unplanned, and DataFusion refuses it.
            None => PlannerResult::Original(expr),
        })
    }
}

/// The DataFusion operator of a Postgres built-in one.
fn builtin(op: &str) -> Option<Operator> {
    Some(match op {
        "~" => Operator::RegexMatch,
        "~*" => Operator::RegexIMatch,
        "!~" => Operator::RegexNotMatch,
        "!~*" => Operator::RegexNotIMatch,
        "~~" => Operator::LikeMatch,
        "~~*" => Operator::ILikeMatch,
        "!~~" => Operator::NotLikeMatch,
        "!~~*" => Operator::NotILikeMatch,
        "=" => Operator::Eq,
        "<>" | "!=" => Operator::NotEq,
        "<" => Operator::Lt,
        "<=" => Operator::LtEq,
        ">" => Operator::Gt,
        ">=" => Operator::GtEq,
        "||" => Operator::StringConcat,
        "+" => Operator::Plus,
        "-" => Operator::Minus,
        "*" => Operator::Multiply,
        "/" => Operator::Divide,
        "%" => Operator::Modulo,
        _ => return None,
    })
}
