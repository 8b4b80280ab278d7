//! What a segment's footer says about it, for pruning without reading data.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};

use crate::SinkError;

/// Footer key/value metadata keys.
pub(crate) mod keys {
    pub(crate) const PARTITION: &str = "sluice.partition";
    pub(crate) const FIRST_OFFSET: &str = "sluice.first_offset";
    pub(crate) const LAST_OFFSET: &str = "sluice.last_offset";
    pub(crate) const MIN_TIME: &str = "sluice.min_time_ms";
    pub(crate) const MAX_TIME: &str = "sluice.max_time_ms";
    pub(crate) const METRICS: &str = "sluice.metrics";
    pub(crate) const VERSION: &str = "sluice.segment_version";
}

/// Summary of one published segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentMeta {
    /// File path.
    pub path: PathBuf,
    /// Kafka partition the rows came from.
    pub partition: i32,
    /// First Kafka offset covered (inclusive).
    pub first_offset: i64,
    /// Last Kafka offset covered (inclusive).
    pub last_offset: i64,
    /// Earliest sample timestamp (ms).
    pub min_time_ms: i64,
    /// Latest sample timestamp (ms).
    pub max_time_ms: i64,
    /// Rows (samples).
    pub rows: i64,
    /// File size in bytes.
    pub bytes: u64,
    /// Metric name → label names its series carry in this segment.
    pub metrics: BTreeMap<String, Vec<String>>,
}

impl SegmentMeta {
    /// The footer key/value pairs describing this segment.
    pub(crate) fn to_key_values(&self) -> Vec<KeyValue> {
        let kv = |k: &str, v: String| KeyValue::new(k.to_string(), v);
        vec![
            kv(keys::VERSION, "1".into()),
            kv(keys::PARTITION, self.partition.to_string()),
            kv(keys::FIRST_OFFSET, self.first_offset.to_string()),
            kv(keys::LAST_OFFSET, self.last_offset.to_string()),
            kv(keys::MIN_TIME, self.min_time_ms.to_string()),
            kv(keys::MAX_TIME, self.max_time_ms.to_string()),
            kv(
                keys::METRICS,
                serde_json::to_string(&self.metrics).unwrap_or_else(|_| "{}".into()),
            ),
        ]
    }

    /// True if the segment may hold samples in `[start_ms, end_ms]`.
    pub fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.min_time_ms <= end_ms && self.max_time_ms >= start_ms
    }
}

/// Reads a segment's footer (not its data).
pub fn read_segment_meta(path: &Path) -> Result<SegmentMeta, SinkError> {
    let file = File::open(path).map_err(|e| SinkError::io(path, e))?;
    let bytes = file.metadata().map_err(|e| SinkError::io(path, e))?.len();
    let md = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| SinkError::Corrupt(format!("{}: {e}", path.display())))?;
    let fmd = md.file_metadata();
    let kvs: BTreeMap<&str, &str> = fmd
        .key_value_metadata()
        .map(|v| {
            v.iter()
                .filter_map(|kv| kv.value.as_deref().map(|val| (kv.key.as_str(), val)))
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| -> Result<&str, SinkError> {
        kvs.get(k)
            .copied()
            .ok_or_else(|| SinkError::Corrupt(format!("{}: footer lacks {k}", path.display())))
    };
    let num = |k: &str| -> Result<i64, SinkError> {
        get(k)?
            .parse()
            .map_err(|_| SinkError::Corrupt(format!("{}: footer {k} is not a number", path.display())))
    };
    let metrics = serde_json::from_str(get(keys::METRICS)?)
        .map_err(|e| SinkError::Corrupt(format!("{}: footer {}: {e}", path.display(), keys::METRICS)))?;
    Ok(SegmentMeta {
        path: path.to_path_buf(),
        partition: num(keys::PARTITION)? as i32,
        first_offset: num(keys::FIRST_OFFSET)?,
        last_offset: num(keys::LAST_OFFSET)?,
        min_time_ms: num(keys::MIN_TIME)?,
        max_time_ms: num(keys::MAX_TIME)?,
        rows: fmd.num_rows(),
        bytes,
        metrics,
    })
}
