//! `PromRangeFunction`: one per-series range function (`rate`,
//! `increase`, `delta`, `irate`, `idelta`, the `*_over_time` family,
//! `deriv`, `predict_linear`, `resets`, `changes`, double exponential
//! smoothing; parameters constant) over the windows of a
//! [`super::range_manipulate::RangeManipulate`]. Output: the series
//! columns, one row per (series, step) with a value, `__timestamp__` being
//! the step time.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, SchemaRef, TimeUnit, UInt32Type};
use datafusion::common::{DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use sluice_model::Sample;
use sluice_promql::{LeafSteps, RangeFunction};
use sluice_sink::segment::{COL_TIMESTAMP, COL_VALUE};

use super::range_manipulate::{COL_TIMESTAMPS, COL_VALUES, COL_WINDOW_LENGTHS, COL_WINDOW_OFFSETS};
use super::series_exec::SeriesOp;
use super::series_rows::{column, internal, series_schema, take_series};

/// The logical node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RangeFunctionNode {
    pub(crate) input: LogicalPlan,
    pub(crate) op: FunctionOp,
    pub(crate) schema: DFSchemaRef,
}

impl RangeFunctionNode {
    pub(crate) fn new(input: LogicalPlan, op: FunctionOp) -> DfResult<Self> {
        let schema = series_schema(
            input.schema(),
            vec![
                Field::new(
                    COL_TIMESTAMP,
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
                Field::new(COL_VALUE, DataType::Float64, false),
            ],
        )?;
        Ok(RangeFunctionNode { input, op, schema })
    }
}

impl PartialOrd for RangeFunctionNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.op.partial_cmp(&other.op) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for RangeFunctionNode {
    fn name(&self) -> &str {
        "PromRangeFunction"
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
        write!(f, "PromRangeFunction: {}", self.op.function)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        RangeFunctionNode::new(inputs.swap_remove(0), self.op.clone())
    }
}

/// What the node computes: the function over the windows of `steps`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct FunctionOp {
    pub(crate) function: RangeFunction,
    pub(crate) steps: LeafSteps,
    pub(crate) range_ms: i64,
}

impl SeriesOp for FunctionOp {
    fn name(&self) -> &'static str {
        "PromRangeFunctionExec"
    }

    fn describe(&self) -> String {
        self.function.to_string()
    }

    fn apply(&self, input: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
        let ends = self.steps.ends();
        let lists = |name: &str| -> DfResult<_> {
            column(input, name)?
                .as_list_opt::<i32>()
                .ok_or_else(|| internal("window column is not a list"))
        };
        let (ts_l, val_l) = (lists(COL_TIMESTAMPS)?, lists(COL_VALUES)?);
        let (off_l, len_l) = (lists(COL_WINDOW_OFFSETS)?, lists(COL_WINDOW_LENGTHS)?);
        let (mut rows, mut out_ts, mut out_vals) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..input.num_rows() {
            let ts = ts_l.value(r);
            let vals = val_l.value(r);
            let (ts, vals) = (
                ts.as_primitive::<Int64Type>().values(),
                vals.as_primitive::<Float64Type>().values(),
            );
            let samples: Vec<Sample> = ts.iter().zip(vals).map(|(&t, &v)| Sample::new(t, v)).collect();
            let offs = off_l.value(r);
            let lens = len_l.value(r);
            let (offs, lens) = (
                offs.as_primitive::<UInt32Type>().values(),
                lens.as_primitive::<UInt32Type>().values(),
            );
            if offs.len() != ends.len() || lens.len() != ends.len() {
                return Err(internal("a series has windows for another number of steps"));
            }
            for (i, (&o, &n)) in offs.iter().zip(lens).enumerate() {
                let Some(w) = samples.get(o as usize..(o + n) as usize) else {
                    return Err(internal("a window reaches past its series' samples"));
                };
                if let Some(v) = self
                    .function
                    .apply(w, self.steps.step_ts(i), ends[i], self.range_ms)
                {
                    rows.push(r as u32);
                    out_ts.push(self.steps.step_ts(i));
                    out_vals.push(v);
                }
            }
        }
        let mut columns = take_series(input, &rows)?;
        let ts_type = schema.field(columns.len()).data_type().clone();
        columns.push(Arc::new(TimestampMillisecondArray::from(out_ts).with_data_type(ts_type)) as ArrayRef);
        columns.push(Arc::new(Float64Array::from(out_vals)));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}
