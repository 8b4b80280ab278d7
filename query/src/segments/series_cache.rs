//! Decoded series of recently read segments, kept in memory.
//!
//! A dashboard asks the same question every few seconds over the last hour
//! or so, and each time the segments it reads are the same immutable
//! files. Prometheus answers those from chunks already in memory (its head
//! block, and mmapped blocks in the page cache) and only decodes a couple
//! of XOR chunks per series; a Parquet read instead decompresses and
//! filters whole pages, plans a scan and builds series from its rows: on a
//! 1 h query of 45 series that was about 60 % of the query's CPU. This
//! cache keeps a segment's series of one metric decoded (labels once,
//! samples in time order), so a repeated read is a label match per series
//! and a binary search for the time range.
//!
//! What is cached is the unit a selector needs from one file: a (segment,
//! metric) pair. Segments never change once published (compaction writes
//! new files and hides the old ones from the catalog), so an entry never
//! goes stale; superseded entries are simply no longer asked for and age
//! out. The cache is bounded by the decoded size, least recently used
//! first out.
//!
//! An entry is decoded only when its pair is read a second time while the
//! first read is still remembered (a "doorkeeper", as TinyLFU admits
//! entries): a one-off query, say a long backfill or an ad-hoc 30-day
//! look, then costs what it cost without the cache, instead of decoding
//! whole segments it needed a slice of and evicting what dashboards use.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sluice_model::telemetry::{self, Counter, Gauge};
use sluice_model::{Sample, TimeSeries};
use sluice_promql::Matcher;

/// A (segment file, metric name) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PairKey {
    pub(crate) location: String,
    pub(crate) metric: String,
}

/// Every series of one metric in one segment, decoded.
#[derive(Debug)]
pub(crate) struct DecodedPair {
    /// Series id and the series (samples in time order, one per timestamp).
    series: Vec<(u64, TimeSeries)>,
    bytes: usize,
}

impl DecodedPair {
    pub(crate) fn new(series: Vec<(u64, TimeSeries)>) -> Self {
        let bytes = series
            .iter()
            .map(|(_, s)| {
                let labels: usize = s.labels.iter().map(|l| l.name.len() + l.value.len() + 48).sum();
                64 + labels + s.samples.len() * std::mem::size_of::<Sample>()
            })
            .sum();
        DecodedPair { series, bytes }
    }

    /// Memory held, approximately: samples, label text and per-allocation
    /// overhead.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The series matching every matcher, cut to `[start_ms, end_ms]`;
    /// series without a sample there are left out, as a scan leaves them.
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        out: &mut Vec<(u64, TimeSeries)>,
    ) {
        for (id, s) in &self.series {
            if !matchers.iter().all(|m| m.matches_labels(&s.labels)) {
                continue;
            }
            let from = s.samples.partition_point(|x| x.timestamp_ms < start_ms);
            let to = s.samples.partition_point(|x| x.timestamp_ms <= end_ms);
            if from < to {
                out.push((
                    *id,
                    TimeSeries {
                        labels: s.labels.clone(),
                        samples: s.samples[from..to].to_vec(),
                    },
                ));
            }
        }
    }
}

/// What to do about one pair.
pub(crate) enum Lookup {
    /// Decoded already.
    Hit(Arc<DecodedPair>),
    /// Read before and still remembered: decode it and [`SeriesCache::insert`].
    Admit,
    /// First read: read it the usual way.
    Pass,
}

/// Decoded (segment, metric) pairs up to a size budget.
#[derive(Debug)]
pub struct SeriesCache {
    budget_bytes: usize,
    state: Mutex<State>,
    hits: Counter,
    misses: Counter,
    bytes: Gauge,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<PairKey, Entry>,
    /// Pairs read once and not decoded (the doorkeeper).
    seen_once: HashSet<PairKey>,
    bytes: usize,
    /// Ticks of a logical clock: the entry with the smallest was used least
    /// recently.
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    pair: Arc<DecodedPair>,
    last_used: u64,
}

/// Pairs the doorkeeper remembers before it forgets them all: a scan of
/// many distinct pairs, each read once, must not grow it without bound.
const SEEN_ONCE_MAX: usize = 16_384;

impl SeriesCache {
    /// A cache of at most `budget_bytes` of decoded series.
    pub fn new(budget_bytes: usize) -> Self {
        let reg = telemetry::global();
        SeriesCache {
            budget_bytes,
            state: Mutex::new(State::default()),
            hits: reg.counter(
                "sluice_query_series_cache_hits_total",
                "Segment reads of one metric answered from decoded series in memory.",
                &[],
            ),
            misses: reg.counter(
                "sluice_query_series_cache_misses_total",
                "Segment reads of one metric that were not in the series cache.",
                &[],
            ),
            bytes: reg.gauge(
                "sluice_query_series_cache_bytes",
                "Approximate memory held by decoded series (query.series_cache_mib).",
                &[],
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a segment of `rows` samples could be kept whole: a larger
    /// one is read the usual way, never decoded for nothing.
    pub(crate) fn could_hold(&self, rows: i64) -> bool {
        usize::try_from(rows)
            .is_ok_and(|r| r.saturating_mul(std::mem::size_of::<Sample>()) <= self.budget_bytes)
    }

    pub(crate) fn lookup(&self, key: &PairKey) -> Lookup {
        let mut st = self.lock();
        st.clock += 1;
        let now = st.clock;
        if let Some(e) = st.entries.get_mut(key) {
            e.last_used = now;
            self.hits.inc();
            return Lookup::Hit(Arc::clone(&e.pair));
        }
        self.misses.inc();
        if st.seen_once.remove(key) {
            return Lookup::Admit;
        }
        if st.seen_once.len() >= SEEN_ONCE_MAX {
            st.seen_once.clear();
        }
        st.seen_once.insert(key.clone());
        Lookup::Pass
    }

    /// Keeps `pair`, evicting the least recently used entries to stay within
    /// the budget. A pair larger than the whole budget is not kept.
    pub(crate) fn insert(&self, key: PairKey, pair: Arc<DecodedPair>) {
        if pair.bytes() > self.budget_bytes {
            return;
        }
        let mut st = self.lock();
        st.clock += 1;
        let now = st.clock;
        if let Some(old) = st.entries.remove(&key) {
            st.bytes -= old.pair.bytes();
        }
        while st.bytes + pair.bytes() > self.budget_bytes {
            let Some(oldest) = st
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = st.entries.remove(&oldest) {
                st.bytes -= e.pair.bytes();
            }
        }
        st.bytes += pair.bytes();
        st.entries.insert(key, Entry { pair, last_used: now });
        self.bytes.set(st.bytes as f64);
    }

    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::Labels;
    use sluice_promql::MatchOp;

    fn pair(n_samples: i64) -> Arc<DecodedPair> {
        let s = TimeSeries {
            labels: Labels::new([("__name__", "m"), ("job", "a")]),
            samples: (0..n_samples).map(|i| Sample::new(i * 1000, i as f64)).collect(),
        };
        Arc::new(DecodedPair::new(vec![(7, s)]))
    }

    fn key(loc: &str) -> PairKey {
        PairKey {
            location: loc.into(),
            metric: "m".into(),
        }
    }

    #[test]
    fn a_pair_is_decoded_on_its_second_read_and_served_after() {
        let c = SeriesCache::new(1 << 20);
        assert!(matches!(c.lookup(&key("a")), Lookup::Pass));
        assert!(matches!(c.lookup(&key("b")), Lookup::Pass));
        assert!(matches!(c.lookup(&key("a")), Lookup::Admit));
        c.insert(key("a"), pair(10));
        assert!(matches!(c.lookup(&key("a")), Lookup::Hit(_)));
        assert!(matches!(c.lookup(&key("b")), Lookup::Admit));
    }

    #[test]
    fn the_least_recently_used_pair_goes_first_and_the_budget_holds() {
        let one = pair(100).bytes();
        let c = SeriesCache::new(2 * one + one / 2);
        c.insert(key("a"), pair(100));
        c.insert(key("b"), pair(100));
        // `a` is used after `b`, so `b` is the one to go for `c`.
        assert!(matches!(c.lookup(&key("a")), Lookup::Hit(_)));
        c.insert(key("c"), pair(100));
        assert!(c.held_bytes() <= 2 * one + one / 2);
        assert!(matches!(c.lookup(&key("a")), Lookup::Hit(_)));
        assert!(matches!(c.lookup(&key("c")), Lookup::Hit(_)));
        assert!(!matches!(c.lookup(&key("b")), Lookup::Hit(_)));
        // Larger than the whole budget: not kept, nothing evicted for it.
        c.insert(key("big"), pair(1000));
        assert!(!matches!(c.lookup(&key("big")), Lookup::Hit(_)));
        assert!(matches!(c.lookup(&key("a")), Lookup::Hit(_)));
    }

    #[test]
    fn selecting_cuts_the_time_range_and_applies_the_matchers() {
        let p = pair(10);
        let mut out = Vec::new();
        let job = |v: &str| Matcher::new("job", MatchOp::Equal, v).unwrap();
        p.select(&[job("a")], 2000, 4000, &mut out);
        assert_eq!(out.len(), 1);
        let ts: Vec<i64> = out[0].1.samples.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(
            ts,
            vec![2000, 3000, 4000],
            "both ends inclusive, as the scan's filter"
        );
        out.clear();
        p.select(&[job("b")], 0, 10_000, &mut out);
        assert!(out.is_empty());
        p.select(&[job("a")], 20_000, 30_000, &mut out);
        assert!(out.is_empty(), "no sample in range: no series");
    }
}
