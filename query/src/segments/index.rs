//! An in-memory catalog of published segments, built from their footers.
//!
//! Refreshing lists the segment directory (the manifest, see
//! `sluice_sink::segment`) and reads the footer of each segment not seen
//! before; footers are immutable, so each is read once per process.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sluice_sink::segment::layout::list_segments;
use sluice_sink::segment::meta::{SegmentMeta, read_segment_meta};
use tracing::warn;

use crate::QueryLayerError;

/// Catalog of the segments of one table.
#[derive(Debug)]
pub struct SegmentIndex {
    root: PathBuf,
    table: String,
    known: RwLock<HashMap<PathBuf, Arc<SegmentMeta>>>,
}

impl SegmentIndex {
    /// A catalog over `<root>/<table>`.
    pub fn new(root: &Path, table: &str) -> Self {
        SegmentIndex {
            root: root.to_path_buf(),
            table: table.to_string(),
            known: RwLock::new(HashMap::new()),
        }
    }

    /// Picks up newly published segments and forgets removed ones; returns
    /// the current set sorted by path.
    pub fn refresh(&self) -> Result<Vec<Arc<SegmentMeta>>, QueryLayerError> {
        let paths = list_segments(&self.root, &self.table)
            .map_err(|e| QueryLayerError::Storage(format!("listing {}: {e}", self.root.display())))?;
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        let present: BTreeSet<&PathBuf> = paths.iter().collect();
        known.retain(|p, _| present.contains(p));
        for p in &paths {
            if known.contains_key(p) {
                continue;
            }
            match read_segment_meta(p) {
                Ok(m) => {
                    known.insert(p.clone(), Arc::new(m));
                }
                // A foreign or damaged file is reported, not fatal: the
                // rest of the data stays queryable.
                Err(e) => warn!(error = %e, "ignoring unreadable segment"),
            }
        }
        let mut out: Vec<Arc<SegmentMeta>> = known.values().cloned().collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Segments overlapping `[start_ms, end_ms]` that hold any metric
    /// accepted by `want_metric`.
    pub fn candidates(
        &self,
        start_ms: i64,
        end_ms: i64,
        want_metric: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Arc<SegmentMeta>>, QueryLayerError> {
        Ok(self
            .refresh()?
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
