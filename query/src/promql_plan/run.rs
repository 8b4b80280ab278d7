//! Runs a PromQL query as the DataFusion plan the `promql()` table function
//! builds, and returns the engine's whole result (value, annotations,
//! stats) rather than rows: what the promqltest harness checks.

use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use sluice_promql::{Engine, QueryError, QueryResult, SourceError};

use super::error::query_error;
use super::eval_exec::PromEvalExec;
use super::logical::promql_plan;
use super::nodes::EvalSpec;
use crate::segments::table::SegmentTable;

/// Plans `spec` over `table` (registered as `table_name`), optimises and
/// executes the plan in `ctx`.
pub async fn run_plan(
    ctx: &SessionContext,
    table_name: &str,
    table: &Arc<SegmentTable>,
    engine: &Engine,
    spec: EvalSpec,
) -> Result<QueryResult, QueryError> {
    let plan = promql_plan(table_name, table, engine, spec).map_err(|e| query_error(&e))?;
    let physical = ctx
        .state()
        .create_physical_plan(&plan)
        .await
        .map_err(|e| query_error(&e))?;
    let eval = find_eval(&physical)
        .ok_or_else(|| QueryError::Source(SourceError("the plan has no PromEvalExec".into())))?;
    eval.evaluate(ctx.task_ctx()).await.map_err(|e| query_error(&e))
}

fn find_eval(plan: &Arc<dyn ExecutionPlan>) -> Option<&PromEvalExec> {
    if let Some(e) = plan.downcast_ref::<PromEvalExec>() {
        return Some(e);
    }
    plan.children().into_iter().find_map(find_eval)
}
