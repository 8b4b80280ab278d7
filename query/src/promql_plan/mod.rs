//! PromQL as DataFusion plans (see `docs/architecture.md`, "PromQL on
//! DataFusion"): each read of the engine is a scan with pushed-down
//! filters ([`scan`]), normalised into series order ([`nodes::SeriesNormalize`]);
//! instant selectors and per-series range functions are nodes of their own
//! ([`instant_manipulate`], [`range_manipulate`], [`range_function`]), and
//! the rest of the query is one node ([`nodes::PromEval`]) that runs
//! Sluice's PromQL engine over their results. SQL reaches it through the
//! `promql()` table function ([`table_fn`]).

pub mod annotations;
pub mod error;
mod eval_exec;
pub mod instant_manipulate;
mod logical;
pub mod nodes;
mod normalize_exec;
mod planner;
pub mod range_function;
pub mod range_manipulate;
pub mod run;
pub(crate) mod scan;
mod series_exec;
mod series_rows;
pub mod table_fn;

pub use planner::session_state;
pub use table_fn::PromqlFunction;

#[cfg(test)]
mod tests;
