//! Reading segments back into series (compaction's merge input, the
//! downsampler's recomputation from raw segments).
//!
//! Each segment holds a series' rows contiguously, so labels are rebuilt
//! once per run of rows, not per row.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, TimestampMillisecondType, UInt64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries};

use crate::SinkError;
use crate::segment::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};

/// Series of all `files`, samples in input order, one sample per timestamp
/// (the first one wins, as in the sink and in Prometheus).
pub fn decode_series(files: Vec<Bytes>) -> Result<Vec<TimeSeries>, SinkError> {
    let mut by_id: HashMap<u64, TimeSeries> = HashMap::new();
    for data in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(data)
            .and_then(|b| b.build())
            .map_err(|e| SinkError::Corrupt(format!("reading a segment: {e}")))?;
        for batch in reader {
            let batch = batch.map_err(|e| SinkError::Corrupt(format!("decoding a segment: {e}")))?;
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
            .ok_or_else(|| SinkError::Corrupt(format!("segment lacks column {name}")))
    };
    let ids = column(COL_SERIES_ID)?.as_primitive_opt::<UInt64Type>();
    let ts = column(COL_TIMESTAMP)?.as_primitive_opt::<TimestampMillisecondType>();
    let vals = column(COL_VALUE)?.as_primitive_opt::<Float64Type>();
    let (Some(ids), Some(ts), Some(vals)) = (ids, ts, vals) else {
        return Err(SinkError::Corrupt("segment has unexpected column types".into()));
    };
    let schema = batch.schema();
    let labels: Vec<(&str, _)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        // Every label is a dictionary column named after it, reserved
        // `__` labels such as the tiers' `__aggr__` included: only the
        // three data columns are not labels.
        .filter(|(f, _)| ![COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE].contains(&f.name().as_str()))
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

#[cfg(test)]
mod tests {
    use object_store::path::Path as ObjPath;

    use super::*;
    use crate::segment::layout::SegmentKey;
    use crate::segment::writer::encode_segment;

    /// Every label survives the round trip, the tiers' `__aggr__` too:
    /// compaction of a tier table must not fold a window's five aggregate
    /// series into one.
    #[test]
    fn reads_back_every_label_including_reserved_ones() {
        let mut series = Vec::new();
        for aggr in ["count", "sum", "min", "max", "counter"] {
            series.push(TimeSeries {
                labels: Labels::new([("__aggr__", aggr), ("__name__", "up"), ("job", "a")]),
                samples: vec![Sample::new(1000, aggr.len() as f64)],
            });
        }
        series.push(TimeSeries {
            labels: Labels::new([("__name__", "cpu")]),
            samples: vec![Sample::new(500, 3.5), Sample::new(900, 4.0)],
        });
        let key = SegmentKey {
            partition: 0,
            first_offset: 0,
            last_offset: 0,
        };
        let (data, _) = encode_segment(key, ObjPath::from("t/x.parquet"), series.clone())
            .unwrap()
            .unwrap();
        let mut back = decode_series(vec![data]).unwrap();
        back.sort_by(|a, b| a.labels.cmp(&b.labels));
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        assert_eq!(back, series);
    }
}
