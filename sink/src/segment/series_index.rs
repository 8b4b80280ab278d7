//! A per-series row index in the segment's footer, so that a read of a
//! short time range decodes only the rows near that range in each series
//! instead of every row of the series (a 1 h dashboard query over an 18 h
//! segment otherwise decodes 18 h of each matching series).
//!
//! Rows are sorted by series, then time, so each series is one run of
//! rows. Per run the index keeps its length, its first and last timestamp,
//! and a `slack`: how far (in rows) any sample lies from where linear
//! interpolation between the first and last timestamp puts it. Scrapes are
//! regular, so the slack is usually 0 or 1; a gap or a changed interval
//! only widens it (in the worst case to the whole run), never makes the
//! index wrong. A reader turns a time range into, per run, the rows
//! `[predicted(start) - slack, predicted(end) + slack]`: a superset of the
//! rows inside the range, which the reader's filter then narrows exactly
//! (see [`SeriesIndex::selection`]).
//!
//! Encoding (footer key `sluice.series_index`, base64 because footer
//! values are strings): a version byte, the run count, then per run in
//! row order the unsigned LEB128 varints of its length, the zigzag deltas
//! of its first timestamp and of its time span from the previous run's,
//! and its slack. Series of one segment mostly share start and span, so a
//! run costs about 5 bytes (7 in base64): ~0.6 % of a segment whose series
//! hold 1 000 samples each. Segments whose series hold few rows each (the
//! sink's small live segments) get no index: there is little to skip.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use sluice_model::TimeSeries;

/// The index's format version (the first byte).
const VERSION: u8 = 1;

/// Segments whose series average fewer rows than this get no index.
const MIN_ROWS_PER_SERIES: usize = 16;

/// A selection keeping more than this share of a segment's rows is not
/// worth the reader's bookkeeping: the whole segment is read instead.
const MAX_SELECTED_SHARE: f64 = 0.8;

/// One series' run of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesRun {
    /// Rows (samples) in the run.
    pub rows: u64,
    /// Timestamp of the first row (ms).
    pub first_ms: i64,
    /// Timestamp of the last row (ms).
    pub last_ms: i64,
    /// The largest distance, in rows, between a row and the place linear
    /// interpolation of its timestamp predicts for it.
    pub slack: u64,
}

impl SeriesRun {
    /// The run's row index that interpolation predicts for time `t`
    /// (unclamped; fractional).
    fn predicted_row(&self, t: i64) -> f64 {
        if self.rows <= 1 || self.last_ms == self.first_ms {
            return 0.0;
        }
        (t - self.first_ms) as f64 * (self.rows - 1) as f64 / (self.last_ms - self.first_ms) as f64
    }

    /// The run's rows `[lo, hi)` (relative to the run) that may hold samples
    /// in `[start_ms, end_ms]`; empty when none can.
    fn rows_within(&self, start_ms: i64, end_ms: i64) -> (u64, u64) {
        if self.rows == 0 || end_ms < self.first_ms || start_ms > self.last_ms {
            return (0, 0);
        }
        let last = self.rows - 1;
        // One row more on each side than the slack: float rounding.
        let margin = self.slack as f64 + 1.0;
        let lo = if start_ms <= self.first_ms {
            0
        } else {
            (self.predicted_row(start_ms).floor() - margin).clamp(0.0, last as f64) as u64
        };
        let hi = if end_ms >= self.last_ms {
            last
        } else {
            (self.predicted_row(end_ms).ceil() + margin).clamp(0.0, last as f64) as u64
        };
        (lo, hi.max(lo) + 1)
    }
}

/// A segment's encoded index (shared: the catalog keeps it per segment).
#[derive(Clone, PartialEq, Eq)]
pub struct SeriesIndex(Arc<[u8]>);

impl std::fmt::Debug for SeriesIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeriesIndex({} bytes)", self.0.len())
    }
}

impl SeriesIndex {
    /// The index of `series` written in this order (each series' samples
    /// ascending by time), or `None` when the series are too short for an
    /// index to pay.
    pub fn build(series: &[TimeSeries]) -> Option<SeriesIndex> {
        let rows: usize = series.iter().map(|s| s.samples.len()).sum();
        if series.is_empty() || rows < MIN_ROWS_PER_SERIES * series.len() {
            return None;
        }
        let mut out = vec![VERSION];
        put_varint(&mut out, series.len() as u64);
        let (mut prev_first, mut prev_span) = (0i64, 0i64);
        for s in series {
            let run = run_of(s);
            let span = run.last_ms - run.first_ms;
            put_varint(&mut out, run.rows);
            put_varint(&mut out, zigzag(run.first_ms.wrapping_sub(prev_first)));
            put_varint(&mut out, zigzag(span.wrapping_sub(prev_span)));
            put_varint(&mut out, run.slack);
            (prev_first, prev_span) = (run.first_ms, span);
        }
        Some(SeriesIndex(out.into()))
    }

    /// The footer text of the index.
    pub fn to_footer(&self) -> String {
        BASE64.encode(&self.0)
    }

    /// The index from its footer text; `None` if it is not one this
    /// version reads (a reader then reads whole segments, as without it).
    pub fn from_footer(text: &str) -> Option<SeriesIndex> {
        let bytes = BASE64.decode(text).ok()?;
        let index = SeriesIndex(bytes.into());
        // Validate once here, so a selection never meets a malformed index.
        index.runs()?;
        Some(index)
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an index of no series (never built: see [`Self::build`]).
    pub fn is_empty(&self) -> bool {
        self.runs().is_none_or(|r| r.is_empty())
    }

    /// The runs in row order; `None` if the bytes are malformed.
    pub fn runs(&self) -> Option<Vec<SeriesRun>> {
        let mut r = Reader(&self.0);
        if r.byte()? != VERSION {
            return None;
        }
        let n = usize::try_from(r.varint()?).ok()?;
        let mut runs = Vec::with_capacity(n.min(self.0.len()));
        let (mut first, mut span) = (0i64, 0i64);
        for _ in 0..n {
            let rows = r.varint()?;
            first = first.wrapping_add(unzigzag(r.varint()?));
            span = span.wrapping_add(unzigzag(r.varint()?));
            let slack = r.varint()?;
            runs.push(SeriesRun {
                rows,
                first_ms: first,
                last_ms: first.wrapping_add(span),
                slack,
            });
        }
        r.0.is_empty().then_some(runs)
    }

    /// The rows of a segment of `total_rows` rows that may hold samples in
    /// `[start_ms, end_ms]`, as a row selection over the whole file; `None`
    /// when it would keep most rows anyway, or when the index does not
    /// describe `total_rows` rows (then the whole segment is read).
    pub fn selection(&self, total_rows: u64, start_ms: i64, end_ms: i64) -> Option<RowSelection> {
        let runs = self.runs()?;
        if runs.iter().map(|r| r.rows).sum::<u64>() != total_rows {
            return None;
        }
        let mut selectors: Vec<RowSelector> = Vec::new();
        let mut selected = 0u64;
        let mut push = |skip: bool, n: u64| {
            if n == 0 {
                return;
            }
            let n = n as usize;
            match selectors.last_mut() {
                Some(last) if last.skip == skip => last.row_count += n,
                _ => selectors.push(if skip {
                    RowSelector::skip(n)
                } else {
                    RowSelector::select(n)
                }),
            }
        };
        for run in &runs {
            let (lo, hi) = run.rows_within(start_ms, end_ms);
            push(true, lo);
            push(false, hi - lo);
            push(true, run.rows - hi);
            selected += hi - lo;
        }
        (total_rows > 0 && (selected as f64) <= MAX_SELECTED_SHARE * total_rows as f64)
            .then(|| RowSelection::from(selectors))
    }
}

/// A series' run: its length, time span and slack.
fn run_of(s: &TimeSeries) -> SeriesRun {
    let (first_ms, last_ms) = match (s.samples.first(), s.samples.last()) {
        (Some(f), Some(l)) => (f.timestamp_ms, l.timestamp_ms),
        _ => (0, 0),
    };
    let mut run = SeriesRun {
        rows: s.samples.len() as u64,
        first_ms,
        last_ms,
        slack: 0,
    };
    let worst = s
        .samples
        .iter()
        .enumerate()
        .map(|(k, p)| (k as f64 - run.predicted_row(p.timestamp_ms)).abs())
        .fold(0.0f64, f64::max);
    run.slack = worst.ceil() as u64;
    run
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::{Labels, Sample};

    fn series(ts: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([("__name__", "x")]),
            samples: ts.iter().map(|&t| Sample::new(t, 1.0)).collect(),
        }
    }

    fn regular(start: i64, step: i64, n: i64) -> Vec<i64> {
        (0..n).map(|i| start + i * step).collect()
    }

    /// The rows a selection keeps, as indexes.
    fn kept(sel: &RowSelection) -> Vec<usize> {
        let mut out = Vec::new();
        let mut row = 0;
        for s in sel.iter() {
            if !s.skip {
                out.extend(row..row + s.row_count);
            }
            row += s.row_count;
        }
        out
    }

    /// Every row whose timestamp is in the range is kept, for regular,
    /// jittered, gapped and single-sample series, over ranges at and
    /// between sample times, inside, before, after and across runs.
    #[test]
    fn a_selection_keeps_every_row_in_the_range() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut all = Vec::new();
        all.push(series(&regular(0, 60_000, 1080)));
        all.push(series(&regular(30_000, 15_000, 400)));
        let jittered: Vec<i64> = (0..500).map(|i| i * 60_000 + next(900) as i64).collect();
        all.push(series(&jittered));
        let mut gapped = regular(0, 60_000, 300);
        gapped.extend(regular(40_000_000, 10_000, 300));
        all.push(series(&gapped));
        all.push(series(&[5_000_000]));
        all.push(series(&regular(-120_000, 1, 50)));
        let index = SeriesIndex::build(&all).expect("long series get an index");
        let back = SeriesIndex::from_footer(&index.to_footer()).expect("round trip");
        assert_eq!(back, index);
        let flat: Vec<i64> = all
            .iter()
            .flat_map(|s| s.samples.iter().map(|p| p.timestamp_ms))
            .collect();
        let total = flat.len() as u64;
        let mut checked = 0;
        for _ in 0..2000 {
            let start = next(70_000_000) as i64 - 200_000;
            let end = start + next(7_200_000) as i64;
            let Some(sel) = index.selection(total, start, end) else {
                continue;
            };
            let kept = kept(&sel);
            assert_eq!(sel.row_count() + sel.skipped_row_count(), total as usize);
            for (row, t) in flat.iter().enumerate() {
                if (start..=end).contains(t) {
                    assert!(
                        kept.binary_search(&row).is_ok(),
                        "row {row} at {t} in [{start}, {end}] skipped"
                    );
                }
            }
            checked += 1;
        }
        assert!(checked > 1000, "{checked} ranges narrow enough to select");
    }

    /// On regular series a 1 h range of an 18 h run keeps about an hour of
    /// rows: the slack is 0 and the margin one row each side.
    #[test]
    fn a_short_range_of_regular_series_keeps_little_more_than_the_range() {
        let all: Vec<TimeSeries> = (0..10).map(|_| series(&regular(0, 60_000, 1080))).collect();
        let index = SeriesIndex::build(&all).unwrap();
        assert!(index.runs().unwrap().iter().all(|r| r.slack == 0));
        let end = 1079 * 60_000 - 7_000;
        let sel = index.selection(10_800, end - 3_900_000, end).unwrap();
        // 65 minutes of samples per series, plus the margins.
        assert!((650..=700).contains(&sel.row_count()), "{}", sel.row_count());
        assert!(index.len() < 10 * 8, "{} bytes", index.len());
        // A range covering most of the data is not worth selecting.
        assert!(index.selection(10_800, 0, end).is_none());
        // Nor is an index of other rows.
        assert!(index.selection(10_801, end - 3_600_000, end).is_none());
    }

    #[test]
    fn short_series_and_malformed_footers_have_no_index() {
        assert!(SeriesIndex::build(&[series(&regular(0, 1, 15))]).is_none());
        assert!(SeriesIndex::build(&[]).is_none());
        assert!(SeriesIndex::from_footer("not base64!").is_none());
        let index = SeriesIndex::build(&[series(&regular(0, 1, 20))]).unwrap();
        let mut bytes = BASE64.decode(index.to_footer()).unwrap();
        bytes.pop();
        assert!(SeriesIndex::from_footer(&BASE64.encode(&bytes)).is_none());
        bytes[0] = 9;
        assert!(SeriesIndex::from_footer(&BASE64.encode(&bytes)).is_none());
    }
}
