//! A record value read once, for stages that look series up by fingerprint.
//!
//! A consumer must check a whole record before a stage sees any of it (a
//! poison record is skipped whole), and checking means reading every label
//! and sample. [`IndexedRecord::read`] keeps what that read found — each
//! series' fingerprint and samples, and where its bytes are — so the stage
//! does not read the record a second time; labels are only rebuilt, from
//! the kept bytes, for series the stage has not seen before.

use std::ops::Range;

use super::DecodeError;
use super::view::{labels_of, walk};
use crate::{Labels, Sample};

/// A checked record value with its series indexed.
#[derive(Debug, Default)]
pub struct IndexedRecord {
    value: Vec<u8>,
    series: Vec<Entry>,
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct Entry {
    hash: u64,
    /// The series' `TimeSeries` message within `value`.
    bytes: Range<usize>,
    /// Its samples within `samples`.
    samples: Range<usize>,
}

/// One series of an [`IndexedRecord`].
#[derive(Debug, Clone, Copy)]
pub struct IndexedSeries<'a> {
    /// The fingerprint, equal to [`Labels::hash`] of its labels.
    pub hash: u64,
    /// Samples in record order.
    pub samples: &'a [Sample],
    bytes: &'a [u8],
}

impl IndexedSeries<'_> {
    /// The labels as an owned set, read again from the record's bytes.
    pub fn to_labels(&self) -> Labels {
        // The bytes read without error when the record was indexed.
        labels_of(self.bytes).expect("series bytes were checked when the record was indexed")
    }
}

impl IndexedRecord {
    /// Checks `value` as [`super::view::for_each_series`] does (same
    /// errors as the owned decoder) and indexes its series.
    pub fn read(value: &[u8]) -> Result<Self, DecodeError> {
        let mut series = Vec::new();
        let mut samples = Vec::new();
        let base = value.as_ptr() as usize;
        walk(value, |bytes, s| {
            let at = bytes.as_ptr() as usize - base;
            let first = samples.len();
            samples.extend_from_slice(s.samples);
            series.push(Entry {
                hash: s.hash(),
                bytes: at..at + bytes.len(),
                samples: first..samples.len(),
            });
        })?;
        Ok(IndexedRecord {
            value: value.to_vec(),
            series,
            samples,
        })
    }

    /// The series in record order.
    pub fn series(&self) -> impl Iterator<Item = IndexedSeries<'_>> {
        self.series.iter().map(|e| IndexedSeries {
            hash: e.hash,
            samples: &self.samples[e.samples.clone()],
            bytes: &self.value[e.bytes.clone()],
        })
    }

    /// Number of samples in the record.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeSeries;
    use crate::bus::{decode, encode};

    #[test]
    fn indexes_what_the_owned_decoder_reads() {
        let series = vec![
            TimeSeries {
                labels: Labels::new([("__name__", "a"), ("job", "x")]),
                samples: vec![Sample::new(1, 1.0), Sample::new(2, 2.0)],
            },
            TimeSeries {
                labels: Labels::new([("__name__", "b")]),
                samples: vec![],
            },
            TimeSeries {
                labels: Labels::new([("__name__", "c"), ("z", "ü")]),
                samples: vec![Sample::new(-3, f64::INFINITY)],
            },
        ];
        let value = encode(&series);
        let rec = IndexedRecord::read(&value).unwrap();
        let owned = decode(None, &value).unwrap();
        let got: Vec<_> = rec.series().collect();
        assert_eq!(got.len(), owned.len());
        for (g, o) in got.iter().zip(&owned) {
            assert_eq!(g.hash, o.labels.hash());
            assert_eq!(g.to_labels(), o.labels);
            assert_eq!(g.samples, o.samples.as_slice());
        }
        assert_eq!(rec.sample_count(), 3);
    }

    #[test]
    fn refuses_what_the_owned_decoder_refuses() {
        let value = encode(&[TimeSeries {
            labels: Labels::new([("__name__", "a")]),
            samples: vec![Sample::new(1, 1.0)],
        }]);
        for n in 1..value.len() {
            assert_eq!(
                IndexedRecord::read(&value[..n]).is_ok(),
                decode(None, &value[..n]).is_ok(),
                "truncated to {n}"
            );
        }
    }
}
