//! Public entry points of the engine. (Being written; see the helper task.)

use std::time::Duration;

use crate::{SeriesSource, SourceError, Value};

/// Limits and defaults, as Prometheus' flags name them.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta` (default 5 m).
    pub lookback_delta_ms: i64,
    /// `--query.max-samples` (default 50,000,000).
    pub max_samples: usize,
    /// `--query.timeout` (default 2 m).
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// A query's value plus Prometheus' annotations.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// Warning annotations (`PromQL warning: ...`).
    pub warnings: Vec<String>,
    /// Info annotations (`PromQL info: ...`).
    pub infos: Vec<String>,
}

/// Why a query failed, in Prometheus' error classes.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query text does not parse or is ill-typed (HTTP 400 `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (HTTP 422 `execution`), e.g. too many samples.
    #[error("{0}")]
    Execution(String),
    /// The query ran past the timeout (HTTP 503 `timeout`).
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The storage failed (HTTP 500 `internal`).
    #[error("storage error: {0}")]
    Source(#[from] SourceError),
}

impl QueryError {
    /// Prometheus' `errorType` string.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Source(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::BadData(_) => 400,
            QueryError::Execution(_) => 422,
            QueryError::Timeout(_) => 503,
            QueryError::Source(_) => 500,
        }
    }
}

/// Evaluates PromQL over a [`SeriesSource`].
#[derive(Debug, Clone, Default)]
pub struct Engine {
    /// Options in force.
    pub options: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Instant query at `time_ms`.
    pub async fn instant(&self, _source: &dyn SeriesSource, _query: &str, _time_ms: i64) -> Result<QueryResult, QueryError> {
        Err(QueryError::Execution("engine not written yet".into()))
    }

    /// Range query over `[start_ms, end_ms]` every `step_ms`; the value is
    /// always a matrix.
    pub async fn range(
        &self,
        _source: &dyn SeriesSource,
        _query: &str,
        _start_ms: i64,
        _end_ms: i64,
        _step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        Err(QueryError::Execution("engine not written yet".into()))
    }
}
