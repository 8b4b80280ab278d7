//! What the runner evaluates against: a [`Target`] answers instant and
//! range queries on parsed expressions. [`SourceTarget`] runs the engine
//! over a [`SeriesSource`]; the query layer adds one that runs each query
//! as its DataFusion plan.

use std::sync::Arc;

use async_trait::async_trait;
use promql_parser::parser::Expr;

use crate::{Engine, QueryError, QueryResult, SeriesSource};

/// Evaluates the runner's queries over the loaded data.
#[async_trait]
pub trait Target: Send + Sync {
    /// `expr` (written as `text`) as an instant query at `t_ms`.
    async fn instant(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError>;

    /// `expr` (written as `text`) as a range query.
    async fn range(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError>;
}

/// The engine reading a [`SeriesSource`].
pub struct SourceTarget(pub Arc<dyn SeriesSource>);

#[async_trait]
impl Target for SourceTarget {
    async fn instant(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        engine.instant_expr(self.0.as_ref(), expr, text, t_ms).await
    }

    async fn range(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        engine
            .range_expr(self.0.as_ref(), expr, text, start_ms, end_ms, step_ms)
            .await
    }
}
