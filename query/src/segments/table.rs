//! The segments as a DataFusion table, pruned by time and metric name.
//!
//! A [`SegmentTable`] is a snapshot of the published segments taken when a
//! query starts (so its schema cannot shift under a running plan). Its
//! schema is the fixed columns plus the union of every label column. A scan
//! first drops whole files whose footer says they cannot match (time range,
//! metric names), then hands the survivors to DataFusion's Parquet reader,
//! which prunes row groups and pages by statistics with the same filters.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use sluice_sink::segment::meta::SegmentMeta;
use sluice_sink::segment::writer::{label_type, timestamp_type};
use sluice_sink::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};
use sluice_sink::store::SegmentStore;

use super::parquet_exec::scan_exec;

/// A point-in-time view of a table's segments.
#[derive(Debug)]
pub struct SegmentTable {
    segments: Vec<Arc<SegmentMeta>>,
    schema: SchemaRef,
    store: SegmentStore,
}

impl SegmentTable {
    /// A table over exactly these segments of `store` (which must be
    /// registered with the session that scans it).
    pub fn new(segments: Vec<Arc<SegmentMeta>>, store: &SegmentStore) -> Self {
        let labels: BTreeSet<&str> = segments
            .iter()
            .flat_map(|s| s.metrics.values().flatten().map(String::as_str))
            .collect();
        let mut fields = vec![Field::new(COL_NAME, label_type(), false)];
        fields.extend(labels.into_iter().map(|l| Field::new(l, label_type(), true)));
        fields.push(Field::new(COL_SERIES_ID, DataType::UInt64, false));
        fields.push(Field::new(COL_TIMESTAMP, timestamp_type(), false));
        fields.push(Field::new(COL_VALUE, DataType::Float64, false));
        SegmentTable {
            schema: Arc::new(Schema::new(fields)),
            segments,
            store: store.clone(),
        }
    }

    /// The segments in this snapshot.
    pub fn segments(&self) -> &[Arc<SegmentMeta>] {
        &self.segments
    }
}

/// What the filters say about the rows a scan can return.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ScanBounds {
    pub(crate) min_time_ms: Option<i64>,
    pub(crate) max_time_ms: Option<i64>,
    pub(crate) metrics: Option<BTreeSet<String>>,
}

impl ScanBounds {
    pub(crate) fn from_filters(filters: &[Expr]) -> Self {
        let mut b = ScanBounds::default();
        for f in filters {
            b.absorb(f);
        }
        b
    }

    fn absorb(&mut self, e: &Expr) {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if *op == Operator::And => {
                self.absorb(left);
                self.absorb(right);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, lit, op) = match (column_name(left), literal(right)) {
                    (Some(c), Some(l)) => (c, l, *op),
                    _ => match (literal(left), column_name(right), op.swap()) {
                        (Some(l), Some(c), Some(op)) => (c, l, op),
                        _ => return,
                    },
                };
                if col == COL_TIMESTAMP {
                    let Some(ms) = timestamp_ms(&lit) else { return };
                    match op {
                        Operator::Gt | Operator::GtEq => {
                            self.min_time_ms = Some(self.min_time_ms.map_or(ms, |m| m.max(ms)))
                        }
                        Operator::Lt | Operator::LtEq => {
                            self.max_time_ms = Some(self.max_time_ms.map_or(ms, |m| m.min(ms)))
                        }
                        Operator::Eq => {
                            self.min_time_ms = Some(ms);
                            self.max_time_ms = Some(ms);
                        }
                        _ => {}
                    }
                } else if col == COL_NAME
                    && op == Operator::Eq
                    && let Some(s) = string(&lit)
                {
                    self.restrict_metrics([s]);
                }
            }
            Expr::InList(il) if !il.negated && column_name(&il.expr).as_deref() == Some(COL_NAME) => {
                let names: Option<Vec<String>> = il
                    .list
                    .iter()
                    .map(|e| literal(e).and_then(|l| string(&l)))
                    .collect();
                if let Some(names) = names {
                    self.restrict_metrics(names);
                }
            }
            _ => {}
        }
    }

    fn restrict_metrics(&mut self, names: impl IntoIterator<Item = String>) {
        let new: BTreeSet<String> = names.into_iter().collect();
        self.metrics = Some(match self.metrics.take() {
            Some(old) => old.intersection(&new).cloned().collect(),
            None => new,
        });
    }

    pub(crate) fn admits(&self, seg: &SegmentMeta) -> bool {
        let lo = self.min_time_ms.unwrap_or(i64::MIN);
        let hi = self.max_time_ms.unwrap_or(i64::MAX);
        seg.overlaps(lo, hi)
            && self
                .metrics
                .as_ref()
                .is_none_or(|ms| ms.iter().any(|m| seg.metrics.contains_key(m)))
    }
}

fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Column(c) => Some(c.name.clone()),
        Expr::Cast(c) => column_name(&c.expr),
        Expr::TryCast(c) => column_name(&c.expr),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Cast(c) => literal(&c.expr),
        _ => None,
    }
}

fn string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            Some(s.clone())
        }
        ScalarValue::Dictionary(_, inner) => string(inner),
        _ => None,
    }
}

fn timestamp_ms(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampMillisecond(Some(x), _) => Some(*x),
        ScalarValue::TimestampSecond(Some(x), _) => x.checked_mul(1000),
        ScalarValue::TimestampMicrosecond(Some(x), _) => Some(x.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(x), _) => Some(x.div_euclid(1_000_000)),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for SegmentTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Inexact: we prune files and row groups, DataFusion re-checks rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let bounds = ScanBounds::from_filters(filters);
        let files: Vec<&Arc<SegmentMeta>> = self.segments.iter().filter(|s| bounds.admits(s)).collect();
        tracing::debug!(
            total = self.segments.len(),
            selected = files.len(),
            ?bounds,
            "segment pruning"
        );
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        scan_exec(state, &self.store, self.schema.clone(), &files, projection, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn bounds_from_time_and_name_filters() {
        let ts = |ms| lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())));
        let f = vec![
            col(COL_TIMESTAMP).gt_eq(ts(1000)),
            col(COL_TIMESTAMP).lt_eq(ts(5000)),
            col(COL_NAME).eq(lit("up")),
        ];
        let b = ScanBounds::from_filters(&f);
        assert_eq!(b.min_time_ms, Some(1000));
        assert_eq!(b.max_time_ms, Some(5000));
        assert_eq!(b.metrics, Some(BTreeSet::from(["up".to_string()])));
    }
}
