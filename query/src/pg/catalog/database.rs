//! `pg_database`, `pg_am`, `pg_roles` and `pg_tablespace`: the one
//! database, access method, role and place of storage Sluice has.

use datafusion::common::Result as DfResult;

use super::oid::{self, DEFAULT_TABLESPACE, OWNER_NAME, OWNER_ROLE};
use super::snapshot::{PARQUET_ACCESS_METHOD, Snapshot};
use super::table::{Row, Ty, boolean, int4, null, oid, text};

/// Postgres' number for the UTF8 encoding (every string here is UTF-8).
pub(crate) const UTF8_ENCODING: i32 = 6;

/// The database the client connected to: every name reaches the same
/// tables, so the catalog shows the name the client asked for.
pub(crate) fn databases(s: &Snapshot) -> DfResult<Vec<Row>> {
    Ok(vec![vec![
        oid(oid::database(&s.database)),
        text(s.database.as_str()),
        oid(OWNER_ROLE),
        int4(UTF8_ENCODING),
        text("c"),
        boolean(false),
        boolean(true),
        int4(-1),
        oid(0),
        oid(0),
        oid(DEFAULT_TABLESPACE),
        // Strings sort by their bytes, as in Postgres' "C" locale.
        text("C"),
        text("C"),
        null(Ty::Text)?,
        null(Ty::Text)?,
        null(Ty::TextArray)?,
    ]])
}

/// The tables over Parquet segments have their own access method.
pub(crate) fn access_methods() -> DfResult<Vec<Row>> {
    Ok(vec![vec![
        oid(oid::access_method(PARQUET_ACCESS_METHOD)),
        text(PARQUET_ACCESS_METHOD),
        null(Ty::Text)?,
        text("t"),
    ]])
}

/// The role every object belongs to (clients authenticate as the web
/// config's users, which own nothing).
pub(crate) fn roles() -> DfResult<Vec<Row>> {
    Ok(vec![vec![
        text(OWNER_NAME),
        boolean(false),
        boolean(true),
        boolean(false),
        boolean(false),
        boolean(false),
        boolean(false),
        int4(-1),
        null(Ty::Text)?,
        null(Ty::Text)?,
        boolean(false),
        null(Ty::TextArray)?,
        oid(OWNER_ROLE),
    ]])
}

/// Where the segments are, as Postgres' default tablespace.
pub(crate) fn tablespaces() -> DfResult<Vec<Row>> {
    Ok(vec![vec![
        oid(DEFAULT_TABLESPACE),
        text("pg_default"),
        oid(OWNER_ROLE),
        null(Ty::TextArray)?,
        null(Ty::TextArray)?,
    ]])
}
