//! Runs Prometheus' promqltest scripts through the real storage path: every
//! loaded data set is written by the sink's segment writer and read back
//! through [`SegmentSource`] (catalog → `SegmentTable` → DataFusion Parquet
//! scan), so the conformance figures are those of the server, not of an
//! in-memory shortcut.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::prelude::SessionContext;
use sluice_model::TimeSeries;
use sluice_promql::SeriesSource;
use sluice_promql::promqltest::SourceFuture;
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::SegmentKey;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

use crate::segments::index::SegmentIndex;
use crate::segments::source::SegmentSource;
use crate::sql::session_config;

/// Builds sources by writing segments under `base/load-<n>`.
#[derive(Debug)]
pub struct SegmentFactory {
    base: PathBuf,
    loads: AtomicUsize,
}

impl SegmentFactory {
    /// A factory writing below `base` (which the caller cleans up).
    pub fn new(base: PathBuf) -> Self {
        SegmentFactory {
            base,
            loads: AtomicUsize::new(0),
        }
    }

    /// Writes `series` as one segment and returns a source over it.
    pub fn source(&self, series: Vec<TimeSeries>) -> SourceFuture<'static> {
        let root = self
            .base
            .join(format!("load-{}", self.loads.fetch_add(1, Ordering::Relaxed)));
        Box::pin(async move {
            let store = SegmentStore::local(&root).map_err(|e| e.to_string())?;
            let spec = SegmentSpec {
                table: SAMPLES_TABLE,
                key: SegmentKey {
                    partition: 0,
                    first_offset: 0,
                    last_offset: 0,
                },
            };
            write_segment(&store, &spec, series)
                .await
                .map_err(|e| e.to_string())?;
            let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
            let src: Arc<dyn SeriesSource> = Arc::new(SegmentSource::new(
                index,
                SessionContext::new_with_config(session_config()),
            ));
            Ok(src)
        })
    }
}
