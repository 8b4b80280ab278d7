//! `pg_type` and `format_type()`: the Postgres types a Sluice column can
//! have, which are the ones the wire protocol announces for result
//! columns ([`crate::pg::types::pg_type`]), so `\d samples` shows the
//! types a `select` returns; and the two pseudo-types `pg_proc` needs:
//! `"any"` (an argument or result the function's signature does not fix
//! to one of those types) and `record` (rows of a table function whose
//! columns are not known before it is called).

use datafusion::common::Result as DfResult;
use pgwire::api::Type;

use super::oid::{OWNER_ROLE, PG_CATALOG_NAMESPACE};
use super::table::{Row, Ty, boolean, int2, int4, null, oid, text};

/// A type's catalog entry.
struct PgType {
    ty: Type,
    /// How `format_type()` spells it: SQL's names where SQL has one.
    sql_name: &'static str,
    /// `typlen`: bytes, or -1 for variable length.
    len: i16,
    /// `typtype`: `b` base type, `p` pseudo-type.
    kind: &'static str,
    /// `typcategory`.
    category: &'static str,
    /// `typalign`.
    align: &'static str,
}

/// Every type [`crate::pg::types::pg_type`] can announce, and the two
/// pseudo-types.
fn known() -> [PgType; 15] {
    let t = |ty, sql_name, len, category, align| PgType {
        ty,
        sql_name,
        len,
        kind: "b",
        category,
        align,
    };
    let pseudo = |ty, sql_name, len, align| PgType {
        ty,
        sql_name,
        len,
        kind: "p",
        category: "P",
        align,
    };
    [
        t(Type::BOOL, "boolean", 1, "B", "c"),
        t(Type::BYTEA, "bytea", -1, "U", "i"),
        t(Type::INT8, "bigint", 8, "N", "d"),
        t(Type::INT2, "smallint", 2, "N", "s"),
        t(Type::INT4, "integer", 4, "N", "i"),
        t(Type::TEXT, "text", -1, "S", "i"),
        t(Type::FLOAT4, "real", 4, "N", "i"),
        t(Type::FLOAT8, "double precision", 8, "N", "d"),
        t(Type::DATE, "date", 4, "D", "i"),
        t(Type::TIME, "time without time zone", 8, "D", "d"),
        t(Type::TIMESTAMP, "timestamp without time zone", 8, "D", "d"),
        t(Type::TIMESTAMPTZ, "timestamp with time zone", 8, "D", "d"),
        t(Type::NUMERIC, "numeric", -1, "N", "i"),
        // A keyword in Postgres, so `format_type` quotes it.
        pseudo(Type::ANY, "\"any\"", 4, "i"),
        pseudo(Type::RECORD, "record", -1, "d"),
    ]
}

/// `format_type(oid, typmod)`: the type's SQL name, `???` for an oid that
/// is no type here (as Postgres prints an unknown one). Every column here
/// has typmod -1 (none), so the typmod adds nothing.
pub(crate) fn format_type(type_oid: i64) -> String {
    known()
        .into_iter()
        .find(|t| i64::from(t.ty.oid()) == type_oid)
        .map_or_else(|| "???".to_string(), |t| t.sql_name.to_string())
}

/// Whether `type_oid` is a type in `pg_type`.
pub(crate) fn is_known(type_oid: i64) -> bool {
    known().iter().any(|t| i64::from(t.ty.oid()) == type_oid)
}

/// How values of `type_oid` are stored: `typlen`, `typbyval`, `typalign`
/// and `typstorage` (as for `text` if the type is unknown).
pub(crate) fn layout(type_oid: u32) -> (i16, bool, &'static str, &'static str) {
    let t = known().into_iter().find(|t| t.ty.oid() == type_oid);
    let (len, align) = t.map_or((-1, "i"), |t| (t.len, t.align));
    (len, by_value(len), align, storage(len))
}

/// Fixed-size values up to 8 bytes are passed by value.
fn by_value(len: i16) -> bool {
    (1..=8).contains(&len)
}

/// Variable-length values may be compressed and stored out of line.
fn storage(len: i16) -> &'static str {
    if len == -1 { "x" } else { "p" }
}

/// The `pg_type` rows (in `defs::PG_TYPE`'s column order).
pub(crate) fn rows() -> DfResult<Vec<Row>> {
    known()
        .into_iter()
        .map(|t| {
            Ok(vec![
                oid(t.ty.oid()),
                text(t.ty.name()),
                oid(PG_CATALOG_NAMESPACE),
                oid(OWNER_ROLE),
                int2(t.len),
                boolean(by_value(t.len)),
                text(t.kind),
                text(t.category),
                // Postgres' preferred types of their categories.
                boolean(matches!(
                    t.ty,
                    Type::BOOL | Type::FLOAT8 | Type::TEXT | Type::TIMESTAMPTZ
                )),
                boolean(true),
                text(","),
                oid(0),
                oid(0),
                oid(0),
                text(t.align),
                text(storage(t.len)),
                boolean(false),
                oid(0),
                int4(-1),
                int4(0),
                // No collations: strings compare by their bytes.
                oid(0),
                null(Ty::Text)?,
                null(Ty::TextArray)?,
            ])
        })
        .collect()
}
