//! The PromQL engine: text in, [`Value`] out, raw data from a [`SeriesSource`].
//!
//! A query is parsed with `promql-parser`, the selectors it contains are
//! fetched from the source once (with the time span each needs, including
//! ranges, offsets, `@` and subqueries), and the expression tree is then
//! evaluated step by step with Prometheus 3 semantics (left-open windows,
//! 5 m lookback, staleness markers). Calls a downsampled tier can answer
//! may read it instead of the raw samples ([`resolution`]). The source decides where data lives:
//! Parquet segments through DataFusion in the query server, memory in tests
//! and in the rule evaluator.

#![warn(missing_docs)]

mod engine;
mod eval;
mod experimental;
pub mod fuzz_check;
mod go_strings;
pub mod leaves;
mod narrowed_reads;
mod needs;
mod plan;
mod prefetched;
pub mod promqltest;
pub mod resolution;
pub mod source;
mod stats;
pub mod steps;
mod syntax;
pub mod value;

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod smoke_tests;

pub use engine::{
    Engine, EngineOptions, MAX_POINTS_PER_SERIES, QueryError, QueryOptions, QueryPlan, QueryResult,
};
pub use leaves::{Leaf, LeafKind, LeafResults, LeafSteps};
pub use needs::{SelectorNeed, selector_needs};
pub use plan::SelectRequest;
pub use prefetched::PrefetchedSource;
pub use resolution::{MaxSourceResolution, Reads};
pub use source::{Aggregate, MatchOp, Matcher, MemorySource, SeriesSource, SourceError, Tier};
pub use stats::QueryStats;
pub use steps::RangeFunction;
pub use syntax::parse_expr;
pub use value::{InstantSample, RangeSeries, Value};
