//! `sluice compact`: one compaction and retention pass, then exit.
//!
//! The sink runs the same pass periodically for the partitions it owns;
//! this command is for stores without a running sink (after `sluice import`,
//! or a cron job over an archive) and covers every partition. Do not run it
//! on partitions a live sink compacts: one writer per partition.

use std::sync::Arc;

use anyhow::Context;
use sluice_model::clock::SystemClock;
use sluice_sink::compact::{Compactor, PassReport};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::store::SegmentStore;

use crate::config::Config;

/// Runs passes until one has nothing left to merge (merging a day's 2 h
/// segments can enable nothing more, but superseded inputs are only
/// deleted on a later pass once `delete_delay` has passed).
pub(crate) async fn compact(cfg: &Config) -> anyhow::Result<PassReport> {
    let store =
        SegmentStore::open(&cfg.sink.path, &cfg.sink.storage_options).context("opening the segment store")?;
    let compactor = Compactor::new(
        store,
        SAMPLES_TABLE,
        cfg.sink.compaction_settings(),
        Box::new(|_| true),
        Arc::new(SystemClock),
    );
    let mut total = PassReport::default();
    loop {
        let r = compactor.run_once().await.context("compaction pass")?;
        total.merged_inputs += r.merged_inputs;
        total.merged_outputs += r.merged_outputs;
        total.deleted_superseded += r.deleted_superseded;
        total.deleted_expired += r.deleted_expired;
        if r.merged_outputs == 0 {
            return Ok(total);
        }
    }
}
