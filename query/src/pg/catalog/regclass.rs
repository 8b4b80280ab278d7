//! `'pg_catalog.pg_extension'::regclass`: a relation's name read as its
//! oid (psql's `\dx` joins comments by it). Oids here are derived from
//! names ([`super::oid`]), so the oid is computed from the name in the
//! statement, unqualified names in the default schema (the only one
//! DataFusion searches). Unlike Postgres, a name that is no relation is
//! not refused: its oid matches no row of the catalog.

use datafusion::sql::sqlparser::ast::{DataType, Expr, Ident, ObjectName, Value};

use super::oid;

/// `e` as `<oid>::oid` if it is a string literal cast to `regclass`.
pub(super) fn resolve(e: &mut Expr, default_schema: &str) {
    let Expr::Cast { expr, data_type, .. } = e else {
        return;
    };
    let regclass = match data_type {
        // sqlparser knows the bare name.
        DataType::Regclass => true,
        DataType::Custom(type_name, modifiers) => modifiers.is_empty() && is_regclass(type_name),
        _ => false,
    };
    if !regclass {
        return;
    }
    let Expr::Value(v) = expr.as_ref() else {
        return;
    };
    let Value::SingleQuotedString(name) = &v.value else {
        return;
    };
    let Some((schema, table)) = relation_name(name, default_schema) else {
        return;
    };
    let oid = oid::relation(&schema, &table);
    **expr = Expr::value(Value::Number(oid.to_string(), false));
    *data_type = DataType::Custom(ObjectName::from(vec![Ident::new("oid")]), vec![]);
}

fn is_regclass(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().map(|p| p.to_string().to_lowercase()).collect();
    matches!(
        parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
        ["regclass"] | ["pg_catalog", "regclass"]
    )
}

/// `schema.table` or `table` (in `default_schema`), unquoted parts folded
/// to lower case as Postgres folds them.
fn relation_name(name: &str, default_schema: &str) -> Option<(String, String)> {
    let part = |p: &str| -> Option<String> {
        let p = p.trim();
        match p.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
            Some(quoted) => Some(quoted.to_string()),
            None if !p.is_empty() && !p.contains('"') => Some(p.to_lowercase()),
            None => None,
        }
    };
    match name.split('.').collect::<Vec<_>>().as_slice() {
        [table] => Some((default_schema.to_string(), part(table)?)),
        [schema, table] => Some((part(schema)?, part(table)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_names_read_as_postgres_reads_them() {
        let n = |s: &str| relation_name(s, "public");
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(n("samples"), pair("public", "samples"));
        assert_eq!(n("pg_catalog.PG_CLASS"), pair("pg_catalog", "pg_class"));
        assert_eq!(n("\"Mixed\""), pair("public", "Mixed"));
        assert_eq!(n("a.b.c"), None);
        assert_eq!(n("bad\"quote"), None);
    }
}
