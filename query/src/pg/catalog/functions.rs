//! The functions psql's catalog queries call that DataFusion lacks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};

use datafusion::catalog::CatalogProviderList;
use datafusion::logical_expr::ScalarUDF;

use super::database::UTF8_ENCODING;
use super::function::{Out, Param, PgFunction, Returns};
use super::oid::{self, DEFAULT_TABLESPACE, OWNER_NAME, OWNER_ROLE};
use super::{sizes, types};

/// The functions of one session; `pg_table_is_visible` reads `catalogs`,
/// `pg_table_size` reads `table_bytes` (by oid).
pub(crate) fn all(
    catalogs: &Arc<dyn CatalogProviderList>,
    catalog: &str,
    search_path: &str,
    table_bytes: HashMap<u32, u64>,
) -> Vec<ScalarUDF> {
    use Param::*;
    let database_bytes: u64 = table_bytes.values().sum();
    let visible = Visibility {
        catalogs: Arc::downgrade(catalogs),
        catalog: catalog.to_string(),
        schema: search_path.to_string(),
        oids: OnceLock::new(),
    };
    let text = |s: String| Some(Out::Text(s));
    vec![
        // Whether an unqualified name finds the relation: DataFusion
        // resolves bare names in its default schema only.
        PgFunction::udf("pg_table_is_visible", &[Int], 1, Returns::Bool, move |a| {
            let oid = u32::try_from(a[0].as_ref()?.int()?).ok()?;
            Some(Out::Bool(visible.oids().contains(&oid)))
        }),
        // Every type is in pg_catalog, which is always searched.
        PgFunction::udf("pg_type_is_visible", &[Int], 1, Returns::Bool, |a| {
            Some(Out::Bool(types::is_known(a[0].as_ref()?.int()?)))
        }),
        PgFunction::udf("pg_get_userbyid", &[Int], 1, Returns::Text, move |a| {
            let id = a[0].as_ref()?.int()?;
            text(if id == i64::from(OWNER_ROLE) {
                OWNER_NAME.to_string()
            } else {
                // Postgres' answer for an oid that is no role.
                format!("unknown (OID={id})")
            })
        }),
        // Not strict: `format_type(oid, NULL)` is the usual call.
        PgFunction::udf("format_type", &[Int, Int], 2, Returns::Text, move |a| {
            text(types::format_type(a[0].as_ref()?.int()?))
        }),
        PgFunction::udf("pg_encoding_to_char", &[Int], 1, Returns::Text, move |a| {
            let id = a[0].as_ref()?.int()?;
            text(
                if id == i64::from(UTF8_ENCODING) {
                    "UTF8"
                } else {
                    ""
                }
                .to_string(),
            )
        }),
        // This catalog stores expressions (none so far) as their SQL
        // text, so the text is its own rendering.
        PgFunction::udf("pg_get_expr", &[Text, Int, Bool], 2, Returns::Text, move |a| {
            text(a[0].as_ref()?.text()?.to_string())
        }),
        // No statistics object exists (pg_statistic_ext is empty), and
        // Postgres answers NULL for an oid that is none.
        PgFunction::udf(
            "pg_get_statisticsobjdef_columns",
            &[Int],
            1,
            Returns::Text,
            |_| None,
        ),
        // The bytes of the table's segments; 0 for other relations
        // (computed, not stored), NULL for an oid that is no relation.
        PgFunction::udf("pg_table_size", &[Int], 1, Returns::Int, move |a| {
            let oid = u32::try_from(a[0].as_ref()?.int()?).ok()?;
            let bytes = table_bytes.get(&oid).copied();
            Some(Out::Int(
                bytes.map_or(0, |b| i64::try_from(b).unwrap_or(i64::MAX)),
            ))
        }),
        // Every database name reaches the same tables: its size is theirs.
        PgFunction::udf("pg_database_size", &[Text], 1, Returns::Int, move |a| {
            a[0].as_ref()?;
            Some(Out::Int(i64::try_from(database_bytes).unwrap_or(i64::MAX)))
        }),
        // Whoever got through the startup (TLS, password) may connect.
        PgFunction::udf(
            "has_database_privilege",
            &[Text, Text, Text],
            2,
            Returns::Bool,
            |a| {
                a[0].as_ref()?;
                Some(Out::Bool(true))
            },
        ),
        // The default tablespace has no location of its own, as in Postgres.
        PgFunction::udf("pg_tablespace_location", &[Int], 1, Returns::Text, |a| {
            (a[0].as_ref()?.int()? == i64::from(DEFAULT_TABLESPACE)).then(|| Out::Text(String::new()))
        }),
        PgFunction::udf("pg_size_pretty", &[Int], 1, Returns::Text, move |a| {
            text(sizes::pretty(a[0].as_ref()?.int()?))
        }),
        // No logical replication: no table can be published.
        PgFunction::udf("pg_relation_is_publishable", &[Int], 1, Returns::Bool, |a| {
            a[0].as_ref()?;
            Some(Out::Bool(false))
        }),
        // No object has a comment (pg_description is empty).
        PgFunction::udf("obj_description", &[Int, Text], 1, Returns::Text, |_| None),
        PgFunction::udf("col_description", &[Int, Int], 2, Returns::Text, |_| None),
        PgFunction::udf("shobj_description", &[Int, Text], 2, Returns::Text, |_| None),
    ]
}

/// The relations an unqualified name finds.
struct Visibility {
    catalogs: Weak<dyn CatalogProviderList>,
    catalog: String,
    schema: String,
    /// Read once: the session (one statement) does not change.
    oids: OnceLock<HashSet<u32>>,
}

impl Visibility {
    fn oids(&self) -> &HashSet<u32> {
        self.oids.get_or_init(|| self.read())
    }

    fn read(&self) -> HashSet<u32> {
        let names = self
            .catalogs
            .upgrade()
            .and_then(|c| c.catalog(&self.catalog))
            .and_then(|c| c.schema(&self.schema))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.iter().map(|n| oid::relation(&self.schema, n)).collect()
    }
}
