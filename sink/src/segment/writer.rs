//! Turns buffered series into one published Parquet segment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Float64Array, RecordBatch, TimestampMillisecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sluice_model::{METRIC_NAME, TimeSeries};

use super::layout::SegmentKey;
use super::meta::SegmentMeta;
use super::{COL_NAME, COL_SERIES_ID, COL_TIMESTAMP, COL_VALUE};
use crate::SinkError;
use crate::store::SegmentStore;

/// Rows per row group: large enough for good compression, small enough that
/// statistics prune usefully within one segment.
const ROW_GROUP_ROWS: usize = 256 * 1024;

/// The Arrow type of every label column (and `__name__`).
pub fn label_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The timestamp column type.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Where and what to write.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSpec<'a> {
    /// Table (e.g. `samples`).
    pub table: &'a str,
    /// Partition and the offsets covered.
    pub key: SegmentKey,
}

/// Writes `series` as one segment and publishes it atomically. Series must
/// have unique label sets; samples within a series ascend by time.
/// Returns `None` when there is nothing to write.
pub async fn write_segment(
    store: &SegmentStore,
    spec: &SegmentSpec<'_>,
    series: Vec<TimeSeries>,
) -> Result<Option<SegmentMeta>, SinkError> {
    let location = store.key(spec.table, &spec.key.relative_path());
    let key = spec.key;
    // Encoding is CPU-bound: keep it off the async workers.
    let encoded = tokio::task::spawn_blocking(move || encode_segment(key, location, series))
        .await
        .map_err(|e| SinkError::Internal(format!("segment encoder task: {e}")))??;
    let Some((data, meta)) = encoded else {
        return Ok(None);
    };
    store.put(&meta.location, data).await?;
    Ok(Some(meta))
}

/// Encodes `series` as the Parquet bytes of one segment, plus its summary.
pub fn encode_segment(
    key: SegmentKey,
    location: ObjPath,
    mut series: Vec<TimeSeries>,
) -> Result<Option<(Bytes, SegmentMeta)>, SinkError> {
    series.retain(|s| !s.samples.is_empty());
    if series.is_empty() {
        return Ok(None);
    }
    // Sort by metric, then the rest of the label set: rows of one series are
    // contiguous and label columns compress to long runs.
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let batch = build_batch(&series)?;
    let mut meta = summarize(key, location, &series, batch.num_rows());
    let data = encode_parquet(&batch, &meta)?;
    meta.bytes = data.len() as u64;
    Ok(Some((data, meta)))
}

fn summarize(key: SegmentKey, location: ObjPath, series: &[TimeSeries], rows: usize) -> SegmentMeta {
    let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for s in series {
        let name = s.labels.metric_name().unwrap_or_default().to_string();
        let set = metrics.entry(name).or_default();
        for l in s.labels.iter().filter(|l| l.name != METRIC_NAME) {
            set.insert(l.name.clone());
        }
        min_t = min_t.min(s.samples[0].timestamp_ms);
        max_t = max_t.max(s.samples[s.samples.len() - 1].timestamp_ms);
    }
    SegmentMeta {
        location,
        modified_ms: 0,
        partition: key.partition,
        first_offset: key.first_offset,
        last_offset: key.last_offset,
        min_time_ms: min_t,
        max_time_ms: max_t,
        rows: rows as i64,
        bytes: 0,
        metrics: metrics
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
    }
}

fn build_batch(series: &[TimeSeries]) -> Result<RecordBatch, SinkError> {
    let label_names: BTreeSet<&str> = series
        .iter()
        .flat_map(|s| s.labels.iter().map(|l| l.name.as_str()))
        .filter(|n| *n != METRIC_NAME)
        .collect();
    let rows: usize = series.iter().map(|s| s.samples.len()).sum();
    let repeat = |f: &dyn Fn(&TimeSeries) -> Option<&str>| -> DictionaryArray<Int32Type> {
        series
            .iter()
            .flat_map(|s| std::iter::repeat_n(f(s), s.samples.len()))
            .collect()
    };

    let mut fields = vec![Field::new(COL_NAME, label_type(), false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(repeat(&|s| s.labels.metric_name()))];
    for name in &label_names {
        fields.push(Field::new(*name, label_type(), true));
        columns.push(Arc::new(repeat(&|s| s.labels.get(name))));
    }
    let mut ids = Vec::with_capacity(rows);
    let mut ts = Vec::with_capacity(rows);
    let mut vals = Vec::with_capacity(rows);
    for s in series {
        let id = s.labels.hash();
        for x in &s.samples {
            ids.push(id);
            ts.push(x.timestamp_ms);
            vals.push(x.value);
        }
    }
    fields.push(Field::new(COL_SERIES_ID, DataType::UInt64, false));
    columns.push(Arc::new(UInt64Array::from(ids)));
    fields.push(Field::new(COL_TIMESTAMP, timestamp_type(), false));
    columns.push(Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")));
    fields.push(Field::new(COL_VALUE, DataType::Float64, false));
    columns.push(Arc::new(Float64Array::from(vals)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| SinkError::Internal(format!("building record batch: {e}")))
}

fn writer_properties(meta: &SegmentMeta) -> WriterProperties {
    WriterProperties::builder()
        // LZ4 for every column but the values. Reading a ZSTD column chunk
        // costs `parquet` a fresh ZSTD compressor and decompressor (their
        // set-up was 6 % of a 1 h query's CPU), while the label, series-id
        // and timestamp columns, already dictionary- or delta-encoded, gain
        // little from ZSTD over LZ4 (1.4 % of the bytes; BENCHMARKS.md,
        // "LZ4 for all columns but the values").
        .set_compression(Compression::LZ4_RAW)
        .set_column_compression(
            ColumnPath::from(COL_VALUE),
            Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
        )
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Timestamps ascend within a series: delta encoding stores the
        // (mostly constant) scrape interval instead of full values.
        .set_column_dictionary_enabled(ColumnPath::from(COL_TIMESTAMP), false)
        .set_column_encoding(ColumnPath::from(COL_TIMESTAMP), Encoding::DELTA_BINARY_PACKED)
        // Values are nearly all distinct: a dictionary only adds
        // incompressible indices. Split into byte streams, the sign,
        // exponent and high mantissa bytes of a series form long runs that
        // ZSTD removes (measured in docs/storage.md: 2.69 → 1.71 B/sample).
        .set_column_dictionary_enabled(ColumnPath::from(COL_VALUE), false)
        .set_column_encoding(ColumnPath::from(COL_VALUE), Encoding::BYTE_STREAM_SPLIT)
        // No statistics on values: queries never filter on them, and Parquet
        // min/max leave NaN out, so a chunk holding [v, StaleNaN] claims the
        // constant v, which DataFusion then returned for the staleness
        // marker (tests/it/push.rs caught it).
        .set_column_statistics_enabled(ColumnPath::from(COL_VALUE), EnabledStatistics::None)
        .set_key_value_metadata(Some(meta.to_key_values()))
        .build()
}

fn encode_parquet(batch: &RecordBatch, meta: &SegmentMeta) -> Result<Bytes, SinkError> {
    let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(writer_properties(meta)))
        .map_err(|e| SinkError::Internal(format!("parquet writer: {e}")))?;
    w.write(batch)
        .map_err(|e| SinkError::Internal(format!("parquet write: {e}")))?;
    let buf = w
        .into_inner()
        .map_err(|e| SinkError::Internal(format!("parquet close: {e}")))?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::meta::read_segment_meta;
    use sluice_model::{Labels, Sample};

    #[tokio::test]
    async fn writes_readable_segment_with_footer_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let store = SegmentStore::local(dir.path()).unwrap();
        let series = vec![
            TimeSeries {
                labels: Labels::new([("__name__", "up"), ("job", "a")]),
                samples: vec![Sample::new(1000, 1.0), Sample::new(2000, 0.0)],
            },
            TimeSeries {
                labels: Labels::new([("__name__", "cpu"), ("mode", "idle")]),
                samples: vec![Sample::new(500, 3.5)],
            },
        ];
        let spec = SegmentSpec {
            table: "samples",
            key: SegmentKey {
                partition: 3,
                first_offset: 10,
                last_offset: 12,
            },
        };
        let meta = write_segment(&store, &spec, series).await.unwrap().unwrap();
        assert!(
            meta.location
                .as_ref()
                .ends_with("samples/p00003/00000000000000000010-00000000000000000012.parquet")
        );
        let listed = store.list("samples").await.unwrap();
        let back = read_segment_meta(&store, &listed[0]).await.unwrap();
        assert_eq!(back.rows, 3);
        assert_eq!((back.min_time_ms, back.max_time_ms), (500, 2000));
        assert_eq!(back.metrics["up"], vec!["job".to_string()]);
        assert_eq!(back.metrics["cpu"], vec!["mode".to_string()]);
        assert_eq!((back.first_offset, back.last_offset), (10, 12));
        assert_eq!(back.bytes, meta.bytes);
    }
}
