//! A PromQL query as a DataFusion logical plan:
//!
//! ```text
//! PromEval: query=sum by (job) (rate(x{a=~"b.*"}[5m])), range=[...], step=...
//!   PromRangeFunction: rate
//!     PromRangeManipulate: range=5m, steps=[t0, t1] every 30s
//!       PromSeriesNormalize: read={__name__="x", a=~"b.*"} [t0 - 5m, t1]
//!         Projection: __name__, a, ..., __series_id__, __timestamp__, __value__
//!           Filter: __timestamp__ >= .. AND __timestamp__ <= .. AND __name__ IN (...) AND ...
//!             TableScan: samples
//!   (the optimiser later folds the Projection into the TableScan)
//!   PromInstantManipulate: lookback=5m, ...     (one per instant selector leaf)
//!     PromSeriesNormalize: ...
//!   PromSeriesNormalize: ...                     (one per raw read the engine still makes)
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::{EmptyRelation, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use sluice_promql::{Engine, LeafKind, MatchOp, SelectRequest};
use sluice_sink::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};

use super::error::promql_err;
use super::instant_manipulate::{InstantManipulate, InstantOp};
use super::nodes::{EvalSpec, PromEval, SeriesNormalize, rfc3339};
use super::range_function::{FunctionOp, RangeFunctionNode};
use super::range_manipulate::{RangeManipulate, RangeOp};
use super::scan::selector_scan;
use crate::segments::table::SegmentTable;

/// Plans `spec` over `table` (named `table_name`).
pub(crate) fn promql_plan(
    table_name: &str,
    table: &Arc<SegmentTable>,
    engine: &Engine,
    spec: EvalSpec,
) -> DfResult<LogicalPlan> {
    let plan = engine
        .plan_query(&spec.expr.expr, spec.start_ms, spec.end_ms, spec.step_ms)
        .map_err(promql_err)?;
    let mut inputs = Vec::with_capacity(plan.leaves.len() + plan.reads.len());
    for leaf in &plan.leaves {
        let read = normalized_read(table_name, table, &leaf.read)?;
        let steps = leaf.steps.clone();
        inputs.push(match &leaf.kind {
            LeafKind::Instant { lookback_ms } => extension(InstantManipulate {
                input: read,
                op: InstantOp {
                    steps,
                    lookback_ms: *lookback_ms,
                },
            }),
            LeafKind::Range { range_ms, function } => {
                let windows = RangeManipulate::new(
                    read,
                    RangeOp {
                        steps: steps.clone(),
                        range_ms: *range_ms,
                    },
                )?;
                extension(RangeFunctionNode::new(
                    extension(windows),
                    FunctionOp {
                        function: function.clone(),
                        steps,
                        range_ms: *range_ms,
                    },
                )?)
            }
        });
    }
    for r in &plan.reads {
        inputs.push(normalized_read(table_name, table, r)?);
    }
    Ok(extension(PromEval::new(inputs, spec)?))
}

fn extension<N: UserDefinedLogicalNodeCore>(node: N) -> LogicalPlan {
    LogicalPlan::Extension(Extension { node: Arc::new(node) })
}

/// One read's rows in series order.
fn normalized_read(table_name: &str, table: &Arc<SegmentTable>, r: &SelectRequest) -> DfResult<LogicalPlan> {
    let scan = selector_scan(table_name, Arc::clone(table), &r.matchers, r.start_ms, r.end_ms)?;
    let input = match scan {
        Some(s) => s.plan,
        None => nothing_matches()?,
    };
    Ok(extension(SeriesNormalize {
        input,
        read: describe(r),
    }))
}

/// The input of a read that the segment footers show matches nothing: no
/// rows, in the scan's shape without label columns.
fn nothing_matches() -> DfResult<LogicalPlan> {
    let schema = Schema::new(vec![
        Field::new(COL_NAME, DataType::Utf8, true),
        Field::new(COL_SERIES_ID, DataType::UInt64, false),
        Field::new(
            COL_TIMESTAMP,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(COL_VALUE, DataType::Float64, false),
    ]);
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::try_from(schema)?),
    }))
}

/// `{__name__="x", a=~"b.*"} [t0, t1]`
fn describe(r: &SelectRequest) -> String {
    let ms: Vec<String> = r
        .matchers
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Regex => "=~",
                MatchOp::NotRegex => "!~",
            };
            format!("{}{op}{:?}", m.name, m.value)
        })
        .collect();
    format!(
        "{{{}}} [{}, {}]",
        ms.join(", "),
        rfc3339(r.start_ms),
        rfc3339(r.end_ms)
    )
}
