//! [`SeriesNormalizeExec`]: rows of one read in series order, one sample per
//! series and timestamp.

use std::fmt;
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{
    SortColumn, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{TimestampMillisecondType, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties, collect,
};
use futures::stream;
use sluice_sink::segment::{COL_SERIES_ID, COL_TIMESTAMP};

/// Sorts a read's rows by (series id, timestamp) and keeps the first row
/// of each (series, timestamp): a series split across two segments may
/// carry the same sample twice.
#[derive(Debug)]
pub(crate) struct SeriesNormalizeExec {
    input: Arc<dyn ExecutionPlan>,
    read: String,
    props: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesNormalizeExec {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, read: String) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        SeriesNormalizeExec {
            input,
            read,
            props: Arc::new(props),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for SeriesNormalizeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromSeriesNormalizeExec: read={}", self.read)
    }
}

impl ExecutionPlan for SeriesNormalizeExec {
    fn name(&self) -> &str {
        "PromSeriesNormalizeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(SeriesNormalizeExec::new(
            children.swap_remove(0),
            self.read.clone(),
        )))
    }

    fn execute(&self, partition: usize, ctx: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        let input = Arc::clone(&self.input);
        let schema = input.schema();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let rows_schema = Arc::clone(&schema);
        let out = async move {
            let batches = collect(input, ctx).await?;
            let _timer = baseline.elapsed_compute().timer();
            let batch = normalize(&concat_batches(&rows_schema, &batches)?)?;
            baseline.record_output(batch.num_rows());
            Ok(batch)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream::once(out))))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The rows of `batch` sorted by (series id, timestamp), duplicates of a
/// (series id, timestamp) dropped.
pub(crate) fn normalize(batch: &RecordBatch) -> DfResult<RecordBatch> {
    if batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let ids = batch.column(schema.index_of(COL_SERIES_ID)?);
    let ts = batch.column(schema.index_of(COL_TIMESTAMP)?);
    let order = lexsort_to_indices(
        &[
            SortColumn {
                values: Arc::clone(ids),
                options: None,
            },
            SortColumn {
                values: Arc::clone(ts),
                options: None,
            },
        ],
        None,
    )?;
    let sorted = take_record_batch(batch, &order)?;
    let ids = sorted.column(schema.index_of(COL_SERIES_ID)?);
    let ts = sorted.column(schema.index_of(COL_TIMESTAMP)?);
    let (Some(ids), Some(ts)) = (
        ids.as_primitive_opt::<UInt64Type>(),
        ts.as_primitive_opt::<TimestampMillisecondType>(),
    ) else {
        return Err(DataFusionError::Internal(
            "series id or timestamp column of an unexpected type".into(),
        ));
    };
    let keep: BooleanArray = (0..sorted.num_rows())
        .map(|i| Some(i == 0 || ids.value(i) != ids.value(i - 1) || ts.value(i) != ts.value(i - 1)))
        .collect();
    if keep.true_count() == keep.len() {
        return Ok(sorted);
    }
    Ok(filter_record_batch(&sorted, &keep)?)
}
