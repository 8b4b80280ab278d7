//! What a scrape hands to its writer: samples of series whose labels were
//! encoded once (the scrape cache keeps them), and plain series.

use std::sync::Arc;

use sluice_model::bus::{self, EncodedSeries, put_encoded_series};
use sluice_model::{Sample, TimeSeries, partition_for};

use super::MAX_RECORD_BYTES;

/// Series to publish. `encoded` are one sample each of a series with
/// encoded labels: written into records without touching the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesBatch {
    /// Samples of encoded series.
    pub encoded: Vec<(Arc<EncodedSeries>, Sample)>,
    /// Plain series (synthetic series, anything not from the cache).
    pub series: Vec<TimeSeries>,
}

impl SeriesBatch {
    /// A batch of plain series.
    pub fn from_series(series: Vec<TimeSeries>) -> Self {
        SeriesBatch {
            encoded: Vec::new(),
            series,
        }
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.encoded.len() + self.series.iter().map(|s| s.samples.len()).sum::<usize>()
    }

    /// True when there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty() && self.series.is_empty()
    }

    /// Every sample as a plain series (the encoded ones first), for
    /// writers that take series.
    pub fn into_series(self) -> Vec<TimeSeries> {
        let mut out: Vec<TimeSeries> = self
            .encoded
            .into_iter()
            .map(|(s, sample)| TimeSeries {
                labels: s.labels().clone(),
                samples: vec![sample],
            })
            .collect();
        out.extend(self.series);
        out
    }
}

/// Record values being filled per partition, each kept under
/// [`MAX_RECORD_BYTES`].
struct Records {
    open: Vec<(Vec<u8>, usize)>,
    done: Vec<(i32, Vec<u8>, usize)>,
    /// Bytes each partition has still to take: a value is allocated at
    /// its final size once instead of growing (and copying) as it fills.
    left: Vec<usize>,
}

impl Records {
    /// The value to append `size` bytes of `p`'s to (a full one is closed first).
    fn room(&mut self, p: i32, size: usize) -> &mut (Vec<u8>, usize) {
        let p = p as usize;
        let open = &mut self.open[p];
        if !open.0.is_empty() && open.0.len() + size > MAX_RECORD_BYTES {
            let (value, n) = std::mem::take(open);
            self.done.push((p as i32, value, n));
        }
        if open.0.is_empty() {
            open.0.reserve(self.left[p].min(MAX_RECORD_BYTES).max(size));
        }
        self.left[p] -= size;
        open
    }
}

fn pairs(s: &TimeSeries) -> impl Iterator<Item = (&str, &str)> + Clone {
    s.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))
}

/// Encodes a batch into record values `(partition, value, samples)`, as
/// [`super::encode_records`] does for plain series: each series on
/// `hash(labels) % partitions`, values under [`MAX_RECORD_BYTES`] (one
/// series larger than that gets a record of its own). Encoded series are
/// copied in from their bytes.
pub fn encode_batch_records(batch: &SeriesBatch, partitions: i32) -> Vec<(i32, Vec<u8>, usize)> {
    let n = partitions.max(1);
    // Partition and size of every series, then the values at their size.
    let encoded: Vec<(i32, usize)> = batch
        .encoded
        .iter()
        .map(|(s, sample)| (s.partition(n), s.encoded_len(std::slice::from_ref(sample))))
        .collect();
    let plain: Vec<(i32, usize)> = batch
        .series
        .iter()
        .map(|s| {
            (
                partition_for(&s.labels, n),
                bus::series_encoded_len(pairs(s), &s.samples),
            )
        })
        .collect();
    let mut left = vec![0usize; n as usize];
    for (p, size) in encoded.iter().chain(&plain) {
        left[*p as usize] += size;
    }
    let mut r = Records {
        open: vec![(Vec::new(), 0); n as usize],
        done: Vec::new(),
        left,
    };
    for ((s, sample), (p, size)) in batch.encoded.iter().zip(encoded) {
        let (value, count) = r.room(p, size);
        put_encoded_series(value, s, std::slice::from_ref(sample));
        *count += 1;
    }
    for (s, (p, size)) in batch.series.iter().zip(plain) {
        let (value, count) = r.room(p, size);
        bus::put_series(value, pairs(s), &s.samples);
        *count += s.samples.len();
    }
    let Records { open, mut done, .. } = r;
    for (p, (value, count)) in open.into_iter().enumerate() {
        if !value.is_empty() {
            done.push((p as i32, value, count));
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use sluice_model::Labels;

    use super::*;

    fn series(i: usize) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([
                ("__name__", "m".to_string()),
                ("i", i.to_string()),
                ("pad", "x".repeat(400)),
            ]),
            samples: vec![Sample::new(1000 + i as i64, i as f64)],
        }
    }

    /// Decoded record by record, partition by partition, an encoded batch
    /// holds what the old encoding of the same series held.
    #[test]
    fn encoded_batches_carry_what_plain_series_carry() {
        let plain: Vec<TimeSeries> = (0..6000).map(series).collect();
        let mut batch = SeriesBatch::from_series(plain[4000..].to_vec());
        batch.encoded = plain[..4000]
            .iter()
            .map(|s| (Arc::new(EncodedSeries::new(s.labels.clone())), s.samples[0]))
            .collect();
        assert_eq!(batch.samples(), 6000);
        assert_eq!(batch.clone().into_series(), plain);

        let decode_all = |records: Vec<(i32, Vec<u8>, usize)>| {
            let mut by_partition = std::collections::BTreeMap::<i32, Vec<TimeSeries>>::new();
            for (p, value, n) in records {
                let got = bus::decode(None, &value).unwrap();
                assert_eq!(got.len(), n);
                assert!(got.iter().all(|s| partition_for(&s.labels, 4) == p));
                by_partition.entry(p).or_default().extend(got);
            }
            by_partition
        };
        let new = encode_batch_records(&batch, 4);
        assert!(new.len() > 4, "records split under the size cap");
        // Exact sizes here (the plain path estimates them).
        assert!(new.iter().all(|(_, v, _)| v.len() <= MAX_RECORD_BYTES));
        assert_eq!(
            decode_all(new),
            decode_all(super::super::encode_records(plain, 4))
        );
    }
}
