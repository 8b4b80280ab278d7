//! Each series' newest stored timestamp, per partition: what keeps a second
//! copy of a sample out of a second segment.
//!
//! Second copies reach the topic when a writer retries a write whose first
//! copy Kafka took after all: a remote_write sender that timed out before
//! Sluice answered, a partly failed write, a stream stage replaying from its
//! checkpoint. Kafka's idempotent producer cannot see those (they are new
//! records), and within one flush the sink already keeps one sample per
//! timestamp; across flushes this map does. A sample is stored only when it
//! is newer than the newest sample of its series already in a segment,
//! which is Prometheus' own rule (its head refuses a sample at or before a
//! series' last one unless `out_of_order_time_window` is set; 2.42's default
//! is off). Samples out of order within one flush interval are still sorted
//! and kept, as before. A series always maps to the same partition, so the
//! map is per partition and needs no coordination between sink shards.
//!
//! Memory: one entry per series heard from within [`FORGET_AFTER`]; a copy
//! arriving later than that would be stored again (queries and compaction
//! keep the first sample per timestamp anyway). On start the map is seeded
//! from each partition's newest segment, so the copies a restart is likely
//! to meet (of what was flushed just before it) are still recognised.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{TimestampMillisecondType, UInt64Type};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_model::TimeSeries;

use crate::SinkError;
use crate::segment::{COL_SERIES_ID, COL_TIMESTAMP};

/// A series not heard from for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// How often forgotten series are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Newest stored timestamp per series id, for one partition.
#[derive(Debug)]
pub struct Watermarks {
    newest: HashMap<u64, Entry>,
    start: Instant,
    last_sweep: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    timestamp_ms: i64,
    /// Seconds after `start` the series was last stored.
    touched: u32,
}

impl Default for Watermarks {
    fn default() -> Self {
        let now = Instant::now();
        Watermarks {
            newest: HashMap::new(),
            start: now,
            last_sweep: now,
        }
    }
}

impl Watermarks {
    /// Drops every sample not newer than its series' watermark and moves
    /// the watermarks up; returns the number dropped. Samples must ascend
    /// within each series (the sink sorts them first).
    pub fn retain_newer(&mut self, series: &mut Vec<TimeSeries>) -> usize {
        let now = self.start.elapsed().as_secs() as u32;
        let mut dropped = 0;
        for s in series.iter_mut() {
            let id = s.labels.hash();
            if let Some(e) = self.newest.get(&id) {
                let before = s.samples.len();
                s.samples.retain(|x| x.timestamp_ms > e.timestamp_ms);
                dropped += before - s.samples.len();
            }
            if let Some(last) = s.samples.last() {
                self.newest.insert(
                    id,
                    Entry {
                        timestamp_ms: last.timestamp_ms,
                        touched: now,
                    },
                );
            }
        }
        series.retain(|s| !s.samples.is_empty());
        self.sweep();
        dropped
    }

    /// Raises watermarks to the samples of a stored segment (seeding).
    pub fn absorb_segment(&mut self, data: Bytes) -> Result<(), SinkError> {
        let corrupt =
            |e: &dyn std::fmt::Display| SinkError::Corrupt(format!("reading a segment's series ids: {e}"));
        let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| corrupt(&e))?;
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = schema
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name() == COL_SERIES_ID || c.name() == COL_TIMESTAMP)
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        let reader = builder.with_projection(mask).build().map_err(|e| corrupt(&e))?;
        let now = self.start.elapsed().as_secs() as u32;
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(&e))?;
            let ids = batch
                .column_by_name(COL_SERIES_ID)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>());
            let ts = batch
                .column_by_name(COL_TIMESTAMP)
                .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>());
            let (Some(ids), Some(ts)) = (ids, ts) else {
                return Err(corrupt(&"missing or mistyped id/timestamp columns"));
            };
            for (id, t) in ids.values().iter().zip(ts.values().iter()) {
                let e = self.newest.entry(*id).or_insert(Entry {
                    timestamp_ms: *t,
                    touched: now,
                });
                e.timestamp_ms = e.timestamp_ms.max(*t);
            }
        }
        Ok(())
    }

    /// Series tracked.
    pub fn len(&self) -> usize {
        self.newest.len()
    }

    /// True when no series is tracked.
    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }

    fn sweep(&mut self) {
        if self.last_sweep.elapsed() < SWEEP_EVERY {
            return;
        }
        self.last_sweep = Instant::now();
        let now = self.start.elapsed().as_secs() as u32;
        let forget = FORGET_AFTER.as_secs() as u32;
        self.newest.retain(|_, e| now.saturating_sub(e.touched) < forget);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::layout::SegmentKey;
    use crate::segment::writer::encode_segment;
    use sluice_model::{Labels, Sample};

    fn series(name: &str, ts: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([("__name__", name)]),
            samples: ts.iter().map(|&t| Sample::new(t, t as f64)).collect(),
        }
    }

    fn timestamps(v: &[TimeSeries]) -> Vec<(String, Vec<i64>)> {
        v.iter()
            .map(|s| {
                (
                    s.labels.get("__name__").unwrap_or_default().to_string(),
                    s.samples.iter().map(|x| x.timestamp_ms).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_retried_batch_is_dropped_and_newer_samples_kept() {
        let mut w = Watermarks::default();
        let mut first = vec![series("a", &[10, 20]), series("b", &[15])];
        assert_eq!(w.retain_newer(&mut first), 0);
        assert_eq!(first.len(), 2);
        // The same batch again, then a newer sample for `a` in the same
        // flush: only the newer one is stored.
        let mut again = vec![series("a", &[10, 20, 30]), series("b", &[15])];
        assert_eq!(w.retain_newer(&mut again), 3);
        assert_eq!(timestamps(&again), [("a".to_string(), vec![30])]);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn seeded_from_a_stored_segment() {
        let key = SegmentKey {
            partition: 0,
            first_offset: 0,
            last_offset: 1,
        };
        let loc = object_store::path::Path::from("t/p00000/x.parquet");
        let (data, _) = encode_segment(key, loc, vec![series("a", &[10, 20]), series("b", &[5])])
            .unwrap()
            .unwrap();
        let mut w = Watermarks::default();
        w.absorb_segment(data).unwrap();
        let mut replayed = vec![series("a", &[20, 21]), series("b", &[5]), series("c", &[1])];
        assert_eq!(w.retain_newer(&mut replayed), 2);
        assert_eq!(
            timestamps(&replayed),
            [("a".to_string(), vec![21]), ("c".to_string(), vec![1])]
        );
    }
}
