//! Physical planning of the PromQL nodes, and the DataFusion session state
//! that knows them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result as DfResult;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;

use super::eval_exec::PromEvalExec;
use super::instant_manipulate::InstantManipulate;
use super::nodes::{PromEval, SeriesNormalize};
use super::normalize_exec::SeriesNormalizeExec;
use super::range_function::RangeFunctionNode;
use super::range_manipulate::RangeManipulate;
use super::series_exec::{SeriesExec, SeriesOp};
use datafusion::catalog::Session;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;

/// Plans the PromQL nodes.
#[derive(Debug, Default)]
struct PromExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for PromExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let any = node.as_any();
        if let Some(n) = any.downcast_ref::<SeriesNormalize>() {
            let input = Arc::clone(&physical_inputs[0]);
            return Ok(Some(Arc::new(SeriesNormalizeExec::new(input, n.read.clone()))));
        }
        let input = physical_inputs.first().cloned();
        let schema = Arc::clone(node.schema().inner());
        let op: Option<Arc<dyn SeriesOp>> = if let Some(n) = any.downcast_ref::<InstantManipulate>() {
            Some(Arc::new(n.op.clone()))
        } else if let Some(n) = any.downcast_ref::<RangeManipulate>() {
            Some(Arc::new(n.op.clone()))
        } else if let Some(n) = any.downcast_ref::<RangeFunctionNode>() {
            Some(Arc::new(n.op.clone()))
        } else {
            None
        };
        if let (Some(op), Some(input)) = (op, input) {
            return Ok(Some(Arc::new(SeriesExec::new(input, op, schema))));
        }
        if let Some(n) = any.downcast_ref::<PromEval>() {
            return Ok(Some(Arc::new(PromEvalExec::new(
                physical_inputs.to_vec(),
                n.spec.clone(),
            ))));
        }
        Ok(None)
    }
}

/// DataFusion's planner plus the PromQL nodes.
#[derive(Debug, Default)]
struct SluiceQueryPlanner;

#[async_trait]
impl QueryPlanner for SluiceQueryPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(PromExtensionPlanner)])
            .create_physical_plan(plan, session)
            .await
    }
}

/// A session state with `config` and the PromQL nodes' planner.
pub fn session_state(config: SessionConfig, runtime: Arc<RuntimeEnv>) -> SessionState {
    SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(SluiceQueryPlanner))
        .build()
}
