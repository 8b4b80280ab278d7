//! `PromInstantManipulate`: an instant vector selector over one normalised
//! read. Output: the read's columns, one row per (series, step) that has a
//! value, `__timestamp__` being the step time and `__value__` what the
//! selector yields there (the latest sample within the lookback, unless it
//! is a staleness marker; `offset` and `@` already applied to the window
//! ends).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::SchemaRef;
use datafusion::common::{DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};
use sluice_promql::LeafSteps;
use sluice_promql::steps::instant_values;

use super::series_exec::SeriesOp;
use super::series_rows::{describe_steps, duration, series_runs, take_series};

/// The logical node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstantManipulate {
    pub(crate) input: LogicalPlan,
    pub(crate) op: InstantOp,
}

impl PartialOrd for InstantManipulate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.op.partial_cmp(&other.op) {
            Some(Ordering::Equal) => self.input.partial_cmp(&other.input),
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for InstantManipulate {
    fn name(&self) -> &str {
        "PromInstantManipulate"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PromInstantManipulate: {}", self.op.describe())
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> DfResult<Self> {
        Ok(InstantManipulate {
            input: inputs.swap_remove(0),
            op: self.op.clone(),
        })
    }
}

/// What the node computes: the steps and the lookback.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub(crate) struct InstantOp {
    pub(crate) steps: LeafSteps,
    pub(crate) lookback_ms: i64,
}

impl SeriesOp for InstantOp {
    fn name(&self) -> &'static str {
        "PromInstantManipulateExec"
    }

    fn describe(&self) -> String {
        format!(
            "lookback={}, {}",
            duration(self.lookback_ms),
            describe_steps(&self.steps)
        )
    }

    fn apply(&self, input: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
        let ends = self.steps.ends();
        let (mut rows, mut ts, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        for run in series_runs(input)? {
            for (i, v) in instant_values(&run.samples, &ends, self.lookback_ms)
                .into_iter()
                .enumerate()
            {
                if let Some(v) = v {
                    rows.push(run.rows.start as u32);
                    ts.push(self.steps.step_ts(i));
                    vals.push(v);
                }
            }
        }
        let mut columns = take_series(input, &rows)?;
        let ts_type = schema.field(columns.len()).data_type().clone();
        columns.push(Arc::new(TimestampMillisecondArray::from(ts).with_data_type(ts_type)) as ArrayRef);
        columns.push(Arc::new(Float64Array::from(vals)));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}
