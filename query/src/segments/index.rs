//! The query layer's view of the segment catalog.
//!
//! Wraps [`Catalog`] (footers cached per process, superseded segments
//! hidden) with what planning needs: time and metric-name candidates, label
//! names per metric, and registering the store with a DataFusion session.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use sluice_sink::segment::catalog::Catalog;
use sluice_sink::segment::meta::SegmentMeta;
use sluice_sink::store::SegmentStore;

use crate::QueryLayerError;

/// Catalog of the segments of one table.
#[derive(Debug)]
pub struct SegmentIndex {
    catalog: Catalog,
}

impl SegmentIndex {
    /// A catalog over `table` in `store`.
    pub fn new(store: SegmentStore, table: &str) -> Self {
        SegmentIndex {
            catalog: Catalog::new(store, table),
        }
    }

    /// The store the segments are in.
    pub fn store(&self) -> &SegmentStore {
        self.catalog.store()
    }

    /// The table it catalogs (`samples`, `samples_5m`, ...).
    pub fn table(&self) -> &str {
        self.catalog.table()
    }

    /// Makes the store readable by scans planned in `ctx`.
    pub fn register_store(&self, ctx: &SessionContext) {
        let store = self.store();
        ctx.register_object_store(store.store_url(), store.object_store());
    }

    /// The visible segments now, sorted by key.
    pub async fn refresh(&self) -> Result<Vec<Arc<SegmentMeta>>, QueryLayerError> {
        self.catalog
            .refresh()
            .await
            .map(|s| s.visible)
            .map_err(|e| QueryLayerError::Storage(e.to_string()))
    }

    /// Segments overlapping `[start_ms, end_ms]` that hold any metric
    /// accepted by `want_metric`.
    pub async fn candidates(
        &self,
        start_ms: i64,
        end_ms: i64,
        want_metric: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<Arc<SegmentMeta>>, QueryLayerError> {
        Ok(self
            .refresh()
            .await?
            .into_iter()
            .filter(|m| m.overlaps(start_ms, end_ms))
            .filter(|m| m.metrics.keys().any(|k| want_metric(k)))
            .collect())
    }

    /// Metric name → label names, over the given segments, for metrics
    /// accepted by `want_metric`.
    pub fn label_names(
        segments: &[Arc<SegmentMeta>],
        want_metric: &dyn Fn(&str) -> bool,
    ) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in segments {
            for (metric, labels) in &s.metrics {
                if want_metric(metric) {
                    out.entry(metric.clone())
                        .or_default()
                        .extend(labels.iter().cloned());
                }
            }
        }
        out
    }
}
