//! [`SeriesExec`]: the physical form of the per-series nodes. Each reads
//! its input whole (a read is needed whole to know a series' samples) and
//! maps it with one [`SeriesOp`].

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use datafusion::common::Result as DfResult;
use datafusion::common::tree_node::TreeNodeRecursion;
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

/// What one per-series node does to its (whole) input.
pub(crate) trait SeriesOp: fmt::Debug + Send + Sync {
    /// The operator's name in EXPLAIN (`PromRangeFunctionExec`).
    fn name(&self) -> &'static str;
    /// Its parameters in EXPLAIN.
    fn describe(&self) -> String;
    /// The output for `input`, in `schema`.
    fn apply(&self, input: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch>;
    /// A count of the output to show in `EXPLAIN ANALYZE` beside the
    /// rows, as (metric name, value): e.g. the samples inside the windows.
    fn count(&self, _output: &RecordBatch) -> Option<(&'static str, usize)> {
        None
    }
}

#[derive(Debug)]
pub(crate) struct SeriesExec {
    input: Arc<dyn ExecutionPlan>,
    op: Arc<dyn SeriesOp>,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, op: Arc<dyn SeriesOp>, schema: SchemaRef) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        SeriesExec {
            input,
            op,
            schema,
            props: Arc::new(props),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SeriesExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.op.name(), self.op.describe())
    }
}

impl ExecutionPlan for SeriesExec {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// The node reads its input whole: splitting it would only add a
    /// repartition.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(SeriesExec::new(
            children.swap_remove(0),
            Arc::clone(&self.op),
            Arc::clone(&self.schema),
        )))
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = Arc::clone(&self.input);
        let op = Arc::clone(&self.op);
        let schema = Arc::clone(&self.schema);
        let out_schema = Arc::clone(&schema);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let metrics = self.metrics.clone();
        let out = async move {
            let in_schema = input.schema();
            let batches = collect(input, ctx).await?;
            let _timer = baseline.elapsed_compute().timer();
            let batch = op.apply(&concat_batches(&in_schema, &batches)?, &out_schema)?;
            baseline.record_output(batch.num_rows());
            if let Some((name, n)) = op.count(&batch) {
                MetricBuilder::new(&metrics).counter(name, partition).add(n);
            }
            Ok(batch)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream::once(out))))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
