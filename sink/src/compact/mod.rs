//! Compaction and retention of one table's segments.
//!
//! The live sink publishes a segment per partition every flush interval
//! (seconds of data each: many small files, poorly compressed). A pass of
//! the [`Compactor`]:
//!
//! 1. deletes superseded segments whose replacement has been visible for
//!    `delete_delay` (inputs of earlier merges, see
//!    [`crate::segment::layout`]);
//! 2. deletes segments wholly older than the retention;
//! 3. merges, per partition, offset-consecutive segments whose samples start
//!    in the same closed time window ([`plan`]); each merged segment is
//!    published before anything else changes.
//!
//! Every step is idempotent and each visible state is complete, so a
//! compactor killed at any point leaves data that reads the same, and the
//! next pass finishes the job. Only the owner of a partition (the sink
//! shard that writes it) compacts it, so there is never a second writer.

pub mod merge;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use sluice_model::clock::TimeProvider;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::SinkError;
use crate::segment::catalog::Catalog;
use crate::segment::meta::SegmentMeta;
use crate::store::SegmentStore;
use plan::{MergePolicy, deletable_superseded, expired, plan_merges};

/// What the compactor does and when.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactionSettings {
    /// Merge policy.
    pub policy: MergePolicy,
    /// Segments wholly older than this are deleted (0 = keep forever).
    pub retention_ms: i64,
    /// How long merged inputs stay readable after their replacement is
    /// published (longer than any query).
    pub delete_delay_ms: i64,
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PassReport {
    /// Segments merged away (inputs).
    pub merged_inputs: usize,
    /// Merged segments written.
    pub merged_outputs: usize,
    /// Superseded segments deleted.
    pub deleted_superseded: usize,
    /// Expired segments deleted.
    pub deleted_expired: usize,
}

/// Compacts the partitions of one table that `owns` accepts.
pub struct Compactor {
    catalog: Catalog,
    store: SegmentStore,
    table: String,
    settings: CompactionSettings,
    owns: Box<dyn Fn(i32) -> bool + Send + Sync>,
    clock: Arc<dyn TimeProvider>,
    metrics: Metrics,
}

struct Metrics {
    merges: Counter,
    superseded: Counter,
    expired: Counter,
    failures: Counter,
}

impl Compactor {
    /// A compactor for `table`'s partitions accepted by `owns`.
    pub fn new(
        store: SegmentStore,
        table: &str,
        settings: CompactionSettings,
        owns: Box<dyn Fn(i32) -> bool + Send + Sync>,
        clock: Arc<dyn TimeProvider>,
    ) -> Self {
        let reg = telemetry::global();
        let t = [("table", table)];
        let deleted = "sluice_compaction_segments_deleted_total";
        let deleted_help = "Segments deleted by the compactor.";
        Compactor {
            metrics: Metrics {
                merges: reg.counter("sluice_compaction_merges_total", "Merged segments written.", &t),
                superseded: reg.counter(
                    deleted,
                    deleted_help,
                    &[("table", table), ("reason", "superseded")],
                ),
                expired: reg.counter(
                    deleted,
                    deleted_help,
                    &[("table", table), ("reason", "retention")],
                ),
                failures: reg.counter(
                    "sluice_compaction_failures_total",
                    "Compaction passes that failed.",
                    &t,
                ),
            },
            catalog: Catalog::new(store.clone(), table),
            store,
            table: table.to_string(),
            settings,
            owns,
            clock,
        }
    }

    /// One pass over the table.
    pub async fn run_once(&self) -> Result<PassReport, SinkError> {
        let now = self.clock.now_ms();
        let snap = self.catalog.refresh().await?;
        let mine = |v: Vec<Arc<SegmentMeta>>| -> Vec<Arc<SegmentMeta>> {
            v.into_iter().filter(|m| (self.owns)(m.partition)).collect()
        };
        let (visible, superseded) = (mine(snap.visible), mine(snap.superseded));
        let mut report = PassReport::default();
        let s = &self.settings;
        for old in deletable_superseded(&superseded, &visible, s.delete_delay_ms, now) {
            self.store.delete(&old.location).await?;
            self.metrics.superseded.inc();
            report.deleted_superseded += 1;
        }
        let gone = expired(&visible, s.retention_ms, now);
        for old in &gone {
            self.store.delete(&old.location).await?;
            self.metrics.expired.inc();
            report.deleted_expired += 1;
        }
        let live: Vec<_> = visible
            .into_iter()
            .filter(|v| !gone.iter().any(|g| g.location == v.location))
            .collect();
        for m in plan_merges(&live, &s.policy, now) {
            let out = merge::execute(&self.store, &self.table, &m).await?;
            self.metrics.merges.inc();
            report.merged_inputs += m.inputs.len();
            report.merged_outputs += 1;
            debug!(
                partition = m.key.partition,
                inputs = m.inputs.len(),
                rows = out.rows,
                bytes = out.bytes,
                "segments merged"
            );
        }
        Ok(report)
    }

    /// Runs a pass every `every` until `shutdown` turns true. A failed pass
    /// is logged and retried at the next tick: compaction is an
    /// optimisation, never a reason to stop ingesting.
    pub async fn run(self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        info!(table = %self.table, every_s = every.as_secs(), "compactor started");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            match self.run_once().await {
                Ok(r) if r != PassReport::default() => info!(table = %self.table, ?r, "compaction pass"),
                Ok(_) => {}
                Err(e) => {
                    self.metrics.failures.inc();
                    warn!(table = %self.table, error = %e, "compaction pass failed");
                }
            }
        }
    }
}
