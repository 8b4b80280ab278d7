//! Scanned rows grouped into series.
//!
//! Within one segment the rows are sorted by series, then time, so each
//! record batch holds every series it touches as runs of consecutive rows.
//! A series is assembled from its runs: when they do not overlap in time
//! (segments of different time ranges, the usual case) they are
//! concatenated in time order into a buffer of the exact size; otherwise
//! (overlapping segments, say a backfill beside live data) they are merged
//! with the first sample per timestamp kept, in batch order. The merge was
//! the only path once: its re-sorting and buffer growth were a tenth of a
//! 7-day query's CPU.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, TimestampMillisecondType, UInt64Type};
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries};

/// A string cell of a dictionary or plain string column.
fn string_at(a: &dyn Array, row: usize) -> Option<String> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Dictionary(_, _) => {
            let d = a.as_dictionary_opt::<Int32Type>()?;
            let key = d.keys().value(row) as usize;
            string_at(d.values().as_ref(), key)
        }
        DataType::Utf8 => Some(a.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Some(a.as_string_view().value(row).to_string()),
        _ => None,
    }
}

/// One series' rows `start..end` of batch `batch`.
#[derive(Debug, Clone, Copy)]
struct Run {
    batch: usize,
    start: usize,
    end: usize,
}

/// The timestamp and value columns of one batch.
type Columns<'a> = (&'a [i64], &'a [f64]);

/// The labels of the series starting at `row`: the metric name, then every
/// non-empty label column.
fn labels_at(name: &dyn Array, label_cols: &[String], labels: &[&Arc<dyn Array>], row: usize) -> Labels {
    let mut ls: Vec<(String, String)> = Vec::with_capacity(label_cols.len() + 1);
    if let Some(v) = string_at(name, row) {
        ls.push((METRIC_NAME.to_string(), v));
    }
    for (c, a) in label_cols.iter().zip(labels) {
        if let Some(v) = string_at(a.as_ref(), row).filter(|v| !v.is_empty()) {
            ls.push((c.clone(), v));
        }
    }
    Labels::new(ls)
}

/// Groups scanned rows into series (first sample per timestamp wins).
/// Columns: `__name__`, the label columns, series id, timestamp, value.
pub(crate) fn rows_to_series(
    batches: &[RecordBatch],
    label_cols: &[String],
) -> Result<Vec<TimeSeries>, String> {
    Ok(rows_to_identified_series(batches, label_cols)?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// [`rows_to_series`] with each series' id.
pub(crate) fn rows_to_identified_series(
    batches: &[RecordBatch],
    label_cols: &[String],
) -> Result<Vec<(u64, TimeSeries)>, String> {
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut series: Vec<(u64, Labels, Vec<Run>)> = Vec::new();
    let mut columns: Vec<Columns<'_>> = Vec::with_capacity(batches.len());
    for (bi, b) in batches.iter().enumerate() {
        let n = b.num_rows();
        let name = b.column(0);
        let labels: Vec<&Arc<dyn Array>> = (0..label_cols.len()).map(|i| b.column(1 + i)).collect();
        let k = 1 + label_cols.len();
        let ids = b
            .column(k)
            .as_primitive_opt::<UInt64Type>()
            .ok_or("series id column has an unexpected type")?;
        let ts = b
            .column(k + 1)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or("timestamp column has an unexpected type")?;
        let vals = b
            .column(k + 2)
            .as_primitive_opt::<Float64Type>()
            .ok_or("value column has an unexpected type")?;
        columns.push((ts.values(), vals.values()));
        let id_vals = ids.values();
        // One hash lookup per run of a series id, not per row.
        let mut row = 0;
        while row < n {
            let id = id_vals[row];
            let end = row + id_vals[row..].iter().take_while(|&&x| x == id).count();
            let slot = *index.entry(id).or_insert_with(|| {
                series.push((id, labels_at(name.as_ref(), label_cols, &labels, row), Vec::new()));
                series.len() - 1
            });
            series[slot].2.push(Run {
                batch: bi,
                start: row,
                end,
            });
            row = end;
        }
    }
    Ok(series
        .into_iter()
        .map(|(id, labels, runs)| {
            let series = TimeSeries {
                labels,
                samples: assemble(&columns, &runs),
            };
            (id, series)
        })
        .collect())
}

/// Series read in parts (from several reads of different segments) joined
/// by series id: parts in time order are concatenated; overlapping parts
/// are merged with the first part's sample kept for a timestamp both hold.
pub(crate) fn join_parts(parts: Vec<(u64, TimeSeries)>) -> Vec<TimeSeries> {
    let mut index: HashMap<u64, usize> = HashMap::with_capacity(parts.len());
    let mut joined: Vec<Vec<TimeSeries>> = Vec::with_capacity(parts.len());
    for (id, part) in parts {
        match index.get(&id) {
            Some(&i) => joined[i].push(part),
            None => {
                index.insert(id, joined.len());
                joined.push(vec![part]);
            }
        }
    }
    joined.into_iter().map(join_series).collect()
}

/// One series from its parts (each in time order, one sample per
/// timestamp).
fn join_series(mut parts: Vec<TimeSeries>) -> TimeSeries {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let first_ts = |s: &TimeSeries| s.samples.first().map_or(i64::MIN, |x| x.timestamp_ms);
    let last_ts = |s: &TimeSeries| s.samples.last().map_or(i64::MIN, |x| x.timestamp_ms);
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| first_ts(&parts[i]));
    let disjoint = order
        .windows(2)
        .all(|w| last_ts(&parts[w[0]]) < first_ts(&parts[w[1]]));
    let total = parts.iter().map(|p| p.samples.len()).sum();
    let mut samples = Vec::with_capacity(total);
    if disjoint {
        for &i in &order {
            samples.extend_from_slice(&parts[i].samples);
        }
    } else {
        // Part order decides which of two equal timestamps stays (the sort
        // is stable).
        for p in &parts {
            samples.extend_from_slice(&p.samples);
        }
        samples.sort_by_key(|s: &Sample| s.timestamp_ms);
        samples.dedup_by_key(|s| s.timestamp_ms);
    }
    let labels = std::mem::take(&mut parts[0].labels);
    TimeSeries { labels, samples }
}

/// One series' samples from its runs, in time order, one per timestamp.
fn assemble(columns: &[Columns<'_>], runs: &[Run]) -> Vec<Sample> {
    let ts = |r: &Run| &columns[r.batch].0[r.start..r.end];
    let total = runs.iter().map(|r| r.end - r.start).sum();
    let mut out = Vec::with_capacity(total);
    let push = |out: &mut Vec<Sample>, r: &Run| {
        let (t, v) = columns[r.batch];
        out.extend(
            t[r.start..r.end]
                .iter()
                .zip(&v[r.start..r.end])
                .map(|(&t, &v)| Sample::new(t, v)),
        );
    };
    let mut order: Vec<&Run> = runs.iter().collect();
    order.sort_by_key(|r| ts(r)[0]);
    let increasing = order.iter().all(|r| ts(r).windows(2).all(|w| w[0] < w[1]));
    let disjoint = order
        .windows(2)
        .all(|w| ts(w[0])[ts(w[0]).len() - 1] < ts(w[1])[0]);
    if increasing && disjoint {
        for r in order {
            push(&mut out, r);
        }
    } else {
        // Batch order decides which of two equal timestamps stays.
        for r in runs {
            push(&mut out, r);
        }
        out.sort_by_key(|s| s.timestamp_ms);
        out.dedup_by_key(|s| s.timestamp_ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray, TimestampMillisecondArray, UInt64Array};
    use arrow::datatypes::{Field, Schema};

    /// A batch of rows `(series id, job, timestamp, value)` of metric `m`.
    fn batch(rows: &[(u64, &str, i64, f64)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("__name__", DataType::Utf8, false),
            Field::new("job", DataType::Utf8, true),
            Field::new("__series_id__", DataType::UInt64, false),
            Field::new(
                "__timestamp__",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("__value__", DataType::Float64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec!["m"; rows.len()])),
                Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                Arc::new(UInt64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            ],
        )
        .unwrap()
    }

    fn samples(s: &TimeSeries) -> Vec<(i64, f64)> {
        s.samples.iter().map(|x| (x.timestamp_ms, x.value)).collect()
    }

    #[test]
    fn runs_from_batches_in_any_order_come_out_in_time_order() {
        // Two segments' batches, the later one first (two partitions of a
        // scan interleave), and two series.
        let later = batch(&[(1, "a", 300, 3.0), (1, "a", 400, 4.0), (2, "b", 300, 30.0)]);
        let earlier = batch(&[(1, "a", 100, 1.0), (1, "a", 200, 2.0), (2, "b", 100, 10.0)]);
        let got = rows_to_series(&[later, earlier], &["job".to_string()]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels.get("job"), Some("a"));
        assert_eq!(
            samples(&got[0]),
            vec![(100, 1.0), (200, 2.0), (300, 3.0), (400, 4.0)]
        );
        assert_eq!(samples(&got[1]), vec![(100, 10.0), (300, 30.0)]);
    }

    fn part(id: u64, pts: &[(i64, f64)]) -> (u64, TimeSeries) {
        let samples = pts.iter().map(|&(t, v)| Sample::new(t, v)).collect();
        let labels = Labels::new([("__name__", "m"), ("id", id.to_string().as_str())]);
        (id, TimeSeries { labels, samples })
    }

    #[test]
    fn parts_of_a_series_join_in_time_order_and_the_first_part_wins_overlaps() {
        let got = join_parts(vec![
            part(1, &[(300, 3.0), (400, 4.0)]),
            part(2, &[(100, 10.0)]),
            part(1, &[(100, 1.0), (200, 2.0)]),
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels.get("id"), Some("1"));
        assert_eq!(
            samples(&got[0]),
            vec![(100, 1.0), (200, 2.0), (300, 3.0), (400, 4.0)]
        );
        assert_eq!(samples(&got[1]), vec![(100, 10.0)]);
        let got = join_parts(vec![
            part(1, &[(100, 1.0), (300, 3.0)]),
            part(1, &[(200, 2.0), (300, 99.0)]),
        ]);
        assert_eq!(samples(&got[0]), vec![(100, 1.0), (200, 2.0), (300, 3.0)]);
    }

    #[test]
    fn overlapping_runs_merge_and_the_first_batch_wins_a_timestamp() {
        let first = batch(&[(1, "a", 100, 1.0), (1, "a", 300, 3.0)]);
        let second = batch(&[(1, "a", 200, 2.0), (1, "a", 300, 99.0)]);
        let got = rows_to_series(&[first, second], &["job".to_string()]).unwrap();
        assert_eq!(samples(&got[0]), vec![(100, 1.0), (200, 2.0), (300, 3.0)]);
        // The other way round, the other value of 300 stays.
        let first = batch(&[(1, "a", 200, 2.0), (1, "a", 300, 99.0)]);
        let second = batch(&[(1, "a", 100, 1.0), (1, "a", 300, 3.0)]);
        let got = rows_to_series(&[first, second], &["job".to_string()]).unwrap();
        assert_eq!(samples(&got[0]), vec![(100, 1.0), (200, 2.0), (300, 99.0)]);
    }
}
