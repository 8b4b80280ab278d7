//! Carrying out one merge: read the inputs, write one segment.
//!
//! The inputs are decoded back into series (each segment holds a series'
//! rows contiguously, so labels are rebuilt once per run of rows, not per
//! row), concatenated in offset order, and written through the same encoder
//! the sink uses, so a merged segment is indistinguishable from one the
//! sink would have written for the whole offset range.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, TimestampMillisecondType, UInt64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries};

use super::plan::Merge;
use crate::SinkError;
use crate::segment::meta::SegmentMeta;
use crate::segment::writer::{SegmentSpec, write_segment};
use crate::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};
use crate::store::SegmentStore;

/// Writes the merged segment of `merge` and returns it. The inputs are left
/// in place: the merged segment supersedes them (see
/// [`crate::segment::layout`]), and they are deleted later.
pub async fn execute(store: &SegmentStore, table: &str, merge: &Merge) -> Result<SegmentMeta, SinkError> {
    let mut files = Vec::with_capacity(merge.inputs.len());
    for input in &merge.inputs {
        files.push(store.get(&input.location).await?);
    }
    let series = tokio::task::spawn_blocking(move || decode_all(files))
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

/// Series of all `files`, samples in input order, one sample per timestamp
/// (the first one wins, as in the sink and in Prometheus).
fn decode_all(files: Vec<Bytes>) -> Result<Vec<TimeSeries>, SinkError> {
    let mut by_id: HashMap<u64, TimeSeries> = HashMap::new();
    for data in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(data)
            .and_then(|b| b.build())
            .map_err(|e| SinkError::Corrupt(format!("reading a merge input: {e}")))?;
        for batch in reader {
            let batch = batch.map_err(|e| SinkError::Corrupt(format!("decoding a merge input: {e}")))?;
            absorb(&batch, &mut by_id)?;
        }
    }
    Ok(by_id
        .into_values()
        .map(|mut s| {
            // Stable: among equal timestamps the earlier input stays first.
            s.samples.sort_by_key(|x| x.timestamp_ms);
            s.samples.dedup_by_key(|x| x.timestamp_ms);
            s
        })
        .collect())
}

fn absorb(batch: &RecordBatch, by_id: &mut HashMap<u64, TimeSeries>) -> Result<(), SinkError> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| SinkError::Corrupt(format!("merge input lacks column {name}")))
    };
    let ids = column(COL_SERIES_ID)?.as_primitive_opt::<UInt64Type>();
    let ts = column(COL_TIMESTAMP)?.as_primitive_opt::<TimestampMillisecondType>();
    let vals = column(COL_VALUE)?.as_primitive_opt::<Float64Type>();
    let (Some(ids), Some(ts), Some(vals)) = (ids, ts, vals) else {
        return Err(SinkError::Corrupt(
            "merge input has unexpected column types".into(),
        ));
    };
    let schema = batch.schema();
    let labels: Vec<(&str, _)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() == COL_NAME || !f.name().starts_with("__"))
        .filter_map(|(f, c)| c.as_dictionary_opt::<Int32Type>().map(|d| (f.name().as_str(), d)))
        .collect();
    let mut current: Option<u64> = None;
    for row in 0..batch.num_rows() {
        let id = ids.value(row);
        if current != Some(id) {
            current = Some(id);
            by_id.entry(id).or_insert_with(|| TimeSeries {
                labels: labels_at(&labels, row),
                samples: Vec::new(),
            });
        }
        if let Some(s) = by_id.get_mut(&id) {
            s.samples.push(Sample::new(ts.value(row), vals.value(row)));
        }
    }
    Ok(())
}

fn labels_at(columns: &[(&str, &arrow::array::DictionaryArray<Int32Type>)], row: usize) -> Labels {
    let pairs = columns.iter().filter_map(|(name, dict)| {
        if dict.is_null(row) {
            return None;
        }
        let values = dict.values().as_string_opt::<i32>()?;
        let v = values.value(dict.keys().value(row) as usize);
        let name = if *name == COL_NAME { METRIC_NAME } else { name };
        Some((name.to_string(), v.to_string()))
    });
    Labels::new(pairs)
}
