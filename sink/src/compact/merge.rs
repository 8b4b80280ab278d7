//! Carrying out one merge: read the inputs, write one segment.
//!
//! The inputs are decoded back into series (each segment holds a series'
//! rows contiguously, so labels are rebuilt once per run of rows, not per
//! row), concatenated in offset order, and written through the same encoder
//! the sink uses, so a merged segment is indistinguishable from one the
//! sink would have written for the whole offset range.

use super::plan::Merge;
use crate::SinkError;
use crate::segment::meta::SegmentMeta;
use crate::segment::read::decode_series;
use crate::segment::writer::{SegmentSpec, write_segment};
use crate::store::SegmentStore;

/// Writes the merged segment of `merge` and returns it. The inputs are left
/// in place: the merged segment supersedes them (see
/// [`crate::segment::layout`]), and they are deleted later.
pub async fn execute(store: &SegmentStore, table: &str, merge: &Merge) -> Result<SegmentMeta, SinkError> {
    let mut files = Vec::with_capacity(merge.inputs.len());
    for input in &merge.inputs {
        files.push(store.get(&input.location).await?);
    }
    let series = tokio::task::spawn_blocking(move || decode_series(files))
        .await
        .map_err(|e| SinkError::Internal(format!("merge decoder task: {e}")))??;
    let spec = SegmentSpec {
        table,
        key: merge.key,
    };
    write_segment(store, &spec, series)
        .await?
        .ok_or_else(|| SinkError::Internal(format!("merge {:?} produced no rows", merge.key)))
}
