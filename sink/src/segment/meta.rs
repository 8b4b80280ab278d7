//! What a segment's footer says about it, for pruning without reading data.

use std::collections::BTreeMap;

use object_store::path::Path as ObjPath;
use parquet::file::metadata::{FooterTail, KeyValue, ParquetMetaData, ParquetMetaDataReader};

use crate::SinkError;
use crate::segment::layout::SegmentKey;
use crate::store::{SegmentStore, StoredSegment};

/// Footer bytes fetched in the first request: most segment footers fit, so
/// one ranged GET reads the whole catalog entry.
const FOOTER_PREFETCH: u64 = 64 * 1024;

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
    /// Object key.
    pub location: ObjPath,
    /// When it was published (ms since the epoch).
    pub modified_ms: i64,
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

    /// Partition and offsets.
    pub fn key(&self) -> SegmentKey {
        SegmentKey {
            partition: self.partition,
            first_offset: self.first_offset,
            last_offset: self.last_offset,
        }
    }

    /// True if the segment may hold samples in `[start_ms, end_ms]`.
    pub fn overlaps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.min_time_ms <= end_ms && self.max_time_ms >= start_ms
    }
}

/// Reads a segment's footer (not its data): one ranged read, two for a
/// footer larger than [`FOOTER_PREFETCH`].
pub async fn read_segment_meta(store: &SegmentStore, seg: &StoredSegment) -> Result<SegmentMeta, SinkError> {
    let loc = &seg.location;
    let corrupt = |msg: String| SinkError::Corrupt(format!("{loc}: {msg}"));
    if seg.size < 12 {
        return Err(corrupt("too short for Parquet".into()));
    }
    let start = seg.size.saturating_sub(FOOTER_PREFETCH);
    let mut tail = store.get_range(loc, start..seg.size).await?;
    let footer: [u8; 8] = tail[tail.len() - 8..]
        .try_into()
        .map_err(|_| corrupt("short read".into()))?;
    let len = FooterTail::try_new(&footer)
        .map_err(|e| corrupt(e.to_string()))?
        .metadata_length() as u64;
    if len + 8 > seg.size {
        return Err(corrupt("footer longer than the file".into()));
    }
    if len + 8 > tail.len() as u64 {
        tail = store.get_range(loc, seg.size - 8 - len..seg.size).await?;
    }
    let md_bytes = &tail[tail.len() - 8 - len as usize..tail.len() - 8];
    let md = ParquetMetaDataReader::decode_metadata(md_bytes).map_err(|e| corrupt(e.to_string()))?;
    meta_from_footer(seg, &md)
}

fn meta_from_footer(seg: &StoredSegment, md: &ParquetMetaData) -> Result<SegmentMeta, SinkError> {
    let loc = &seg.location;
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
            .ok_or_else(|| SinkError::Corrupt(format!("{loc}: footer lacks {k}")))
    };
    let num = |k: &str| -> Result<i64, SinkError> {
        get(k)?
            .parse()
            .map_err(|_| SinkError::Corrupt(format!("{loc}: footer {k} is not a number")))
    };
    let metrics = serde_json::from_str(get(keys::METRICS)?)
        .map_err(|e| SinkError::Corrupt(format!("{loc}: footer {}: {e}", keys::METRICS)))?;
    Ok(SegmentMeta {
        location: loc.clone(),
        modified_ms: seg.modified_ms,
        partition: num(keys::PARTITION)? as i32,
        first_offset: num(keys::FIRST_OFFSET)?,
        last_offset: num(keys::LAST_OFFSET)?,
        min_time_ms: num(keys::MIN_TIME)?,
        max_time_ms: num(keys::MAX_TIME)?,
        rows: fmd.num_rows(),
        bytes: seg.size,
        metrics,
    })
}
