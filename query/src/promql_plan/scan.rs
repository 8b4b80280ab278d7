//! One read of the PromQL engine as a DataFusion plan over a segment table.
//!
//! The metric-name matchers are resolved against the segments' footers
//! (which metric names exist, with which label columns), so the scan
//! filters on an exact name list plus the time range: the table provider
//! prunes whole segments with them and the Parquet reader prunes row groups
//! by their statistics. The other matchers become filter expressions that
//! the Parquet reader evaluates while decoding (`pushdown_filters`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::functions::expr_fn::regexp_like;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col, lit};
use datafusion::prelude::ident;
use sluice_model::METRIC_NAME;
use sluice_promql::{MatchOp, Matcher};
use sluice_sink::segment::writer::label_type;
use sluice_sink::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};

use crate::segments::index::SegmentIndex;
use crate::segments::table::SegmentTable;

/// The scan of one read, and the label columns its rows carry (between the
/// metric name and the series id, in this order).
#[derive(Debug)]
pub(crate) struct SelectorScan {
    pub(crate) plan: LogicalPlan,
    pub(crate) label_cols: Vec<String>,
    /// The plan's parts, for building its execution plan directly
    /// (`segments::source`): the filter over the table's columns, and the
    /// projection as indices into the table's schema.
    pub(crate) filter: Expr,
    pub(crate) projection: Vec<usize>,
}

/// Plans the rows of `table` (named `table_name`) that match `matchers` in
/// `[start_ms, end_ms]`: columns `__name__`, the label columns, the series
/// id, timestamp and value. `None` when the footers show no series can
/// match.
pub(crate) fn selector_scan(
    table_name: &str,
    table: Arc<SegmentTable>,
    matchers: &[Matcher],
    start_ms: i64,
    end_ms: i64,
) -> DfResult<Option<SelectorScan>> {
    let name_matchers: Vec<&Matcher> = matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
    let want = |metric: &str| name_matchers.iter().all(|m| m.matches(metric));
    let in_range: Vec<_> = table
        .segments()
        .iter()
        .filter(|s| s.overlaps(start_ms, end_ms))
        .cloned()
        .collect();
    let per_metric: BTreeMap<String, BTreeSet<String>> = SegmentIndex::label_names(&in_range, &want);
    if per_metric.is_empty() {
        return Ok(None);
    }
    let label_cols: BTreeSet<String> = per_metric.values().flatten().cloned().collect();
    let mut filter = col(COL_TIMESTAMP)
        .gt_eq(ts_lit(start_ms))
        .and(col(COL_TIMESTAMP).lt_eq(ts_lit(end_ms)))
        .and(col(COL_NAME).in_list(per_metric.keys().map(|m| lit(m.clone())).collect(), false));
    for m in matchers.iter().filter(|m| m.name != METRIC_NAME) {
        if label_cols.contains(&m.name) {
            filter = filter.and(matcher_expr(m));
        } else if !m.matches_empty() {
            // No selected series has this label at all.
            return Ok(None);
        }
    }
    let mut columns = vec![COL_NAME];
    columns.extend(label_cols.iter().map(String::as_str));
    columns.extend([COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE]);
    let schema = table.schema();
    let projection = columns
        .iter()
        .map(|c| schema.index_of(c))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = LogicalPlanBuilder::scan(table_name, provider_as_source(table), None)?
        .filter(filter.clone())?
        .project(columns.iter().map(|c| ident(*c)))?
        .build()?;
    Ok(Some(SelectorScan {
        plan,
        label_cols: label_cols.into_iter().collect(),
        filter,
        projection,
    }))
}

fn ts_lit(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())))
}

/// The filter for one label matcher; an absent label (null) is `""`.
/// Equality compares the dictionary column with a dictionary literal, so
/// no string is made per row (casting the column was a tenth of a 1 h
/// query's CPU); a regex needs the text.
fn matcher_expr(m: &Matcher) -> Expr {
    let column = ident(m.name.clone());
    let text = || cast(column.clone(), DataType::Utf8);
    let anchored = || lit(format!("^(?s:{})$", m.value));
    let pred = match m.op {
        MatchOp::Equal => column.clone().eq(label_lit(&m.value)),
        MatchOp::NotEqual => column.clone().not_eq(label_lit(&m.value)),
        MatchOp::Regex => regexp_like(text(), anchored(), None),
        MatchOp::NotRegex => Expr::Not(Box::new(regexp_like(text(), anchored(), None))),
    };
    if m.matches_empty() {
        column.is_null().or(pred)
    } else {
        pred
    }
}

/// A label value typed as the label columns are ([`label_type`]).
fn label_lit(value: &str) -> Expr {
    let DataType::Dictionary(key, _) = label_type() else {
        unreachable!("label columns are dictionary-encoded")
    };
    lit(ScalarValue::Dictionary(
        key,
        Box::new(ScalarValue::Utf8(Some(value.to_string()))),
    ))
}
