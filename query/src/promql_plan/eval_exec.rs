//! [`PromEvalExec`]: runs Sluice's PromQL engine over its children — the
//! query's precomputed leaves and the normalised raw reads — and emits the
//! result as rows.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Float64Array, MapBuilder, RecordBatch, StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, collect,
};
use futures::stream;
use sluice_model::Labels;
use sluice_promql::{Engine, EngineOptions, PrefetchedSource, QueryResult, Value};
use sluice_sink::segment::{COL_NAME, COL_SERIES_ID};

use super::annotations::PromqlAnnotations;
use super::error::promql_err;
use super::nodes::{EvalSpec, result_schema};
use crate::segments::rows::rows_to_series;

/// Evaluates one PromQL query; child `i` answers the engine's read `i`.
#[derive(Debug)]
pub(crate) struct PromEvalExec {
    inputs: Vec<Arc<dyn ExecutionPlan>>,
    spec: EvalSpec,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl PromEvalExec {
    pub(crate) fn new(inputs: Vec<Arc<dyn ExecutionPlan>>, spec: EvalSpec) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::new(result_schema())),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        PromEvalExec {
            inputs,
            spec,
            props: Arc::new(props),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    fn engine(&self) -> Engine {
        Engine::new(EngineOptions {
            lookback_delta_ms: self.spec.lookback_ms,
            max_samples: self.spec.max_samples,
            max_fetched_samples: self.spec.max_fetched_samples,
            timeout: Duration::from_millis(self.spec.timeout_ms),
            experimental_functions: self.spec.experimental_functions,
        })
    }
}

impl PromEvalExec {
    /// Runs the children and evaluates the query over their results: the
    /// engine's whole result (value, annotations, stats), of which
    /// `execute` returns the value as rows.
    pub(crate) async fn evaluate(&self, ctx: Arc<TaskContext>) -> DfResult<QueryResult> {
        let engine = self.engine();
        let spec = &self.spec;
        let expr = spec.expr.expr.as_ref();
        let plan = engine
            .plan_query(expr, spec.start_ms, spec.end_ms, spec.step_ms)
            .map_err(promql_err)?;
        let n_leaves = plan.leaves.len();
        if n_leaves + plan.reads.len() != self.inputs.len() {
            return Err(DataFusionError::Internal(format!(
                "PromEval has {} inputs for {} leaves and {} reads",
                self.inputs.len(),
                n_leaves,
                plan.reads.len()
            )));
        }
        let mut source = PrefetchedSource::new();
        let mut leaves = Vec::with_capacity(n_leaves);
        for (i, input) in self.inputs.iter().enumerate() {
            let label_cols = label_columns(&input.schema());
            let batches = collect(Arc::clone(input), Arc::clone(&ctx)).await?;
            let series = rows_to_series(&batches, &label_cols).map_err(DataFusionError::Internal)?;
            match i.checked_sub(n_leaves) {
                None => leaves.push(series),
                Some(r) => source.insert(&plan.reads[r], series),
            }
        }
        source.set_leaf_results(leaves);
        let result = if spec.step_ms == 0 {
            engine
                .instant_expr(&source, expr, &spec.query, spec.start_ms)
                .await
        } else {
            engine
                .range_expr(
                    &source,
                    expr,
                    &spec.query,
                    spec.start_ms,
                    spec.end_ms,
                    spec.step_ms,
                )
                .await
        };
        result.map_err(promql_err)
    }
}

impl DisplayAs for PromEvalExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromEvalExec: {}", self.spec)
    }
}

impl ExecutionPlan for PromEvalExec {
    fn name(&self) -> &str {
        "PromEvalExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.inputs.iter().collect()
    }

    /// The node reads its inputs whole: splitting them would only add a
    /// repartition.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false; self.children().len()]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PromEvalExec::new(children, self.spec.clone())))
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let this = PromEvalExec::new(self.inputs.clone(), self.spec.clone());
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let queryable = MetricBuilder::new(&self.metrics).counter("queryable_samples", partition);
        let peak = MetricBuilder::new(&self.metrics).gauge("peak_samples", partition);
        let out = async move {
            let annotations = PromqlAnnotations::of(ctx.session_config());
            let result = this.evaluate(ctx).await?;
            if let Some(a) = annotations {
                a.record(&result.warnings, &result.infos);
            }
            // The engine's statistics (Prometheus' `stats`), for EXPLAIN ANALYZE.
            queryable.add(usize::try_from(result.stats.total_queryable_samples).unwrap_or(usize::MAX));
            peak.set(usize::try_from(result.stats.peak_samples).unwrap_or(usize::MAX));
            let _timer = baseline.elapsed_compute().timer();
            let batch = value_to_batch(result.value)?;
            baseline.record_output(batch.num_rows());
            Ok(batch)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::new(result_schema()),
            stream::once(out),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The label columns of a read's rows: between the metric name and the
/// series id (see [`super::scan::selector_scan`]).
fn label_columns(schema: &SchemaRef) -> Vec<String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let from = names.iter().position(|n| *n == COL_NAME).map_or(0, |i| i + 1);
    let to = names
        .iter()
        .position(|n| *n == COL_SERIES_ID)
        .unwrap_or(names.len());
    names[from..to.max(from)].iter().map(|s| s.to_string()).collect()
}

/// One row per series and step: labels, time, value.
fn value_to_batch(value: Value) -> DfResult<RecordBatch> {
    let mut rows = ResultRows::default();
    match value {
        Value::Scalar { timestamp_ms, value } => rows.push(&Labels::default(), timestamp_ms, value),
        Value::Vector(samples) => {
            for s in samples {
                rows.push(&s.labels, s.timestamp_ms, s.value);
            }
        }
        Value::Matrix(series) => {
            for s in series {
                for p in s.samples {
                    rows.push(&s.labels, p.timestamp_ms, p.value);
                }
            }
        }
        Value::String { .. } => {
            return Err(DataFusionError::Execution(
                "promql(): a string result has no rows; use a scalar or vector expression".into(),
            ));
        }
    }
    rows.finish()
}

#[derive(Default)]
struct ResultRows {
    labels: Option<MapBuilder<StringBuilder, StringBuilder>>,
    ts: Vec<i64>,
    vals: Vec<f64>,
}

impl ResultRows {
    fn push(&mut self, labels: &Labels, ts: i64, v: f64) {
        let b = self
            .labels
            .get_or_insert_with(|| MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()));
        for l in labels.iter() {
            b.keys().append_value(&l.name);
            b.values().append_value(&l.value);
        }
        // Appending a map entry cannot fail for non-null maps.
        let _ = b.append(true);
        self.ts.push(ts);
        self.vals.push(v);
    }

    fn finish(mut self) -> DfResult<RecordBatch> {
        let labels = self
            .labels
            .get_or_insert_with(|| MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()))
            .finish();
        let ts = TimestampMillisecondArray::from(self.ts).with_timezone("UTC");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(labels),
            Arc::new(ts),
            Arc::new(Float64Array::from(self.vals)),
        ];
        Ok(RecordBatch::try_new(Arc::new(result_schema()), columns)?)
    }
}
