//! Postgres array literals compared with arrays: psql's `\d` sends
//! `pol.polroles = '{0}'`, where Postgres reads the string as an array of
//! the column's element type. DataFusion finds no common type for a list
//! and a string and refuses the comparison; this planner reads the string
//! as Postgres does (`{a,b}`, `"quoted, with comma"`, unquoted `NULL`).

use arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator, lit};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans `list = '{...}'` and `list <> '{...}'` (either side).
#[derive(Debug)]
pub(crate) struct ArrayLiterals;

impl ExprPlanner for ArrayLiterals {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Eq => Operator::Eq,
            BinaryOperator::NotEq => Operator::NotEq,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        let left = as_array(&expr.right, &expr.left, schema);
        let right = as_array(&expr.left, &expr.right, schema);
        let (l, r) = match (left, right) {
            (Some(l), _) => (l, expr.right.clone()),
            (None, Some(r)) => (expr.left.clone(), r),
            (None, None) => return Ok(PlannerResult::Original(expr)),
        };
        Ok(PlannerResult::Planned(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(l),
            op,
            Box::new(r),
        ))))
    }
}

/// `candidate` as a list literal of `other`'s type, if `other` is a list
/// and `candidate` a string literal in Postgres' array syntax.
fn as_array(other: &Expr, candidate: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::Literal(ScalarValue::Utf8(Some(text)), _) = candidate else {
        return None;
    };
    let element = match other.get_type(schema).ok()? {
        DataType::List(f) | DataType::LargeList(f) => f.data_type().clone(),
        _ => return None,
    };
    let values = parse(text)?
        .into_iter()
        .map(|v| ScalarValue::Utf8(v).cast_to(&element))
        .collect::<DfResult<Vec<_>>>()
        .ok()?;
    Some(lit(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &element,
    ))))
}

/// The elements of a one-dimensional Postgres array literal; None if
/// `text` is not one.
fn parse(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => item.push(chars.next()?),
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if matches!(c, '{' | '}' | '"') {
                    // Nested arrays are not read here.
                    return None;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
        }
        out.push(if !quoted && item.eq_ignore_ascii_case("null") {
            None
        } else {
            Some(item)
        });
        match chars.next() {
            None => return Some(out),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_array_literals_parse() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(parse("{0}"), Some(vec![s("0")]));
        assert_eq!(parse("{}"), Some(vec![]));
        assert_eq!(parse("{a, b ,NULL}"), Some(vec![s("a"), s("b"), None]));
        assert_eq!(
            parse(r#"{"x, y","NULL","q\"q"}"#),
            Some(vec![s("x, y"), s("NULL"), s("q\"q")])
        );
        assert_eq!(parse("{{1,2},{3,4}}"), None);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("{\"open}"), None);
    }
}
