//! Failures as Postgres `ErrorResponse`s, each with the SQLSTATE a client
//! can act on (drivers and tools branch on the code, not the text).

use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

use sluice_promql::QueryError;

use crate::QueryLayerError;
use crate::api::response::ApiError;
use crate::promql_plan::error::PromqlError;

/// SQLSTATEs used here (PostgreSQL, Appendix A).
pub(crate) mod sqlstate {
    pub(crate) const SYNTAX_ERROR: &str = "42601";
    pub(crate) const UNDEFINED_TABLE: &str = "42P01";
    pub(crate) const UNDEFINED_COLUMN: &str = "42703";
    pub(crate) const UNDEFINED_FUNCTION: &str = "42883";
    pub(crate) const AMBIGUOUS_COLUMN: &str = "42702";
    pub(crate) const DUPLICATE_COLUMN: &str = "42701";
    /// The class of the above: a statement that cannot be planned.
    pub(crate) const SYNTAX_OR_ACCESS_RULE: &str = "42000";
    pub(crate) const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub(crate) const DATA_EXCEPTION: &str = "22000";
    pub(crate) const QUERY_CANCELED: &str = "57014";
    pub(crate) const OUT_OF_MEMORY: &str = "53200";
    pub(crate) const IO_ERROR: &str = "58030";
    pub(crate) const INTERNAL_ERROR: &str = "XX000";
}

/// An `ERROR` (the connection stays usable) with `code` and `message`.
pub(crate) fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// The SQLSTATE of a planning or execution failure.
pub(crate) fn datafusion_code(e: &DataFusionError) -> &'static str {
    use sqlstate::*;
    match e.find_root() {
        DataFusionError::SQL(..) => SYNTAX_ERROR,
        DataFusionError::Plan(m) => {
            if m.starts_with("table '") && m.ends_with("' not found") {
                UNDEFINED_TABLE
            } else if m.starts_with("DDL not supported")
                || m.starts_with("DML not supported")
                || m.starts_with("Statement not supported")
            {
                // What `read_only()` refuses.
                FEATURE_NOT_SUPPORTED
            } else if m.starts_with("Invalid function") {
                UNDEFINED_FUNCTION
            } else {
                SYNTAX_OR_ACCESS_RULE
            }
        }
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { .. } => UNDEFINED_COLUMN,
            datafusion::common::SchemaError::AmbiguousReference { .. } => AMBIGUOUS_COLUMN,
            _ => DUPLICATE_COLUMN,
        },
        DataFusionError::NotImplemented(_) => FEATURE_NOT_SUPPORTED,
        DataFusionError::ResourcesExhausted(_) => OUT_OF_MEMORY,
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) | DataFusionError::ParquetError(_) => {
            IO_ERROR
        }
        DataFusionError::ArrowError(..) | DataFusionError::Execution(_) => DATA_EXCEPTION,
        // A failure of `promql()`, by Prometheus' error class.
        DataFusionError::External(inner) => match inner.downcast_ref::<PromqlError>() {
            Some(PromqlError(QueryError::Timeout(_))) => QUERY_CANCELED,
            Some(PromqlError(QueryError::Source(_))) => IO_ERROR,
            Some(_) => DATA_EXCEPTION,
            None => INTERNAL_ERROR,
        },
        _ => INTERNAL_ERROR,
    }
}

/// A planning or execution failure, with DataFusion's message (no
/// backtrace).
pub(crate) fn from_datafusion(e: &DataFusionError) -> PgWireError {
    error(datafusion_code(e), e.strip_backtrace())
}

/// A failure to build the session (reading the segment catalog).
pub(crate) fn from_query_layer(e: &QueryLayerError) -> PgWireError {
    let code = match e {
        QueryLayerError::BadQuery(_) => sqlstate::SYNTAX_OR_ACCESS_RULE,
        QueryLayerError::Execution(_) => sqlstate::DATA_EXCEPTION,
        QueryLayerError::Storage(_) => sqlstate::IO_ERROR,
        QueryLayerError::Internal(_) => sqlstate::INTERNAL_ERROR,
    };
    error(code, e.to_string())
}

/// A refusal of the query queue (`query.timeout` while waiting or
/// running), as the HTTP API's 503 `timeout`.
pub(crate) fn from_queue(e: &ApiError) -> PgWireError {
    let code = if e.error_type == "timeout" {
        sqlstate::QUERY_CANCELED
    } else {
        sqlstate::INTERNAL_ERROR
    };
    error(code, e.message.clone())
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::sql::read_only;

    async fn code_of(sql: &str) -> &'static str {
        let ctx = SessionContext::new();
        ctx.sql("create table t as values (1)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let e = match ctx.sql_with_options(sql, read_only()).await {
            Ok(df) => df.collect().await.unwrap_err(),
            Err(e) => e,
        };
        datafusion_code(&e)
    }

    #[tokio::test]
    async fn planning_failures_get_postgres_codes() {
        assert_eq!(code_of("selec 1").await, "42601");
        assert_eq!(code_of("select * from nope").await, "42P01");
        assert_eq!(code_of("select nope from t").await, "42703");
        assert_eq!(code_of("select nope(1)").await, "42883");
        assert_eq!(code_of("create table u (a int)").await, "0A000");
        assert_eq!(code_of("insert into t values (2)").await, "0A000");
        assert_eq!(code_of("set datafusion.execution.batch_size = 1").await, "0A000");
    }

    #[test]
    fn promql_failures_get_codes_by_their_class() {
        use crate::promql_plan::error::promql_err;
        let code = |e| datafusion_code(&promql_err(e).context("executing"));
        assert_eq!(code(QueryError::Timeout("query execution".into())), "57014");
        assert_eq!(code(QueryError::Execution("too many samples".into())), "22000");
        assert_eq!(
            code(QueryError::Source(sluice_promql::SourceError("disk".into()))),
            "58030"
        );
    }
}
