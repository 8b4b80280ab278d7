//! Running one statement for the Postgres listener the way `/api/v1/sql`
//! runs it: a fresh session from [`SqlService::session`] (so every table
//! and function registered there is served here too), the same
//! [`read_only`](crate::sql::read_only) options, and the same [`QueryQueue`] slot and
//! `query.timeout` as every PromQL and SQL query. The session also gets
//! Postgres' catalog ([`super::catalog`]), for psql's `\d` commands.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::common::ScalarValue;
use datafusion::sql::parser::DFParserBuilder;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use pgwire::error::PgWireResult;

use datafusion::prelude::SessionContext;

use super::catalog;
use super::errors::{self, from_datafusion, from_query_layer, from_queue};
use crate::api::QueryQueue;
use crate::promql_plan::annotations::Annotations;
use crate::sql::{SqlService, annotations, session_config};

/// A planned statement's result columns and parameter types.
#[derive(Debug, Clone)]
pub(crate) struct Described {
    /// The result's columns.
    pub(crate) schema: SchemaRef,
    /// `$1`, `$2`, ...: the type DataFusion inferred for each, if any.
    pub(crate) params: Vec<Option<DataType>>,
}

/// A statement's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The result's columns (also when there are no rows).
    pub(crate) schema: SchemaRef,
    /// The rows.
    pub(crate) batches: Vec<RecordBatch>,
    /// The annotations of the statement's `promql()` calls, for notices.
    pub(crate) annotations: Annotations,
}

/// SQL for the Postgres listener: the SQL endpoint's service and queue.
#[derive(Debug, Clone)]
pub(crate) struct Runner {
    sql: SqlService,
    queue: QueryQueue,
}

impl Runner {
    pub(crate) fn new(sql: SqlService, queue: QueryQueue) -> Self {
        Runner { sql, queue }
    }

    /// Plans `sql` without running it (for `Parse`/`Describe`): its result
    /// columns and parameters. Not queued: planning reads no samples, as
    /// the metadata endpoints are not queued either.
    pub(crate) async fn describe(&self, sql: &str, database: &str) -> PgWireResult<Described> {
        let ctx = session(&self.sql, database).await?;
        let df = catalog::plan(&ctx, sql).await.map_err(|e| from_datafusion(&e))?;
        let types = df
            .logical_plan()
            .get_parameter_types()
            .map_err(|e| from_datafusion(&e))?;
        // Placeholders are `$1`..`$n`; a gap (only `$2`) still counts `$1`.
        let n = types
            .keys()
            .filter_map(|k| k.strip_prefix('$')?.parse::<usize>().ok())
            .max()
            .unwrap_or(0);
        let params = (1..=n)
            .map(|i| types.get(&format!("${i}")).cloned().flatten())
            .collect();
        Ok(Described {
            schema: Arc::new(df.schema().as_arrow().clone()),
            params,
        })
    }

    /// Runs `sql` with `params` for `$1`.. in a queue slot until
    /// `query.timeout`, as the HTTP SQL endpoint does; `database` is the
    /// name the client connected to.
    pub(crate) async fn run(
        &self,
        sql: &str,
        params: Vec<ScalarValue>,
        database: &str,
    ) -> PgWireResult<Answer> {
        let admitted = self.queue.admit().await.map_err(|e| from_queue(&e))?;
        let service = self.sql.clone();
        let sql = sql.to_string();
        let database = database.to_string();
        admitted
            .run(async move {
                let ctx = session(&service, &database).await?;
                let mut df = catalog::plan(&ctx, &sql).await.map_err(|e| from_datafusion(&e))?;
                if !params.is_empty() {
                    df = df
                        .with_param_values(ParamValues::from(params))
                        .map_err(|e| from_datafusion(&e))?;
                }
                let schema = Arc::new(df.schema().as_arrow().clone());
                let batches = df.collect().await.map_err(|e| from_datafusion(&e))?;
                Ok(Answer {
                    schema,
                    batches,
                    annotations: annotations(&ctx),
                })
            })
            .await
            .map_err(|e| from_queue(&e))?
    }
}

/// A session of `sql` with Postgres' catalog.
async fn session(sql: &SqlService, database: &str) -> PgWireResult<SessionContext> {
    let ctx = sql.session().await.map_err(|e| from_query_layer(&e))?;
    catalog::with_pg_catalog(ctx, database)
        .await
        .map_err(|e| from_datafusion(&e))
}

/// The statements of a simple query, each to run in its own session as
/// Postgres runs each in turn. One statement is returned as it came, so
/// its errors point into the text the client sent; text that does not
/// parse is returned whole, to fail with the planner's message.
pub(crate) fn split(sql: &str) -> Vec<String> {
    let cfg = session_config();
    let Some(dialect) = dialect_from_str(cfg.options().sql_parser.dialect) else {
        return vec![sql.to_string()];
    };
    let parsed = DFParserBuilder::new(sql)
        .with_dialect(dialect.as_ref())
        .build()
        .and_then(|mut p| p.parse_statements());
    match parsed {
        Ok(stmts) if stmts.len() > 1 => stmts.iter().map(ToString::to_string).collect(),
        _ => vec![sql.to_string()],
    }
}

/// The error for a statement with more than one in an extended-protocol
/// `Parse`, which Postgres refuses too.
pub(crate) fn one_statement_only() -> pgwire::error::PgWireError {
    errors::error(
        errors::sqlstate::SYNTAX_ERROR,
        "cannot insert multiple commands into a prepared statement",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_queries_split_into_their_statements() {
        assert_eq!(split("select 1"), ["select 1"]);
        assert_eq!(split(" select 1 ; "), [" select 1 ; "]);
        assert_eq!(split("select 1; select 'a;b'"), ["SELECT 1", "SELECT 'a;b'"]);
        assert_eq!(split("selec 1; select 2"), ["selec 1; select 2"]);
    }
}
