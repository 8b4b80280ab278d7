//! `ARRAY(SELECT ...)`, Postgres' array constructor from a subquery,
//! which psql's `\d` sends for every table (the roles of its row-level
//! policies: `array(select rolname from pg_catalog.pg_roles where oid =
//! any (pol.polroles) order by 1)`).
//!
//! sqlparser parses it as a call of a function `array` whose argument is
//! a query, which DataFusion refuses. It means the subquery's one column
//! as an array in the subquery's order, which is what
//! `(SELECT coalesce(array_agg(col ORDER BY ...), []) FROM ... WHERE ...)`
//! computes (`coalesce`: an empty subquery makes an empty array, not
//! NULL); a subquery of that simple shape (one column, no grouping,
//! `DISTINCT` or limit) is rewritten so; any other stays, and DataFusion
//! refuses it as before.

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, OrderByExpr, OrderByKind, Query, SelectItem, SetExpr, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `e` as an aggregating scalar subquery if it is `ARRAY(simple subquery)`.
pub(super) fn to_array_agg(e: &mut Expr) {
    let Expr::Function(f) = e else {
        return;
    };
    if !(f.name.0.len() == 1 && f.name.to_string().eq_ignore_ascii_case("array")) {
        return;
    }
    let FunctionArguments::Subquery(query) = &f.args else {
        return;
    };
    if let Some(rewritten) = aggregated(query) {
        *e = Expr::Subquery(Box::new(rewritten));
    }
}

/// `query` with its one column collected by `array_agg`, or None if it is
/// not of the simple shape.
fn aggregated(query: &Query) -> Option<Query> {
    let mut query = query.clone();
    if query.with.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let simple = select.distinct.is_none()
        && select.having.is_none()
        && matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    let column = match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(e)] | [SelectItem::ExprWithAlias { expr: e, .. }] if simple => e.clone(),
        _ => return None,
    };
    let order: Vec<OrderByExpr> = match query.order_by.take() {
        None => Vec::new(),
        Some(o) => match o.kind {
            OrderByKind::Expressions(exprs) if o.interpolate.is_none() => exprs
                .into_iter()
                .map(|mut o| {
                    // `ORDER BY 1` names the one column.
                    if matches!(&o.expr, Expr::Value(v) if v.value == Value::Number("1".into(), false)) {
                        o.expr = column.clone();
                    }
                    o
                })
                .collect(),
            _ => return None,
        },
    };
    let order = if order.is_empty() {
        String::new()
    } else {
        let items: Vec<String> = order.iter().map(ToString::to_string).collect();
        format!(" ORDER BY {}", items.join(", "))
    };
    let agg = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("coalesce(array_agg({column}{order}), [])"))
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    select.projection = vec![SelectItem::UnnamedExpr(agg)];
    Some(query)
}
