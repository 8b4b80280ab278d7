//! Reading a record value without building owned series.
//!
//! [`decode`](super::decode) allocates for every label name and value of
//! every series; on a stream of scrapes (one sample per series per record)
//! that is a dozen allocations per sample, most of the cost of a stage that
//! only needs each series' fingerprint and samples. [`for_each_series`]
//! walks the protobuf in place and hands out borrowed views, with the same
//! rules as the owned decoder: empty label values are dropped, names must
//! be sorted and unique, `__name__` must be present, strings must be UTF-8.

use super::DecodeError;
use crate::{Label, Labels, METRIC_NAME, Sample, hash_pairs};

/// One series of a record, borrowed from the record value.
#[derive(Debug)]
pub struct SeriesView<'a> {
    /// `(name, value)` pairs, sorted by name, empty values dropped.
    pub labels: &'a [(&'a str, &'a str)],
    /// Samples in record order.
    pub samples: &'a [Sample],
}

impl SeriesView<'_> {
    /// The series' fingerprint, equal to [`Labels::hash`] of its labels.
    pub fn hash(&self) -> u64 {
        hash_pairs(self.labels.iter().copied())
    }

    /// The labels as an owned set.
    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted(
            self.labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).to_string(),
                    value: (*v).to_string(),
                })
                .collect(),
        )
    }
}

/// Calls `f` with each series of the `WriteRequest` in `value`, in order.
/// On an error nothing more is reported; series already handed to `f`
/// stay handed (validate first with a no-op `f` where that matters).
pub fn for_each_series(value: &[u8], mut f: impl FnMut(&SeriesView<'_>)) -> Result<(), DecodeError> {
    walk(value, |_, s| f(s))
}

/// [`for_each_series`], also handing out each series' own bytes (the
/// `TimeSeries` message, a sub-slice of `value`), which [`labels_of`]
/// reads again.
pub(super) fn walk<'v>(
    value: &'v [u8],
    mut f: impl FnMut(&'v [u8], &SeriesView<'_>),
) -> Result<(), DecodeError> {
    let mut labels: Vec<(&'v str, &'v str)> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut r = Reader(value);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, w) => {
                expect(w, LEN)?;
                let ts = r.bytes()?;
                labels.clear();
                samples.clear();
                read_series(ts, &mut labels, &mut samples)?;
                f(
                    ts,
                    &SeriesView {
                        labels: &labels,
                        samples: &samples,
                    },
                );
            }
            // Metadata is not read, but checked as the owned decoder
            // checks it, so both call the same records poison.
            (3, w) => {
                expect(w, LEN)?;
                check_metadata(r.bytes()?)?;
            }
            _ => r.skip(field, wire, TOP)?,
        }
    }
    Ok(())
}

/// The labels of one series' bytes as [`walk`] handed them out.
pub(super) fn labels_of(series: &[u8]) -> Result<Labels, DecodeError> {
    let (mut labels, mut samples) = (Vec::new(), Vec::new());
    read_series(series, &mut labels, &mut samples)?;
    Ok(SeriesView {
        labels: &labels,
        samples: &samples,
    }
    .to_labels())
}

fn read_series<'v>(
    ts: &'v [u8],
    labels: &mut Vec<(&'v str, &'v str)>,
    samples: &mut Vec<Sample>,
) -> Result<(), DecodeError> {
    let mut r = Reader(ts);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, w) => {
                expect(w, LEN)?;
                let (name, value) = read_label(r.bytes()?)?;
                if !value.is_empty() {
                    labels.push((name, value));
                }
            }
            (2, w) => {
                expect(w, LEN)?;
                samples.push(read_sample(r.bytes()?)?);
            }
            _ => r.skip(field, wire, TOP - 1)?,
        }
    }
    if !labels.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(invalid("labels not sorted by name or duplicated"));
    }
    if !labels.iter().any(|(n, _)| *n == METRIC_NAME) {
        return Err(invalid("series without __name__"));
    }
    Ok(())
}

fn read_label(b: &[u8]) -> Result<(&str, &str), DecodeError> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader(b);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, w) => name = expect(w, LEN).and_then(|()| utf8(r.bytes()?))?,
            (2, w) => value = expect(w, LEN).and_then(|()| utf8(r.bytes()?))?,
            _ => r.skip(field, wire, TOP - 2)?,
        }
    }
    Ok((name, value))
}

fn check_metadata(b: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader(b);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, w) => expect(w, VARINT).and_then(|()| r.varint()).map(drop)?,
            (2 | 4 | 5, w) => expect(w, LEN).and_then(|()| utf8(r.bytes()?)).map(drop)?,
            _ => r.skip(field, wire, TOP - 1)?,
        }
    }
    Ok(())
}

fn read_sample(b: &[u8]) -> Result<Sample, DecodeError> {
    let (mut value, mut timestamp) = (0.0, 0i64);
    let mut r = Reader(b);
    while let Some((field, wire)) = r.key()? {
        match (field, wire) {
            (1, w) => value = expect(w, I64).and_then(|()| r.fixed8()).map(f64::from_le_bytes)?,
            (2, w) => timestamp = expect(w, VARINT).and_then(|()| r.varint())? as i64,
            _ => r.skip(field, wire, TOP - 2)?,
        }
    }
    Ok(Sample::new(timestamp, value))
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const I32: u8 = 5;

/// prost's recursion limit, as it counts it: fields of the top-level
/// message are skipped with this budget, those of a message nested in it
/// with one less, and each group level inside a skipped field costs one.
/// Mirrored so that both decoders refuse the same deeply nested groups.
const TOP: u32 = 100;

/// A known field with another wire type than its declaration: an error,
/// as prost makes it.
fn expect(wire: u8, declared: u8) -> Result<(), DecodeError> {
    if wire == declared {
        Ok(())
    } else {
        Err(malformed(&format!(
            "wire type {wire} for a field declared with {declared}"
        )))
    }
}

fn invalid(why: &str) -> DecodeError {
    DecodeError::InvalidSeries(why.to_string())
}

fn malformed(why: &str) -> DecodeError {
    DecodeError::Malformed(why.to_string())
}

fn utf8(b: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| malformed("string is not valid UTF-8"))
}

/// A cursor over protobuf bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .0
                .split_first()
                .ok_or_else(|| malformed("truncated varint"))?;
            self.0 = rest;
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(malformed("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }

    /// The next field's number and wire type; `None` at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>, DecodeError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let k = self.varint()?;
        if k > u64::from(u32::MAX) {
            return Err(malformed("field key out of range"));
        }
        let field = u32::try_from(k >> 3).map_err(|_| malformed("field number out of range"))?;
        if field == 0 {
            return Err(malformed("field number 0"));
        }
        Ok(Some((field, (k & 7) as u8)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(malformed("field runs past the end of its message"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| malformed("length out of range"))?)
    }

    fn fixed8(&mut self) -> Result<[u8; 8], DecodeError> {
        let b = self.take(8)?;
        Ok(b.try_into().expect("took 8 bytes"))
    }

    /// Skips an unknown field, groups included (as prost does: to the end
    /// group of the same field number, nested groups costing `budget`).
    fn skip(&mut self, field: u32, wire: u8, budget: u32) -> Result<(), DecodeError> {
        if budget == 0 {
            return Err(malformed("groups nested past the recursion limit"));
        }
        match wire {
            VARINT => self.varint().map(drop),
            I64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            I32 => self.take(4).map(drop),
            START_GROUP => loop {
                let (inner, w) = self.key()?.ok_or_else(|| malformed("group without its end"))?;
                if w == END_GROUP {
                    return if inner == field {
                        Ok(())
                    } else {
                        Err(malformed("end group of another field"))
                    };
                }
                self.skip(inner, w, budget - 1)?;
            },
            END_GROUP => Err(malformed("end group without its start")),
            other => Err(malformed(&format!("unsupported wire type {other}"))),
        }
    }
}

#[cfg(test)]
mod tests;
