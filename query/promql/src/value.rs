//! Query results: the four PromQL value types.

use sluice_model::{Labels, Sample};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// Series labels (metric name dropped where PromQL drops it).
    pub labels: Labels,
    /// Evaluation timestamp, milliseconds.
    pub timestamp_ms: i64,
    /// Value.
    pub value: f64,
}

/// One series of a range vector / range-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Series labels.
    pub labels: Labels,
    /// Points ascending by timestamp.
    pub samples: Vec<Sample>,
}

/// A PromQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `scalar`
    Scalar {
        /// Evaluation time.
        timestamp_ms: i64,
        /// Value.
        value: f64,
    },
    /// `string`
    String {
        /// Evaluation time.
        timestamp_ms: i64,
        /// Value.
        value: String,
    },
    /// `vector`
    Vector(Vec<InstantSample>),
    /// `matrix`
    Matrix(Vec<RangeSeries>),
}
