//! Pieces of psql's own catalog queries that DataFusion cannot plan, each
//! replaced, in the statement text before parsing, by what it evaluates
//! to against this catalog, or by an equivalent DataFusion plans. Exact
//! text only: psql sends these verbatim, and nothing else is touched.
//!
//! - The column list of a table's publications (psql 15's `\d` footer):
//!   a subquery over `generate_series(0, array_upper(pr.prattrs, 1))`
//!   whose arguments refer to the outer row (a lateral table function,
//!   which DataFusion does not have), indexing `prattrs[s]` by the
//!   function's alias. It is evaluated once per row of
//!   `pg_publication_rel`, which has none (Sluice has no logical
//!   replication), so it is NULL, as the `CASE` around it gives when
//!   there is no column list.
//! - A table's storage options (psql 15's `\d+`): `c.reloptions` and those
//!   of its TOAST table, found by a lateral `unnest(tc.reloptions)`. No
//!   table here has a TOAST table (`reltoastrelid` is 0, no relation has
//!   oid 0), so the TOAST part adds nothing: the options are the table's.
//! - Whether a type's relation is a composite type (psql 15's `\dT`): a
//!   correlated scalar subquery over `pg_class` without an aggregate,
//!   which DataFusion plans only when it can bound it to one row, and it
//!   cannot for a table of many. The same subquery with `bool_or` around
//!   its value is equivalent: `pg_class` has one row per oid, so the
//!   aggregate sees the one value or none (NULL, as the subquery gives).

/// psql 15's subquery for a publication's column list.
const PUBLICATION_COLUMNS: &str = "(CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END)";

/// What it evaluates to here.
const NO_PUBLICATION_COLUMNS: &str = "CAST(NULL AS TEXT)";

/// psql 15's options of a table and of its TOAST table.
const TABLE_AND_TOAST_OPTIONS: &str = "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')";

/// What it evaluates to here (`''` where Postgres' `NULL || '{}'` is `{}`).
const TABLE_OPTIONS: &str = "coalesce(pg_catalog.array_to_string(c.reloptions, ', '), '')";

/// psql 15's test for a composite type's relation.
const COMPOSITE_RELATION: &str =
    "(SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)";

/// The same as an aggregate over the one row.
const COMPOSITE_RELATION_AGGREGATED: &str =
    "(SELECT bool_or(c.relkind = 'c') FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)";

/// Each fragment and its replacement.
const FRAGMENTS: &[(&str, &str)] = &[
    (PUBLICATION_COLUMNS, NO_PUBLICATION_COLUMNS),
    (TABLE_AND_TOAST_OPTIONS, TABLE_OPTIONS),
    (COMPOSITE_RELATION, COMPOSITE_RELATION_AGGREGATED),
];

/// `sql` with the fragments replaced (borrowed when none occurs).
pub(super) fn replace(sql: &str) -> std::borrow::Cow<'_, str> {
    let mut out = std::borrow::Cow::Borrowed(sql);
    for (fragment, replacement) in FRAGMENTS {
        if out.contains(fragment) {
            out = out.replace(fragment, replacement).into();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_fragment_is_replaced() {
        let footer = format!(
            "SELECT pubname\n     , pg_get_expr(pr.prqual, c.oid)\n     , {PUBLICATION_COLUMNS} FROM pg_catalog.pg_publication p"
        );
        assert_eq!(
            replace(&footer),
            "SELECT pubname\n     , pg_get_expr(pr.prqual, c.oid)\n     , CAST(NULL AS TEXT) FROM pg_catalog.pg_publication p"
        );
        let other = "select (CASE WHEN pr.prattrs IS NOT NULL THEN 1 ELSE NULL END) from t";
        assert!(matches!(replace(other), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn the_composite_type_test_becomes_an_aggregate() {
        let types =
            format!("SELECT 1 FROM pg_catalog.pg_type t WHERE (t.typrelid = 0 OR {COMPOSITE_RELATION})");
        assert_eq!(
            replace(&types),
            "SELECT 1 FROM pg_catalog.pg_type t WHERE (t.typrelid = 0 OR \
             (SELECT bool_or(c.relkind = 'c') FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))"
        );
    }
}
