//! PromQL as DataFusion plans (see `docs/architecture.md`, "PromQL on
//! DataFusion"): each read of the engine is a scan with pushed-down
//! filters ([`scan`]), normalised into series order ([`nodes::SeriesNormalize`]),
//! and the step evaluation is one extension node ([`nodes::PromEval`]) that
//! runs Sluice's PromQL engine over them. SQL reaches it through the
//! `promql()` table function ([`table_fn`]).

mod eval_exec;
mod logical;
pub mod nodes;
mod normalize_exec;
mod planner;
pub(crate) mod scan;
pub mod table_fn;

pub use planner::session_state;
pub use table_fn::PromqlFunction;

#[cfg(test)]
mod tests;
