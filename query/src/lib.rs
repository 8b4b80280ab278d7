//! The query layer: segments in, Prometheus API and SQL out.
//!
//! [`segments::index::SegmentIndex`] catalogs published Parquet segments by
//! their footers; [`segments::table::SegmentTable`] exposes them to
//! DataFusion with file-level pruning by time and metric; the PromQL engine
//! (`sluice-promql`) reads series through [`segments::source::SegmentSource`],
//! which turns each selector into one pruned DataFusion scan; [`api`] serves
//! it all over Prometheus' HTTP API, plus SQL ([`sql`]) over HTTP and the
//! PostgreSQL wire protocol ([`pg`]). Metric metadata ([`metric_metadata`]) and,
//! in a query role of its own, rule and alert status ([`rules_status`])
//! come from the bus instead.

pub mod api;
pub mod config;
pub mod metric_metadata;
pub mod pg;
pub mod promql_plan;
pub mod promqltest;
pub mod rules_status;
pub mod segments;
pub mod server;
pub mod sql;
mod topic_feed;

pub use config::QueryConfig;

/// Query-layer failures.
#[derive(Debug, thiserror::Error)]
pub enum QueryLayerError {
    /// The user's query is invalid.
    #[error("{0}")]
    BadQuery(String),
    /// Evaluation failed.
    #[error("{0}")]
    Execution(String),
    /// Reading segments failed (external).
    #[error("storage: {0}")]
    Storage(String),
    /// A bug or an unexpected engine failure.
    #[error("internal: {0}")]
    Internal(String),
}
