//! `pg_namespace`, `pg_class` and `pg_attribute`: the session's schemas,
//! tables and columns (see [`Snapshot`]).

use datafusion::common::Result as DfResult;

use super::oid::{self, OWNER_ROLE};
use super::snapshot::Snapshot;
use super::table::{Row, Ty, boolean, float4, int2, int4, null, oid, text};
use super::types;
use crate::pg::types::pg_type;

/// One row per schema.
pub(crate) fn namespaces(s: &Snapshot) -> DfResult<Vec<Row>> {
    s.schemas
        .iter()
        .map(|name| {
            Ok(vec![
                oid(oid::namespace(name)),
                text(name.as_str()),
                oid(OWNER_ROLE),
                null(Ty::TextArray)?,
            ])
        })
        .collect()
}

/// One row per table or view.
pub(crate) fn classes(s: &Snapshot) -> DfResult<Vec<Row>> {
    s.relations
        .iter()
        .map(|r| {
            let natts = i16::try_from(r.columns.fields().len()).unwrap_or(i16::MAX);
            Ok(vec![
                oid(r.oid),
                text(r.name.as_str()),
                oid(oid::namespace(&r.schema)),
                oid(0),
                oid(0),
                oid(OWNER_ROLE),
                oid(r.access_method.map_or(0, oid::access_method)),
                oid(0),
                oid(0),
                // Postgres' 8 kB pages, and rows; -1: unknown (not a
                // table over segments), as for a table never analyzed.
                int4(
                    r.stored
                        .map_or(0, |s| i32::try_from(s.bytes.div_ceil(8192)).unwrap_or(i32::MAX)),
                ),
                float4(r.stored.map_or(-1.0, |s| s.rows as f32)),
                int4(0),
                oid(0),
                // No indexes, rules, triggers, inheritance or row security.
                boolean(false),
                boolean(false),
                text(r.persistence),
                text(r.kind),
                int2(natts),
                int2(0),
                boolean(false),
                boolean(false),
                boolean(false),
                boolean(false),
                boolean(false),
                boolean(true),
                text("n"),
                boolean(false),
                oid(0),
                oid(0),
                oid(0),
                null(Ty::TextArray)?,
                null(Ty::TextArray)?,
                null(Ty::Text)?,
            ])
        })
        .collect()
}

/// One row per column of every table, typed as the wire protocol types a
/// result column of the same Arrow type.
pub(crate) fn attributes(s: &Snapshot) -> DfResult<Vec<Row>> {
    let mut rows = Vec::new();
    for r in &s.relations {
        for (i, field) in r.columns.fields().iter().enumerate() {
            let type_oid = pg_type(field.data_type()).0.oid();
            let (len, by_value, align, storage) = types::layout(type_oid);
            rows.push(vec![
                oid(r.oid),
                text(field.name().as_str()),
                oid(type_oid),
                int2(len),
                int2(i16::try_from(i + 1).unwrap_or(i16::MAX)),
                int4(-1),
                int4(-1),
                int2(0),
                boolean(by_value),
                text(align),
                text(storage),
                text(""),
                boolean(!field.is_nullable()),
                boolean(false),
                boolean(false),
                text(""),
                text(""),
                boolean(false),
                boolean(true),
                int2(0),
                int2(-1),
                oid(0),
                null(Ty::TextArray)?,
                null(Ty::TextArray)?,
                null(Ty::TextArray)?,
            ]);
        }
    }
    Ok(rows)
}
