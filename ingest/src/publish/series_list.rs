//! A scrape loop's kept series, shared with the batches it publishes, and
//! the records last written for them.
//!
//! A target lists the same series scrape after scrape; only the samples
//! change. Copying each series' encoded labels into the records anew, and
//! first touching each series' own (cold) memory to do so, was a fifth of
//! the scrape role's CPU (BENCHMARKS.md, "Scrape → Kafka"). So a list
//! keeps the record values it was last written into and where each
//! series' sample field sits in them: when the next samples of the same
//! list have fields as long as the old ones (the same timestamp width),
//! they are written over the old ones in place and the same values are
//! sent again — byte for byte what encoding the series afresh gives, with
//! no label copied. Anything else (another partition count, a field of
//! another length) writes the records afresh.

use std::sync::{Arc, Mutex, MutexGuard};

use sluice_model::Sample;
use sluice_model::bus::{EncodedSeries, overwrite_sample_field, put_encoded_series, sample_field_len};

use super::MAX_RECORD_BYTES;
use super::batch::Records;

/// Spare bytes per record value for the records of a batch's other series
/// (synthetic series, staleness markers) to be appended without growing
/// (and copying) the value.
const SLACK: usize = 2048;

/// Series in a fixed order, each kept (distinct) by one scrape.
#[derive(Default)]
pub struct SeriesList {
    series: Vec<Arc<EncodedSeries>>,
    written: Mutex<Option<Written>>,
}

/// The records a list was last written into.
struct Written {
    partitions: i32,
    values: Vec<(i32, Vec<u8>, usize)>,
    /// Per series of the list: the value and the offset of its sample field.
    slots: Vec<(u32, u32)>,
    /// Per partition, its last value.
    last: Vec<usize>,
}

impl SeriesList {
    pub fn new(series: Vec<Arc<EncodedSeries>>) -> Self {
        SeriesList {
            series,
            written: Mutex::default(),
        }
    }

    /// The series, in order.
    pub fn series(&self) -> &[Arc<EncodedSeries>] {
        &self.series
    }

    /// Writes the records of `samples` (one per series, in order) on
    /// `partitions` partitions, with `extra` records (of other series)
    /// appended to the values of their partition where they fit, and hands
    /// them to `send`; the values stay for the next call.
    pub fn with_records<R>(
        &self,
        samples: &[Sample],
        partitions: i32,
        extra: Vec<(i32, Vec<u8>, usize)>,
        send: impl FnOnce(&[(i32, Vec<u8>, usize)]) -> R,
    ) -> R {
        assert_eq!(samples.len(), self.series.len(), "one sample per listed series");
        let partitions = partitions.max(1);
        let mut written = self.lock();
        let reused = written
            .as_mut()
            .is_some_and(|w| w.partitions == partitions && w.overwrite(samples));
        if !reused {
            *written = Some(Written::new(&self.series, samples, partitions));
        }
        let w = written.as_mut().expect("written above");
        let appended = w.append(extra);
        let out = send(&w.values);
        w.remove(appended);
        out
    }

    /// The records' lock. A panic while it was held (in `send`) may have
    /// left other series' bytes in them: they are written afresh then.
    fn lock(&self) -> MutexGuard<'_, Option<Written>> {
        match self.written.lock() {
            Ok(g) => g,
            Err(poisoned) => {
                self.written.clear_poison();
                let mut g = poisoned.into_inner();
                *g = None;
                g
            }
        }
    }
}

impl std::fmt::Debug for SeriesList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesList")
            .field("series", &self.series)
            .finish()
    }
}

impl PartialEq for SeriesList {
    fn eq(&self, other: &Self) -> bool {
        self.series == other.series
    }
}

/// What [`Written::append`] added: per value touched, its length and
/// count before; and how many values there were.
struct Appended {
    grown: Vec<(usize, usize, usize)>,
    values: usize,
}

impl Written {
    fn new(series: &[Arc<EncodedSeries>], samples: &[Sample], partitions: i32) -> Self {
        let sizes: Vec<(i32, usize)> = series
            .iter()
            .zip(samples)
            .map(|(s, x)| (s.partition(partitions), s.encoded_len(std::slice::from_ref(x))))
            .collect();
        let mut r = Records::new(partitions, sizes.iter().copied(), SLACK);
        let mut slots = Vec::with_capacity(series.len());
        for ((s, x), (p, size)) in series.iter().zip(samples).zip(sizes) {
            let i = r.room(p, size);
            let (_, value, count) = &mut r.values[i];
            put_encoded_series(value, s, std::slice::from_ref(x));
            *count += 1;
            let at = value.len() - sample_field_len(x);
            slots.push((i as u32, at as u32));
        }
        let mut last = vec![usize::MAX; partitions as usize];
        for (i, (p, _, _)) in r.values.iter().enumerate() {
            last[*p as usize] = i;
        }
        Written {
            partitions,
            values: r.values,
            slots,
            last,
        }
    }

    /// Writes `samples` over the old ones; `false` (and the values left
    /// half written) when a field's length differs.
    fn overwrite(&mut self, samples: &[Sample]) -> bool {
        for (&(i, at), x) in self.slots.iter().zip(samples) {
            let value = &mut self.values[i as usize].1;
            let at = at as usize;
            // The old field's length: its key, its length byte, the rest.
            let old = 2 + value[at + 1] as usize;
            if old != sample_field_len(x) {
                return false;
            }
            overwrite_sample_field(&mut value[at..at + old], x);
        }
        true
    }

    /// Appends `extra` to the last value of its partition where it fits
    /// in the spare capacity, else adds it as a value of its own.
    fn append(&mut self, extra: Vec<(i32, Vec<u8>, usize)>) -> Appended {
        let mut appended = Appended {
            grown: Vec::new(),
            values: self.values.len(),
        };
        for (p, bytes, n) in extra {
            let last = self.last.get(p as usize).copied().unwrap_or(usize::MAX);
            match self.values.get_mut(last) {
                Some((_, value, count))
                    if value.capacity() - value.len() >= bytes.len()
                        && value.len() + bytes.len() <= MAX_RECORD_BYTES =>
                {
                    appended.grown.push((last, value.len(), *count));
                    // A WriteRequest's series are a repeated field: two
                    // values' bytes one after the other are one value.
                    value.extend_from_slice(&bytes);
                    *count += n;
                }
                _ => self.values.push((p, bytes, n)),
            }
        }
        appended
    }

    /// Takes back what [`Self::append`] added.
    fn remove(&mut self, appended: Appended) {
        self.values.truncate(appended.values);
        for (i, len, count) in appended.grown.into_iter().rev() {
            self.values[i].1.truncate(len);
            self.values[i].2 = count;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sluice_model::bus::{self, put_encoded_series};
    use sluice_model::{Labels, TimeSeries, partition_for};

    use super::*;
    use crate::publish::{SeriesBatch, encode_batch_records};

    fn list(n: usize) -> Arc<SeriesList> {
        let series = (0..n)
            .map(|i| {
                Arc::new(EncodedSeries::new(Labels::new([
                    ("__name__", "m".to_string()),
                    ("i", i.to_string()),
                    ("pad", "x".repeat(i % 600)),
                ])))
            })
            .collect();
        Arc::new(SeriesList::new(series))
    }

    /// Series per partition, decoded from records, as (labels, timestamp,
    /// value bits): NaN equals itself.
    fn decode(records: &[(i32, Vec<u8>, usize)], partitions: i32) -> BTreeMap<i32, Vec<(String, i64, u64)>> {
        let mut out = BTreeMap::<i32, Vec<_>>::new();
        for (p, value, n) in records {
            assert!(value.len() <= MAX_RECORD_BYTES);
            let got: Vec<TimeSeries> = bus::decode(None, value).unwrap();
            assert_eq!(got.len(), *n);
            assert!(got.iter().all(|s| partition_for(&s.labels, partitions) == *p));
            out.entry(*p).or_default().extend(got.iter().flat_map(|s| {
                s.samples
                    .iter()
                    .map(|x| (s.labels.to_string(), x.timestamp_ms, x.value.to_bits()))
            }));
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }

    /// Scrape after scrape, the records a list sends (its values written
    /// over in place, or afresh) carry what encoding the same batch afresh
    /// carries, and the listed series' bytes are what encoding them gives.
    #[test]
    fn reused_records_carry_what_fresh_records_carry() {
        let l = list(3000);
        let other = EncodedSeries::new(Labels::new([("__name__", "stale"), ("x", "1")]));
        let samples =
            |t: i64, v: f64| -> Vec<Sample> { (0..3000).map(|i| Sample::new(t, v + i as f64)).collect() };
        let steps = [
            (4, samples(1_700_000_000_000, 1.0)),
            // New values, the same widths: written in place.
            (4, samples(1_700_000_002_000, 2.5)),
            (4, samples(1_700_000_004_000, f64::NAN)),
            // A timestamp of another width: written afresh.
            (4, samples(5, 3.0)),
            (4, samples(0, 4.0)),
            (4, samples(1_700_000_006_000, 5.0)),
            // Another partition count: afresh; one partition takes
            // more than one record.
            (3, samples(1_700_000_008_000, 6.0)),
            (3, samples(1_700_000_010_000, 7.0)),
            (1, samples(1_700_000_012_000, 8.0)),
            (1, samples(1_700_000_014_000, 9.0)),
        ];
        for (step, (partitions, samples)) in steps.iter().enumerate() {
            // One series' field alone changes width now and then.
            let mut samples = samples.clone();
            if step == 5 {
                samples[1234].timestamp_ms = 1;
            }
            let batch = SeriesBatch {
                listed: Some(crate::publish::ListedSamples {
                    list: l.clone(),
                    samples: samples.clone(),
                }),
                encoded: vec![(Arc::new(other.clone()), Sample::new(9, 9.0))],
                series: vec![TimeSeries {
                    labels: Labels::new([("__name__", "up"), ("job", "j")]),
                    samples: vec![Sample::new(9, 1.0)],
                }],
            };
            let fresh = encode_batch_records(&batch, *partitions);
            let extra_batch = SeriesBatch {
                listed: None,
                ..batch.clone()
            };
            let extra = encode_batch_records(&extra_batch, *partitions);
            let sent = l.with_records(&samples, *partitions, extra, |records| records.to_vec());
            assert_eq!(
                decode(&sent, *partitions),
                decode(&fresh, *partitions),
                "step {step}"
            );
            // Without the extras, the values are the listed series'
            // encoding, series by series in list order per partition.
            let alone = l.with_records(&samples, *partitions, Vec::new(), |records| records.to_vec());
            let mut want = BTreeMap::<i32, Vec<u8>>::new();
            for (s, x) in l.series().iter().zip(&samples) {
                put_encoded_series(
                    want.entry(s.partition(*partitions)).or_default(),
                    s,
                    std::slice::from_ref(x),
                );
            }
            let mut got = BTreeMap::<i32, Vec<u8>>::new();
            for (p, v, _) in &alone {
                got.entry(*p).or_default().extend_from_slice(v);
            }
            assert_eq!(got, want, "step {step}");
            if *partitions == 1 {
                assert!(alone.len() > 1, "split under the size cap");
            }
        }
    }
}
