//! A PromQL query as a DataFusion logical plan:
//!
//! ```text
//! PromEval: query=..., range=[...], step=...
//!   PromSeriesNormalize: read={__name__="x", a=~"b.*"} [t0, t1]
//!     Projection: __name__, a, ..., __series_id__, timestamp, value
//!       Filter: timestamp >= t0 AND timestamp <= t1 AND __name__ IN (...) AND ...
//!         TableScan: samples
//!   PromSeriesNormalize: ... (one per read the engine makes)
//! ```

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{DFSchema, DataFusionError, Result as DfResult};
use datafusion::logical_expr::{EmptyRelation, Extension, LogicalPlan};
use sluice_promql::{Engine, MatchOp, SelectRequest};
use sluice_sink::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};

use super::nodes::{EvalSpec, PromEval, SeriesNormalize, rfc3339};
use super::scan::selector_scan;
use crate::segments::table::SegmentTable;

/// Plans `spec` over `table` (named `table_name`).
pub(crate) fn promql_plan(
    table_name: &str,
    table: &Arc<SegmentTable>,
    engine: &Engine,
    spec: EvalSpec,
) -> DfResult<LogicalPlan> {
    let requests = engine
        .select_requests(&spec.query, spec.start_ms, spec.end_ms)
        .map_err(|e| DataFusionError::Plan(e.to_string()))?;
    let mut inputs = Vec::with_capacity(requests.len());
    for r in &requests {
        let scan = selector_scan(table_name, Arc::clone(table), &r.matchers, r.start_ms, r.end_ms)?;
        let input = match scan {
            Some(s) => s.plan,
            None => nothing_matches()?,
        };
        let node = SeriesNormalize {
            input,
            read: describe(r),
        };
        inputs.push(LogicalPlan::Extension(Extension { node: Arc::new(node) }));
    }
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(PromEval::new(inputs, spec)?),
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
