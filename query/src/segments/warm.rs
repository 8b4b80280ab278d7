//! Opening the segments before the query role says it is ready.
//!
//! Prometheus reads its blocks' indexes at start and reports ready after;
//! a query role that did not would pay every footer read — catalog and
//! Parquet reader, each file twice — inside the first queries (a cold
//! 1 h dashboard query took 2–3× its hot time). So the role loads the
//! catalog and fills the reader's footer cache, newest segments first
//! (dashboards read recent data), up to half the cache so that queries
//! keep room for what they read next.

use std::sync::Arc;

use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::prelude::SessionContext;
use sluice_sink::segment::meta::SegmentMeta;

use super::index::SegmentIndex;
use super::parquet_exec::object_meta;
use crate::QueryLayerError;

/// What a warm-up did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Warmed {
    /// Segments in the catalogs.
    pub segments: usize,
    /// Of those, footers now in the reader's cache.
    pub footers: usize,
}

/// Loads `indexes` and the footers of their newest segments into `ctx`'s
/// metadata cache.
pub async fn warm_up(ctx: &SessionContext, indexes: &[&SegmentIndex]) -> Result<Warmed, QueryLayerError> {
    let mut all: Vec<(Arc<SegmentMeta>, &SegmentIndex)> = Vec::new();
    for index in indexes {
        all.extend(index.refresh().await?.into_iter().map(|s| (s, *index)));
    }
    all.sort_by_key(|(s, _)| std::cmp::Reverse(s.max_time_ms));
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    let budget = cache.cache_limit() / 2;
    let mut used = 0usize;
    let mut footers = 0usize;
    for (segment, index) in &all {
        // As the scan describes the file, so the entry is valid for it.
        let meta = object_meta(segment);
        let store = index.store().object_store();
        let footer = DFParquetMetadata::new(store.as_ref(), &meta)
            .with_file_metadata_cache(Some(Arc::clone(&cache)))
            .fetch_metadata()
            .await;
        // One unreadable footer (say, compacted away since the listing)
        // costs only its warmth; the scan reports it if a query needs it.
        let footer = match footer {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(segment = %segment.location, error = %e, "warm-up: footer not read");
                continue;
            }
        };
        used += footer.memory_size();
        footers += 1;
        if used >= budget {
            break;
        }
    }
    Ok(Warmed {
        segments: all.len(),
        footers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::session_config;
    use sluice_model::{Labels, Sample, TimeSeries};
    use sluice_sink::segment::SAMPLES_TABLE;
    use sluice_sink::segment::layout::SegmentKey;
    use sluice_sink::segment::writer::{SegmentSpec, write_segment};
    use sluice_sink::store::SegmentStore;

    #[tokio::test]
    async fn warm_up_puts_every_footer_in_the_readers_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = SegmentStore::local(dir.path()).unwrap();
        for partition in 0..3 {
            let spec = SegmentSpec {
                table: SAMPLES_TABLE,
                key: SegmentKey {
                    partition,
                    first_offset: 0,
                    last_offset: 0,
                },
            };
            let series = TimeSeries {
                labels: Labels::new([("__name__", "up"), ("job", "j")]),
                samples: vec![Sample::new(1000 * i64::from(partition), 1.0)],
            };
            write_segment(&store, &spec, vec![series]).await.unwrap();
        }
        let index = SegmentIndex::new(store, SAMPLES_TABLE);
        let ctx = SessionContext::new_with_config(session_config());
        let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
        let segments = index.refresh().await.unwrap();
        assert!(segments.iter().all(|s| cache.get(&s.location).is_none()));

        let warmed = warm_up(&ctx, &[&index]).await.unwrap();
        assert_eq!(
            warmed,
            Warmed {
                segments: 3,
                footers: 3
            }
        );
        for s in &segments {
            let entry = cache.get(&s.location).expect("footer cached");
            assert!(
                entry.is_valid_for(&object_meta(s)),
                "valid for the scan's view of the file"
            );
        }
    }
}
