//! What the catalog describes: the session's schemas and relations, read
//! from DataFusion's catalog when a statement reads a catalog table.
//!
//! Each statement's session registers the tables as they are then (a
//! segment table's columns are the labels its segments hold), so reading
//! them at that point describes exactly what a `select` in the same
//! statement would see.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, InformationSchemaProvider};
use datafusion::catalog::{CatalogProviderList, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::datasource::TableType;

use super::defs;
use super::oid;
use crate::segments::table::SegmentTable;

/// The schema this catalog is served as.
pub(crate) const PG_CATALOG: &str = "pg_catalog";

/// The access method of tables over Parquet segments (psql's `\d+`
/// prints it).
pub(crate) const PARQUET_ACCESS_METHOD: &str = "parquet";

/// A table or view.
#[derive(Debug)]
pub(crate) struct Relation {
    pub(crate) oid: u32,
    pub(crate) schema: String,
    pub(crate) name: String,
    /// `pg_class.relkind`: `r` table, `v` view.
    pub(crate) kind: &'static str,
    /// `pg_class.relpersistence`: `p` permanent, `t` temporary.
    pub(crate) persistence: &'static str,
    pub(crate) columns: SchemaRef,
    /// The access method's name, for tables that have one.
    pub(crate) access_method: Option<&'static str>,
    /// Rows and bytes stored, for tables over segments.
    pub(crate) stored: Option<Stored>,
}

/// What a table over segments holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub(crate) rows: i64,
    pub(crate) bytes: u64,
}

impl Stored {
    /// The rows and bytes of `table`'s segments, if it is a segment table.
    pub(crate) fn of(table: &dyn TableProvider) -> Option<Stored> {
        let table = table.downcast_ref::<SegmentTable>()?;
        Some(Stored {
            rows: table.segments().iter().map(|s| s.rows).sum(),
            bytes: table.segments().iter().map(|s| s.bytes).sum(),
        })
    }
}

/// The session's database as the catalog tables show it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The database the client connected to (the name is not checked:
    /// every name reaches the same data).
    pub(crate) database: String,
    /// Schema names, sorted.
    pub(crate) schemas: Vec<String>,
    /// Every relation of every schema, by schema then name.
    pub(crate) relations: Vec<Relation>,
}

impl Snapshot {
    /// The schemas and relations of `catalog` in `list`.
    pub(crate) async fn read(
        list: Arc<dyn CatalogProviderList>,
        catalog: &str,
        database: &str,
        information_schema: bool,
    ) -> DfResult<Snapshot> {
        let mut snapshot = Snapshot {
            database: database.to_string(),
            schemas: Vec::new(),
            relations: Vec::new(),
        };
        let Some(cat) = list.catalog(catalog) else {
            return Ok(snapshot);
        };
        let mut schemas = cat.schema_names();
        if information_schema && !schemas.iter().any(|s| s == INFORMATION_SCHEMA) {
            schemas.push(INFORMATION_SCHEMA.to_string());
        }
        schemas.sort();
        for schema in &schemas {
            if schema == PG_CATALOG {
                // This catalog's own tables: their columns are fixed, and
                // asking the schema provider for them would compute them.
                for def in defs::TABLES {
                    snapshot.relations.push(Relation {
                        oid: oid::relation(schema, def.name),
                        schema: schema.clone(),
                        name: def.name.to_string(),
                        kind: "r",
                        persistence: "p",
                        columns: super::table::schema_of(def.columns),
                        access_method: None,
                        stored: None,
                    });
                }
                continue;
            }
            let provider = if schema == INFORMATION_SCHEMA && information_schema {
                Arc::new(InformationSchemaProvider::new(list.clone())) as _
            } else {
                match cat.schema(schema) {
                    Some(p) => p,
                    None => continue,
                }
            };
            let mut names = provider.table_names();
            names.sort();
            for name in names {
                if let Some(table) = provider.table(&name).await? {
                    snapshot.relations.push(relation(schema, &name, table.as_ref()));
                }
            }
        }
        snapshot
            .relations
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        snapshot.schemas = schemas;
        Ok(snapshot)
    }
}

fn relation(schema: &str, name: &str, table: &dyn TableProvider) -> Relation {
    let (kind, persistence) = match table.table_type() {
        TableType::View => ("v", "p"),
        TableType::Temporary => ("r", "t"),
        TableType::Base => ("r", "p"),
    };
    let stored = Stored::of(table);
    Relation {
        oid: oid::relation(schema, name),
        schema: schema.to_string(),
        name: name.to_string(),
        kind,
        persistence,
        columns: table.schema(),
        access_method: stored.is_some().then_some(PARQUET_ACCESS_METHOD),
        stored,
    }
}
