//! The `pg_catalog` schema: its tables are computed when a statement
//! names them, from the session's catalog at that moment.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};

use super::defs::{self, Rows, TABLES};
use super::registry::Functions;
use super::snapshot::Snapshot;
use super::table::CatalogTable;

/// `pg_catalog` of one session.
#[derive(Debug)]
pub(crate) struct PgCatalogSchema {
    /// The session's catalogs. Weak: this schema is registered in one of
    /// them, and a strong reference would keep the session alive forever.
    catalogs: Weak<dyn CatalogProviderList>,
    /// The catalog described (DataFusion's default catalog).
    catalog: String,
    /// The database name shown.
    database: String,
    /// Whether the session serves `information_schema`.
    information_schema: bool,
    /// The session's functions.
    functions: Arc<Functions>,
}

impl PgCatalogSchema {
    pub(crate) fn new(
        catalogs: &Arc<dyn CatalogProviderList>,
        catalog: &str,
        database: &str,
        information_schema: bool,
        functions: Arc<Functions>,
    ) -> Self {
        PgCatalogSchema {
            catalogs: Arc::downgrade(catalogs),
            catalog: catalog.to_string(),
            database: database.to_string(),
            information_schema,
            functions,
        }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.name.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Some(def) = defs::find(name) else {
            return Ok(None);
        };
        let rows = match def.rows {
            Rows::Fixed(rows) => rows()?,
            Rows::Live(rows) => {
                let catalogs = self
                    .catalogs
                    .upgrade()
                    .ok_or_else(|| DataFusionError::Internal("the session is gone".to_string()))?;
                let snapshot =
                    Snapshot::read(catalogs, &self.catalog, &self.database, self.information_schema).await?;
                rows(&snapshot)?
            }
            Rows::Functions(rows) => rows(self.functions.procs())?,
        };
        Ok(Some(Arc::new(CatalogTable::new(def.columns, rows)?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        defs::find(name).is_some()
    }
}
