//! What a scrape hands to its writer: samples of series whose labels were
//! encoded once (the scrape cache keeps them), and plain series.

use std::sync::Arc;

use sluice_model::bus::{self, EncodedSeries, put_encoded_series};

use super::SeriesList;
use sluice_model::{Sample, TimeSeries, partition_for};

use super::MAX_RECORD_BYTES;

/// Series to publish. `listed` are one sample each of a scrape loop's
/// kept series, `encoded` one sample each of other series with encoded
/// labels (staleness markers): both are written into records without
/// touching the labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesBatch {
    /// A scrape's kept series and their samples.
    pub listed: Option<ListedSamples>,
    /// Samples of encoded series.
    pub encoded: Vec<(Arc<EncodedSeries>, Sample)>,
    /// Plain series (synthetic series, anything not from the cache).
    pub series: Vec<TimeSeries>,
}

/// One sample per series of a [`SeriesList`], in its order.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedSamples {
    pub list: Arc<SeriesList>,
    pub samples: Vec<Sample>,
}

impl SeriesBatch {
    /// A batch of plain series.
    pub fn from_series(series: Vec<TimeSeries>) -> Self {
        SeriesBatch {
            series,
            ..SeriesBatch::default()
        }
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.listed.as_ref().map_or(0, |l| l.samples.len())
            + self.encoded.len()
            + self.series.iter().map(|s| s.samples.len()).sum::<usize>()
    }

    /// True when there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.samples() == 0 && self.series.is_empty()
    }

    /// The listed and the encoded samples, in that order.
    fn encoded_samples(&self) -> impl Iterator<Item = (&EncodedSeries, &Sample)> {
        let listed = self
            .listed
            .iter()
            .flat_map(|l| l.list.series().iter().zip(&l.samples));
        listed
            .chain(self.encoded.iter().map(|(s, x)| (s, x)))
            .map(|(s, x)| (&**s, x))
    }

    /// Every sample as a plain series (the listed ones first, then the
    /// encoded ones), for writers that take series.
    pub fn into_series(self) -> Vec<TimeSeries> {
        let mut out: Vec<TimeSeries> = self
            .encoded_samples()
            .map(|(s, sample)| TimeSeries {
                labels: s.labels().clone(),
                samples: vec![*sample],
            })
            .collect();
        out.extend(self.series);
        out
    }
}

/// Record values `(partition, value, samples)` being filled, each kept
/// under [`MAX_RECORD_BYTES`]; a value's index never changes.
pub(super) struct Records {
    pub(super) values: Vec<(i32, Vec<u8>, usize)>,
    /// Per partition, the value being filled (`usize::MAX`: none yet).
    open: Vec<usize>,
    /// Bytes each partition has still to take: a value is allocated at
    /// its final size once instead of growing (and copying) as it fills.
    left: Vec<usize>,
    /// Spare capacity each value gets beyond that.
    slack: usize,
}

impl Records {
    /// Values for `sizes`, the partition and encoded size of every series
    /// to come.
    pub(super) fn new(partitions: i32, sizes: impl Iterator<Item = (i32, usize)>, slack: usize) -> Self {
        let mut left = vec![0usize; partitions as usize];
        for (p, size) in sizes {
            left[p as usize] += size;
        }
        Records {
            values: Vec::new(),
            open: vec![usize::MAX; partitions as usize],
            left,
            slack,
        }
    }

    /// The index of the value to append `size` bytes of `p`'s to (a full
    /// one is left for a new one).
    pub(super) fn room(&mut self, p: i32, size: usize) -> usize {
        let p = p as usize;
        let open = self.open[p];
        if open == usize::MAX || self.values[open].1.len() + size > MAX_RECORD_BYTES {
            let want = self.left[p].min(MAX_RECORD_BYTES).max(size) + self.slack;
            self.open[p] = self.values.len();
            self.values.push((p as i32, Vec::with_capacity(want), 0));
        }
        self.left[p] -= size;
        self.open[p]
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
        .encoded_samples()
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
    let mut r = Records::new(n, encoded.iter().chain(&plain).copied(), 0);
    for ((s, sample), (p, size)) in batch.encoded_samples().zip(encoded) {
        let i = r.room(p, size);
        let (_, value, count) = &mut r.values[i];
        put_encoded_series(value, s, std::slice::from_ref(sample));
        *count += 1;
    }
    for (s, (p, size)) in batch.series.iter().zip(plain) {
        let i = r.room(p, size);
        let (_, value, count) = &mut r.values[i];
        bus::put_series(value, pairs(s), &s.samples);
        *count += s.samples.len();
    }
    r.values
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
