//! A read of a synthetic segment before the role says it is ready.
//!
//! The first query a freshly started role answers cost about twice what
//! the same query costs later with the same files in the page cache (a
//! 1 h query of 45 series: 10–12 ms against 5–7), and a read of some other
//! metric just before it took back about 3 ms of that. What the first
//! read pays is the process's own start-up, not the data: the Parquet,
//! Arrow and DataFusion code it runs is mapped in page by page, the
//! worker and blocking threads' heaps are new, lazily built tables are
//! built. Prometheus' start-up (reading its blocks' indexes) warms its
//! read path the same way. The rehearsal writes a segment of its own to a
//! temporary directory and answers a range query over it through
//! [`SegmentSource`], the engine and the JSON writer, so it touches none
//! of the user's data: what the user's first query then reads cold is only
//! its own data. The server runs it on the query runtime, once per worker
//! thread ([`SegmentSource::warm_up`], `api::queue::on_query_runtime`):
//! run on the HTTP runtime it warmed threads that queries never use.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::prelude::SessionContext;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::{Engine, EngineOptions, Value};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::SegmentKey;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

use super::index::SegmentIndex;
use super::source::SegmentSource;
use crate::api::response::success_value;

const METRIC: &str = "sluice_rehearsal_bytes_total";

/// Writes the rehearsal's segment under the system's temporary directory,
/// answers a range query over it twice as the HTTP API would in each of
/// `readers` tasks spawned at once (one per worker of the runtime it runs
/// on, so that each worker is likely to read), and removes it; the points
/// of the answer.
pub async fn rehearse(ctx: &SessionContext, readers: usize) -> Result<usize, String> {
    rehearse_at(ctx, &rehearsal_dir(), readers).await
}

/// [`rehearse`] in `dir`, which it removes after.
async fn rehearse_at(ctx: &SessionContext, dir: &std::path::Path, readers: usize) -> Result<usize, String> {
    let read = rehearse_in(ctx, dir, readers).await;
    // Best effort: a leftover directory of some 100 kB is not worth an error.
    let _ = std::fs::remove_dir_all(dir);
    read
}

/// A directory of this rehearsal's own (several roles, or tests, may
/// rehearse in one process at once).
fn rehearsal_dir() -> std::path::PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sluice-rehearsal-{}-{n}", std::process::id()))
}

async fn rehearse_in(ctx: &SessionContext, dir: &std::path::Path, readers: usize) -> Result<usize, String> {
    let store = SegmentStore::local(dir).map_err(|e| e.to_string())?;
    let spec = SegmentSpec {
        table: SAMPLES_TABLE,
        key: SegmentKey::single(0, 0),
    };
    // Written once; what has to be warm is the reading.
    write_segment(&store, &spec, synthetic_series())
        .await
        .map_err(|e| e.to_string())?;
    let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
    let source = Arc::new(SegmentSource::new(index, ctx.clone()));
    let tasks: Vec<_> = (0..readers.max(1))
        .map(|_| tokio::spawn(read_twice(Arc::clone(&source))))
        .collect();
    let mut points = 0;
    for task in tasks {
        points = task.await.map_err(|e| e.to_string())??;
    }
    Ok(points)
}

/// A dashboard's range query over the rehearsal's segment, evaluated and
/// written as the HTTP API writes it, twice; the points of the answer.
async fn read_twice(source: Arc<SegmentSource>) -> Result<usize, String> {
    let engine = Engine::new(EngineOptions::default());
    let query = format!("rate({METRIC}{{device!=\"lo\"}}[5m])");
    let mut points = 0;
    for _ in 0..2 {
        let result = engine
            .range(source.as_ref(), &query, 300_000, 3_585_000, 15_000)
            .await
            .map_err(|e| e.to_string())?;
        let Value::Matrix(series) = &result.value else {
            return Err(format!(
                "the rehearsal's query gave no matrix: {:?}",
                result.value
            ));
        };
        points = series.iter().map(|s| s.samples.len()).sum();
        drop(success_value(
            &result.value,
            &result.warnings,
            &result.infos,
            None,
        ));
    }
    Ok(points)
}

/// 200 counters of a node-exporter shape (50 nodes, 4 devices), an hour
/// at 15 s: 48 000 samples, about what a dashboard's 1 h query reads. Its
/// size matters: with 8 series the first user query still grew the heaps
/// of the query threads (about 530 page faults, against about 160 with
/// 200 series), and in fresh processes a cold 1 h `rate` over 45 series
/// took a median 8.9 ms after the small rehearsal against 7.2 ms after
/// this one (session 12, three interleaved rounds of six).
fn synthetic_series() -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for node in 0..50 {
        let instance = format!("node-{node}:9100");
        for device in ["eth0", "eth1", "lo", "docker0"] {
            let samples = (0..240)
                .map(|i| Sample::new(i * 15_000, (i * 1_000) as f64))
                .collect();
            out.push(TimeSeries {
                labels: Labels::new([
                    ("__name__", METRIC),
                    ("device", device),
                    ("instance", instance.as_str()),
                    ("job", "node"),
                ]),
                samples,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::session_config;

    #[tokio::test]
    async fn the_rehearsal_answers_over_its_own_segment_and_leaves_nothing_behind() {
        let ctx = SessionContext::new_with_config(session_config());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rehearsal");
        let points = rehearse_at(&ctx, &dir, 2).await.unwrap();
        // 150 series without device="lo", 220 steps from 5 m to 59 m 45 s.
        assert_eq!(points, 150 * 220);
        assert!(!dir.exists(), "its directory is removed");
    }
}
