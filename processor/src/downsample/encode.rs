//! Closed windows encoded straight into tier records.
//!
//! Each window publishes five series (the raw labels plus `__aggr__`). Built
//! as owned series they cost a copy of the labels per aggregate, and the
//! write's retry loop another; here the labels are borrowed from the
//! series' state, merged with `__aggr__` on the fly, hashed for the
//! partition and written as protobuf bytes into that partition's record —
//! the same records [`super::window_series`] through the publisher's own
//! encoder would give (a unit test holds the two together).

use sluice_ingest::publish::MAX_RECORD_BYTES;
use sluice_model::{AGGR_LABEL, Label, Labels, bus, hash_pairs};

use super::aggregate::WindowAggregate;
use super::partition::WindowSink;

/// An encoded record: `(partition, value, samples)`, as
/// `KafkaPublisher::submit_records` takes it.
pub type Record = (i32, Vec<u8>, usize);

/// The records of the windows closed since the last [`TierRecords::take`],
/// per tier.
pub struct TierRecords {
    tiers: Vec<Tier>,
}

struct Tier {
    partitions: i32,
    /// The record being filled per partition (empty value: none yet).
    open: Vec<Record>,
    done: Vec<Record>,
    windows: u64,
}

/// What one tier's windows became.
pub struct TierOutput {
    /// Complete records, ready to write.
    pub records: Vec<Record>,
    /// How many windows they hold.
    pub windows: u64,
}

impl TierRecords {
    /// Empty buffers for tiers whose topics have these partition counts.
    pub fn new(partitions_per_tier: &[i32]) -> Self {
        TierRecords {
            tiers: partitions_per_tier
                .iter()
                .map(|&n| Tier {
                    partitions: n.max(1),
                    open: (0..n.max(1)).map(|p| (p, Vec::new(), 0)).collect(),
                    done: Vec::new(),
                    windows: 0,
                })
                .collect(),
        }
    }

    /// Hands out everything encoded so far, per tier, and starts afresh.
    pub fn take(&mut self) -> Vec<TierOutput> {
        self.tiers
            .iter_mut()
            .map(|t| {
                let mut records = std::mem::take(&mut t.done);
                for r in &mut t.open {
                    if !r.1.is_empty() {
                        records.push((r.0, std::mem::take(&mut r.1), std::mem::take(&mut r.2)));
                    }
                }
                TierOutput {
                    records,
                    windows: std::mem::take(&mut t.windows),
                }
            })
            .collect()
    }
}

impl WindowSink for TierRecords {
    fn closed(&mut self, tier: usize, labels: &Labels, window: &WindowAggregate) {
        let t = &mut self.tiers[tier];
        t.windows += 1;
        window.for_each_series(|aggr, samples| {
            let pairs = WithAggr::new(labels, aggr);
            let p = (hash_pairs(pairs.clone()) % t.partitions as u64) as usize;
            let size = bus::series_encoded_len(pairs.clone(), samples);
            let rec = &mut t.open[p];
            if !rec.1.is_empty() && rec.1.len() + size > MAX_RECORD_BYTES {
                t.done
                    .push((rec.0, std::mem::take(&mut rec.1), std::mem::take(&mut rec.2)));
            }
            bus::put_series(&mut rec.1, pairs, samples);
            rec.2 += samples.len();
        });
    }
}

/// A window series' labels: the raw series' labels (sorted by name) with
/// `__aggr__` set, as `Labels::set` would make them, borrowed.
#[derive(Clone)]
struct WithAggr<'a> {
    labels: std::slice::Iter<'a, Label>,
    /// Not yet handed out.
    aggr: Option<&'a str>,
}

impl<'a> WithAggr<'a> {
    fn new(labels: &'a Labels, aggr: &'a str) -> Self {
        WithAggr {
            labels: labels.iter(),
            aggr: Some(aggr),
        }
    }
}

impl<'a> Iterator for WithAggr<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(aggr) = self.aggr {
            let before = self
                .labels
                .as_slice()
                .first()
                .is_some_and(|l| l.name.as_str() < AGGR_LABEL);
            if !before {
                self.aggr = None;
                return Some((AGGR_LABEL, aggr));
            }
        }
        // A raw series' own `__aggr__` is replaced, as `Labels::set` does.
        self.labels
            .by_ref()
            .find(|l| l.name != AGGR_LABEL)
            .map(|l| (l.name.as_str(), l.value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use sluice_ingest::publish::encode_records;
    use sluice_model::bus::decode;
    use sluice_model::{Labels, TimeSeries};

    use super::*;
    use crate::downsample::partition::ClosedWindow;
    use crate::downsample::window_series;

    fn window(i: i64) -> WindowAggregate {
        let mut w = WindowAggregate::first(300_000 * i, 300_000 * i + 15_000, 1.0, 1.0 + i as f64);
        if i % 3 != 0 {
            w.add(300_000 * i + 30_000, -2.5, 4.0 + i as f64);
        }
        w
    }

    /// Label sets around `__aggr__`'s place in the order: names before it
    /// (upper case sorts before `_`), after it, and one already carrying it.
    fn label_sets() -> Vec<Labels> {
        vec![
            Labels::new([("__name__", "up"), ("job", "node")]),
            Labels::new([("A", "x"), ("__name__", "up"), ("_z", "y")]),
            Labels::new([("__aggr__", "old"), ("__name__", "up")]),
            Labels::new([("__name__", "x".repeat(5000))]),
        ]
    }

    /// What the owned path writes: window series through the publisher's
    /// encoder, read back per partition.
    fn owned(closed: &[ClosedWindow], tier: usize, partitions: i32) -> Vec<(i32, Vec<TimeSeries>)> {
        let series = closed
            .iter()
            .filter(|w| w.tier == tier)
            .flat_map(window_series)
            .collect();
        read_back(encode_records(series, partitions))
    }

    fn read_back(records: Vec<Record>) -> Vec<(i32, Vec<TimeSeries>)> {
        let mut per: std::collections::BTreeMap<i32, Vec<TimeSeries>> = Default::default();
        for (p, value, n) in records {
            let series = decode(None, &value).unwrap();
            assert_eq!(n, series.iter().map(|s| s.samples.len()).sum::<usize>());
            per.entry(p).or_default().extend(series);
        }
        per.into_iter().collect()
    }

    #[test]
    fn records_hold_what_the_owned_path_writes() {
        let partitions = [3, 1];
        let mut direct = TierRecords::new(&partitions);
        let mut closed: Vec<ClosedWindow> = Vec::new();
        for i in 0..400 {
            for labels in label_sets() {
                let (tier, w) = ((i % 2) as usize, window(i));
                direct.closed(tier, &labels, &w);
                closed.closed(tier, &labels, &w);
            }
        }
        let out = direct.take();
        for (tier, t) in out.into_iter().enumerate() {
            assert_eq!(t.windows, closed.iter().filter(|w| w.tier == tier).count() as u64);
            assert!(t.records.iter().all(|r| r.1.len() <= MAX_RECORD_BYTES));
            assert_eq!(read_back(t.records), owned(&closed, tier, partitions[tier]));
        }
        // Taken: nothing is handed out twice.
        assert!(
            direct
                .take()
                .iter()
                .all(|t| t.records.is_empty() && t.windows == 0)
        );
    }

    #[test]
    fn large_batches_split_into_records_under_the_cap() {
        let mut direct = TierRecords::new(&[1]);
        let labels = Labels::new([("__name__", "x".repeat(5000))]);
        for i in 0..1000 {
            direct.closed(0, &labels, &window(i));
        }
        let t = direct.take().remove(0);
        assert!(t.records.len() > 1);
        assert!(t.records.iter().all(|r| r.1.len() <= MAX_RECORD_BYTES));
    }
}
