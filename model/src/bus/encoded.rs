//! Series whose labels are encoded once and written into many records.
//!
//! A scrape loop publishes the same series every interval. Encoding its
//! labels into protobuf, hashing them for the partition, and cloning and
//! dropping the owned label set on every scrape was most of what a scrape
//! cost after parsing (BENCHMARKS.md, "Scrape → Kafka"); an
//! [`EncodedSeries`] keeps the label bytes and the hash with the labels,
//! and [`put_encoded_series`] writes a record's `timeseries` field from
//! them, byte for byte what [`super::put_series`] writes for the same
//! labels and samples.

use crate::{Labels, Sample};

use super::{field_len, label_len, put_key, put_string, put_varint, sample_len};

/// A label set with its hash ([`Labels::hash`], which picks the
/// partition) and its protobuf encoding (the `labels` fields of a
/// `prometheus.TimeSeries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSeries {
    labels: Labels,
    hash: u64,
    encoded_labels: Box<[u8]>,
}

impl EncodedSeries {
    /// Hashes and encodes `labels`.
    pub fn new(labels: Labels) -> Self {
        let hash = labels.hash();
        let size: usize = labels
            .iter()
            .map(|l| field_len(label_len(&l.name, &l.value)))
            .sum();
        let mut out = Vec::with_capacity(size);
        for l in labels.iter() {
            put_key(&mut out, 1, 2);
            put_varint(&mut out, label_len(&l.name, &l.value) as u64);
            put_string(&mut out, 1, &l.name);
            put_string(&mut out, 2, &l.value);
        }
        EncodedSeries {
            labels,
            hash,
            encoded_labels: out.into_boxed_slice(),
        }
    }

    /// The labels.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// [`Labels::hash`] of the labels.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The partition of `partitions` this series belongs on
    /// ([`crate::partition_for`] of its labels).
    pub fn partition(&self, partitions: i32) -> i32 {
        (self.hash % partitions.max(1) as u64) as i32
    }

    /// The bytes of the labels' protobuf fields.
    pub fn encoded_labels(&self) -> &[u8] {
        &self.encoded_labels
    }

    /// The bytes [`put_encoded_series`] appends for this series and these samples.
    pub fn encoded_len(&self, samples: &[Sample]) -> usize {
        field_len(self.body_len(samples))
    }

    fn body_len(&self, samples: &[Sample]) -> usize {
        self.encoded_labels.len() + samples.iter().map(|x| field_len(sample_len(x))).sum::<usize>()
    }
}

/// Appends one `timeseries` field of a `WriteRequest`: `series`' encoded
/// labels and `samples`, as [`super::put_series`] would encode them.
pub fn put_encoded_series(out: &mut Vec<u8>, series: &EncodedSeries, samples: &[Sample]) {
    put_key(out, 1, 2);
    put_varint(out, series.body_len(samples) as u64);
    out.extend_from_slice(&series.encoded_labels);
    super::put_samples(out, samples);
}

/// The bytes of the `samples` field [`put_encoded_series`] writes for one
/// sample (at most 22: the field's length fits one varint byte).
pub fn sample_field_len(sample: &Sample) -> usize {
    field_len(sample_len(sample))
}

/// Writes `sample`'s `samples` field, as [`put_encoded_series`] writes it,
/// over `out`, which must be exactly [`sample_field_len`] bytes: a record
/// written once can take the next samples of the same series in place
/// when their fields are as long as the old ones (the enclosing lengths
/// then stay right).
pub fn overwrite_sample_field(out: &mut [u8], sample: &Sample) {
    assert_eq!(
        out.len(),
        sample_field_len(sample),
        "a sample field of another length"
    );
    super::put_sample(&mut super::InPlace { buf: out, at: 0 }, sample);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeSeries;
    use crate::bus::{decode, encode, put_series, series_encoded_len};

    #[test]
    fn encoded_series_write_the_bytes_put_series_writes() {
        let long = "v".repeat(300);
        let sets = [
            Labels::new([("__name__", "up")]),
            Labels::new([
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "h:1"),
                ("le", "+Inf"),
            ]),
            Labels::new([("__name__", "m"), ("long", long.as_str()), ("ünï", "çödé")]),
        ];
        let samples = [
            vec![Sample::new(0, 0.0)],
            vec![Sample::new(1_700_000_000_000, -0.0)],
            vec![Sample::new(-5, f64::NAN), Sample::new(7, 1e300)],
        ];
        for labels in &sets {
            let e = EncodedSeries::new(labels.clone());
            assert_eq!(e.hash(), labels.hash());
            assert_eq!(e.partition(7), crate::partition_for(labels, 7));
            for s in &samples {
                let mut old = Vec::new();
                put_series(
                    &mut old,
                    labels.iter().map(|l| (l.name.as_str(), l.value.as_str())),
                    s,
                );
                let mut new = Vec::new();
                put_encoded_series(&mut new, &e, s);
                assert_eq!(new, old, "{labels}");
                assert_eq!(
                    e.encoded_len(s),
                    series_encoded_len(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())), s)
                );
                let ts = TimeSeries {
                    labels: labels.clone(),
                    samples: s.clone(),
                };
                assert_eq!(new, encode(std::slice::from_ref(&ts)));
                let back = decode(None, &new).unwrap();
                assert_eq!(back[0].labels, *labels);
            }
        }
    }

    /// A sample field written over an old one of the same length is the
    /// field `put_encoded_series` writes.
    #[test]
    fn sample_fields_are_overwritten_as_they_are_written() {
        let e = EncodedSeries::new(Labels::new([("__name__", "m")]));
        let samples = [
            Sample::new(0, 0.0),
            Sample::new(1, 1.5),
            Sample::new(127, -2.0),
            Sample::new(128, f64::NAN),
            Sample::new(1_700_000_000_000, 1e300),
            Sample::new(1_700_000_000_001, 7.0),
            Sample::new(-5, 3.0),
            Sample::new(i64::MAX, 0.0),
        ];
        for s in &samples {
            let mut want = Vec::new();
            put_encoded_series(&mut want, &e, std::slice::from_ref(s));
            let n = sample_field_len(s);
            assert!(n <= 22);
            // Over garbage of the same length.
            let mut got = want.clone();
            let at = got.len() - n;
            got[at..].fill(0xAA);
            overwrite_sample_field(&mut got[at..], s);
            assert_eq!(got, want, "{s:?}");
        }
    }
}
