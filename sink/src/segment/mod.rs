//! Parquet segments: where they live, what is in them, how they are written.
//!
//! Layout: `<root>/<table>/p<partition>/<first>-<last>.parquet`, where
//! `first`/`last` are the Kafka offsets (inclusive, zero-padded) the segment
//! covers. A segment appears under its final key only once it is complete
//! ([`crate::store`]), so the listing is the set of published segments — the
//! listing is the manifest, minus segments superseded by a merge
//! ([`layout`]).
//!
//! Schema (one row per sample, sorted by metric, series, time):
//! - `__name__`: metric name, dictionary-encoded string
//! - one nullable dictionary-encoded string column per label name present in
//!   the segment (null = label absent), named exactly as the label
//! - `__series_id__`: u64 fingerprint of the full label set
//! - `__timestamp__`: timestamp (ms, UTC)
//! - `__value__`: f64 (staleness markers kept as the StaleNaN bit pattern)
//!
//! Label columns differ between segments; readers union them by name
//! (DuckDB: `read_parquet(..., union_by_name = true)`). Footer key/value
//! metadata (`sluice.*`) carries the partition, offsets, time range and the
//! label names per metric, which the query layer uses to prune files.

pub mod catalog;
pub mod layout;
pub mod meta;
pub mod read;
pub mod writer;

/// Metric name column (the `__name__` label).
pub const COL_NAME: &str = "__name__";
/// Series fingerprint column.
pub const COL_SERIES_ID: &str = "__series_id__";
/// Sample timestamp column.
pub const COL_TIMESTAMP: &str = "__timestamp__";
/// Sample value column.
pub const COL_VALUE: &str = "__value__";
/// The raw samples table.
pub const SAMPLES_TABLE: &str = "samples";
