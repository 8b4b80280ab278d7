//! PromQL errors carried through DataFusion: the engine's [`QueryError`]
//! travels as an external error, so SQL users see Prometheus' text and
//! callers that need the error class (the promqltest harness) get it back.

use std::error::Error;
use std::fmt;

use datafusion::common::DataFusionError;
use sluice_promql::{QueryError, SourceError};

/// A [`QueryError`] inside a [`DataFusionError`].
#[derive(Debug)]
pub struct PromqlError(pub QueryError);

impl fmt::Display for PromqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PromQL {}: {}", self.0.error_type(), self.0)
    }
}

impl Error for PromqlError {}

pub(crate) fn promql_err(e: QueryError) -> DataFusionError {
    DataFusionError::External(Box::new(PromqlError(e)))
}

/// The PromQL error behind `e`, or `e` as an internal error.
pub fn query_error(e: &DataFusionError) -> QueryError {
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(PromqlError(q)) = err.downcast_ref::<PromqlError>() {
            return match q {
                QueryError::BadData(m) => QueryError::BadData(m.clone()),
                QueryError::Execution(m) => QueryError::Execution(m.clone()),
                QueryError::Timeout(m) => QueryError::Timeout(m.clone()),
                QueryError::Source(s) => QueryError::Source(SourceError(s.0.clone())),
            };
        }
        cur = match err.downcast_ref::<DataFusionError>() {
            Some(DataFusionError::External(inner)) => Some(inner.as_ref()),
            _ => err.source(),
        };
    }
    QueryError::Source(SourceError(e.to_string()))
}
