//! The constructs psql sends that DataFusion's planner refuses and offers
//! no hook for, rewritten in the parsed statement (never in its text) into
//! what they mean in DataFusion's terms: `COLLATE` ([`collate`]),
//! `ARRAY(SELECT ...)` ([`array_subquery`]), repeated result column
//! names ([`duplicate_names`]) and relation names cast to `regclass`
//! ([`regclass`]).

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr, Select, VisitMut, VisitorMut};

use super::{array_subquery, collate, duplicate_names, regclass};

/// `stmt` with those constructs rewritten; unqualified relation names are
/// in `default_schema`.
pub(super) fn statement(stmt: &mut Statement, default_schema: &str) {
    match stmt {
        Statement::Statement(s) => {
            let _ = s.visit(&mut Rewriter { default_schema });
        }
        Statement::Explain(explain) => statement(explain.statement.as_mut(), default_schema),
        _ => {}
    }
}

struct Rewriter<'a> {
    default_schema: &'a str,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        collate::strip_bytewise(e);
        regclass::resolve(e, self.default_schema);
        array_subquery::to_array_agg(e);
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        duplicate_names::alias_repeats(select);
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParserBuilder;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmts = DFParserBuilder::new(sql)
            .build()
            .unwrap()
            .parse_statements()
            .unwrap();
        let mut stmt = stmts.pop_front().unwrap();
        statement(&mut stmt, "public");
        stmt.to_string()
    }

    #[test]
    fn byte_order_collations_are_dropped() {
        assert_eq!(
            rewritten("select 1 from t where a ~ '^(x)$' COLLATE pg_catalog.default"),
            "SELECT 1 FROM t WHERE a ~ '^(x)$'"
        );
        assert_eq!(
            rewritten("explain select a COLLATE \"C\" < b from t"),
            "EXPLAIN SELECT a < b FROM t"
        );
        // Others stay, for DataFusion to refuse.
        assert_eq!(
            rewritten("select a COLLATE \"de_DE\" from t"),
            "SELECT a COLLATE \"de_DE\" FROM t"
        );
    }

    #[test]
    fn array_subqueries_become_array_agg() {
        assert_eq!(
            rewritten(
                "select array_to_string(array(select rolname from r where oid = any (p.roles) order by 1), ',') from p"
            ),
            "SELECT array_to_string((SELECT coalesce(array_agg(rolname ORDER BY rolname), []) \
             FROM r WHERE oid = ANY(p.roles)), ',') FROM p"
        );
        assert_eq!(
            rewritten("select array(select a as x from t)"),
            "SELECT (SELECT coalesce(array_agg(a), []) FROM t)"
        );
        // Not of the simple shape: left for DataFusion to refuse.
        for sql in [
            "SELECT ARRAY(SELECT a, b FROM t)",
            "SELECT ARRAY(SELECT DISTINCT a FROM t)",
            "SELECT ARRAY(SELECT a FROM t LIMIT 2)",
            "SELECT ARRAY(SELECT a FROM t GROUP BY a)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }

    #[test]
    fn relation_names_cast_to_regclass_become_their_oids() {
        let oid = crate::pg::catalog::oid::relation("pg_catalog", "pg_extension");
        assert_eq!(
            rewritten("select 'pg_catalog.pg_extension'::pg_catalog.regclass"),
            format!("SELECT {oid}::oid")
        );
        let oid = crate::pg::catalog::oid::relation("public", "samples");
        assert_eq!(
            rewritten("select 'samples'::regclass"),
            format!("SELECT {oid}::oid")
        );
        // Not a literal: left as a cast (to an oid number).
        assert_eq!(
            rewritten("select c.oid::regclass from c"),
            "SELECT c.oid::REGCLASS FROM c"
        );
    }

    #[test]
    fn repeated_columns_get_their_position_as_alias() {
        assert_eq!(
            rewritten("select p, NULL, NULL from t union select p, a, NULL from u"),
            "SELECT p, NULL, NULL AS \"NULL_3\" FROM t UNION SELECT p, a, NULL FROM u"
        );
        assert_eq!(
            rewritten("select a, a as b, a from t"),
            "SELECT a, a AS b, a AS \"a_3\" FROM t"
        );
    }
}
