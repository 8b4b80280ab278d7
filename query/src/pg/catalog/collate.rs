//! `COLLATE pg_catalog.default`, which psql 15 appends to every name
//! pattern it sends (`... OPERATOR(pg_catalog.~) '^(samples)$' COLLATE
//! pg_catalog.default`).
//!
//! DataFusion has no collations and no planner hook for the clause: it
//! refuses the statement. Strings here compare by their bytes, which is
//! what the default collation of this catalog's database ("C") and the
//! `C`, `POSIX` and `ucs_basic` collations mean, so for those the clause is
//! dropped; any other collation stays, and DataFusion refuses it as before.

use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Value};

/// `e` without its `COLLATE` clause if that names a byte-order collation.
pub(super) fn strip_bytewise(e: &mut Expr) {
    if let Expr::Collate { expr, collation } = e
        && bytewise(collation)
    {
        let inner = std::mem::replace(expr.as_mut(), Expr::value(Value::Null));
        *e = inner;
    }
}

/// Whether `name` (optionally in `pg_catalog`) orders strings by bytes.
fn bytewise(name: &ObjectName) -> bool {
    let parts: Option<Vec<_>> = name.0.iter().map(|p| p.as_ident()).collect();
    let Some(parts) = parts else {
        return false;
    };
    let last = match parts.as_slice() {
        [last] => last,
        [schema, last] if schema.value.eq_ignore_ascii_case("pg_catalog") => last,
        _ => return false,
    };
    ["default", "c", "posix", "ucs_basic"]
        .iter()
        .any(|c| last.value.eq_ignore_ascii_case(c))
}
