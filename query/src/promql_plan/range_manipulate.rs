//! `PromRangeManipulate`: the left-open windows `(end - range, end]` of a
//! range selector over one normalised read. Output: one row per series
//! with any sample in a window — its series columns, its samples once
//! (`__timestamps__`, `__values__`; staleness markers removed) and per step
//! the window as an offset into them and a length (`__window_offsets__`,
//! `__window_lengths__`), so no sample is copied per step.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, ListArray, RecordBatch, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, SchemaRef, UInt32Type};
use datafusion::common::{DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use sluice_promql::LeafSteps;
use sluice_promql::steps::{range_samples, windows};

use super::series_exec::SeriesOp;
use super::series_rows::{describe_steps, duration, series_runs, series_schema, take_series};

/// Sample times (ms) of a series.
pub const COL_TIMESTAMPS: &str = "__timestamps__";
/// Sample values of a series.
pub const COL_VALUES: &str = "__values__";
/// Per step: where its window starts in the samples.
pub const COL_WINDOW_OFFSETS: &str = "__window_offsets__";
/// Per step: how many samples its window holds.
pub const COL_WINDOW_LENGTHS: &str = "__window_lengths__";

fn list(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, false))),
        false,
    )
}

/// The logical node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeManipulate {
    pub(crate) input: LogicalPlan,
    pub(crate) op: RangeOp,
    pub(crate) schema: DFSchemaRef,
}

impl RangeManipulate {
    pub(crate) fn new(input: LogicalPlan, op: RangeOp) -> DfResult<Self> {
        let schema = series_schema(
            input.schema(),
            vec![
                list(COL_TIMESTAMPS, DataType::Int64),
                list(COL_VALUES, DataType::Float64),
                list(COL_WINDOW_OFFSETS, DataType::UInt32),
                list(COL_WINDOW_LENGTHS, DataType::UInt32),
            ],
        )?;
        Ok(RangeManipulate { input, op, schema })
    }
}

impl PartialOrd for RangeManipulate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.op.partial_cmp(&other.op) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for RangeManipulate {
    fn name(&self) -> &str {
        "PromRangeManipulate"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromRangeManipulate: {}", self.op.describe())
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        RangeManipulate::new(inputs.swap_remove(0), self.op.clone())
    }
}

/// What the node computes: the steps and the range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct RangeOp {
    pub(crate) steps: LeafSteps,
    pub(crate) range_ms: i64,
}

impl SeriesOp for RangeOp {
    fn name(&self) -> &'static str {
        "PromRangeManipulateExec"
    }

    fn describe(&self) -> String {
        format!(
            "range={}, {}",
            duration(self.range_ms),
            describe_steps(&self.steps)
        )
    }

    fn apply(&self, input: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
        let ends = self.steps.ends();
        let mut rows = Vec::new();
        let (mut ts, mut vals, mut offs, mut lens) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut sample_ends, mut step_ends) = (vec![0i32], vec![0i32]);
        for run in series_runs(input)? {
            let kept = range_samples(&run.samples, &ends, self.range_ms);
            if kept.is_empty() {
                continue;
            }
            for w in windows(&kept, &ends, self.range_ms) {
                offs.push(w.start as u32);
                lens.push((w.end - w.start) as u32);
            }
            ts.extend(kept.iter().map(|s| s.timestamp_ms));
            vals.extend(kept.iter().map(|s| s.value));
            rows.push(run.rows.start as u32);
            sample_ends.push(ts.len() as i32);
            step_ends.push(offs.len() as i32);
        }
        let list = |ends: &Vec<i32>, values: ArrayRef| -> DfResult<ArrayRef> {
            let item = Arc::new(Field::new("item", values.data_type().clone(), false));
            Ok(Arc::new(ListArray::try_new(
                item,
                OffsetBuffer::new(ends.clone().into()),
                values,
                None,
            )?))
        };
        let mut columns = take_series(input, &rows)?;
        columns.push(list(&sample_ends, Arc::new(Int64Array::from(ts)))?);
        columns.push(list(&sample_ends, Arc::new(Float64Array::from(vals)))?);
        columns.push(list(&step_ends, Arc::new(UInt32Array::from(offs)))?);
        columns.push(list(&step_ends, Arc::new(UInt32Array::from(lens)))?);
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }

    /// The samples in all windows: what Prometheus' `stats` counts as
    /// queryable for a range selector (a sample in several windows counts
    /// once per window).
    fn count(&self, output: &RecordBatch) -> Option<(&'static str, usize)> {
        let lens = output.column_by_name(COL_WINDOW_LENGTHS)?.as_list_opt::<i32>()?;
        let total = lens
            .values()
            .as_primitive_opt::<UInt32Type>()?
            .values()
            .iter()
            .map(|&n| n as usize)
            .sum();
        Some(("window_samples", total))
    }
}
