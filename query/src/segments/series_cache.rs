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
//! out. The cache is bounded by the decoded size.
//!
//! Which pairs it keeps follows TinyLFU's admission: reads of each pair
//! are counted (kept or not, halved now and then so old popularity fades).
//! A pair is not decoded on its first read (the "doorkeeper"): a one-off
//! query, say an ad-hoc 30-day look, costs what it cost without the cache
//! instead of decoding whole segments it needed a slice of. Later, it is
//! kept if the least recently used entries it would evict were each read
//! less often than it; otherwise its decoded size is remembered and it is
//! read the usual way until it is read more often. When the pairs a
//! workload cycles through do not all fit (seven days of a few metrics,
//! say), plain LRU would evict each pair just before its next read and
//! never hit; this keeps a stable part of them.

use std::collections::HashMap;
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
    /// Read often enough to be worth keeping: decode it and offer it to
    /// [`SeriesCache::insert`].
    Admit,
    /// Read it the usual way.
    Pass,
}

/// Decoded (segment, metric) pairs up to a size budget.
#[derive(Debug)]
pub struct SeriesCache {
    budget_bytes: usize,
    state: Mutex<State>,
    hits: Counter,
    misses: Counter,
    rejected: Counter,
    bytes: Gauge,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<PairKey, Entry>,
    /// How often each pair was read lately, kept or not, and a refused
    /// pair's decoded size.
    history: HashMap<PairKey, History>,
    /// Reads since the counts were last halved.
    reads_since_aging: usize,
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

#[derive(Debug, Default)]
struct History {
    reads: u32,
    /// The decoded size, once it was decoded and not kept.
    bytes: Option<usize>,
}

/// Pairs whose reads are counted; past it the counts are aged at once.
const HISTORY_MAX: usize = 16_384;

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
            rejected: reg.counter(
                "sluice_query_series_cache_rejected_total",
                "Decoded pairs not kept: the entries they would evict were read more often.",
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
        let reads = st.count_read(key);
        if let Some(e) = st.entries.get_mut(key) {
            e.last_used = now;
            self.hits.inc();
            return Lookup::Hit(Arc::clone(&e.pair));
        }
        self.misses.inc();
        // The first read is not decoded (a doorkeeper, as TinyLFU has): a
        // one-off query costs what it did without the cache.
        if reads < 2 {
            return Lookup::Pass;
        }
        match st.history.get(key).and_then(|h| h.bytes) {
            Some(bytes) if !st.admissible(bytes, reads, self.budget_bytes) => Lookup::Pass,
            _ => Lookup::Admit,
        }
    }

    /// Keeps `pair` if it fits in the budget once the least recently used
    /// entries that were read less often than it are evicted; otherwise
    /// remembers its size, so the next lookup can refuse it undecoded.
    pub(crate) fn insert(&self, key: PairKey, pair: Arc<DecodedPair>) {
        let mut st = self.lock();
        st.clock += 1;
        let now = st.clock;
        if let Some(old) = st.entries.remove(&key) {
            st.bytes -= old.pair.bytes();
        }
        let reads = st.history.get(&key).map_or(1, |h| h.reads);
        if !st.admissible(pair.bytes(), reads, self.budget_bytes) {
            self.rejected.inc();
            st.history.entry(key).or_default().bytes = Some(pair.bytes());
            return;
        }
        while st.bytes + pair.bytes() > self.budget_bytes {
            let Some(oldest) = st.least_recently_used().first().map(|(k, _)| (*k).clone()) else {
                break;
            };
            if let Some(e) = st.entries.remove(&oldest) {
                st.bytes -= e.pair.bytes();
            }
        }
        st.bytes += pair.bytes();
        st.history.entry(key.clone()).or_default().bytes = None;
        st.entries.insert(key, Entry { pair, last_used: now });
        self.bytes.set(st.bytes as f64);
    }

    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.lock().bytes
    }
}

impl State {
    /// Counts a read of `key`; its reads lately, this one included. Every
    /// count is halved once there have been ten reads per counted pair
    /// (at least 1 000), so what was read often long ago gives way (the
    /// "reset" of TinyLFU).
    fn count_read(&mut self, key: &PairKey) -> u32 {
        self.reads_since_aging += 1;
        if self.reads_since_aging >= (10 * self.history.len()).max(1_000) || self.history.len() >= HISTORY_MAX
        {
            self.reads_since_aging = 0;
            let kept = &self.entries;
            self.history.retain(|k, h| {
                h.reads /= 2;
                h.reads > 0 || kept.contains_key(k)
            });
        }
        if let Some(h) = self.history.get_mut(key) {
            h.reads = h.reads.saturating_add(1);
            return h.reads;
        }
        self.history.insert(
            key.clone(),
            History {
                reads: 1,
                bytes: None,
            },
        );
        1
    }

    /// Entries from least to most recently used.
    fn least_recently_used(&self) -> Vec<(&PairKey, &Entry)> {
        let mut v: Vec<(&PairKey, &Entry)> = self.entries.iter().collect();
        v.sort_by_key(|(_, e)| e.last_used);
        v
    }

    /// Whether `bytes` read `reads` times fit once least recently used
    /// entries read fewer times are evicted. When every pair a workload
    /// cycles through does not fit, this keeps a stable part of them
    /// instead of each evicting the next (plain LRU's worst case).
    fn admissible(&self, bytes: usize, reads: u32, budget: usize) -> bool {
        if bytes > budget {
            return false;
        }
        let mut held = self.bytes;
        for (k, _) in self.least_recently_used() {
            if held + bytes <= budget {
                break;
            }
            let victim_reads = self.history.get(k).map_or(0, |h| h.reads);
            if victim_reads >= reads {
                return false;
            }
            held -= self.entries[k].pair.bytes();
        }
        held + bytes <= budget
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

    /// Reads `k` until it is admitted, then decodes and offers it.
    fn read_in(c: &SeriesCache, k: &str, samples: i64) {
        for _ in 0..2 {
            if matches!(c.lookup(&key(k)), Lookup::Admit) {
                c.insert(key(k), pair(samples));
                return;
            }
        }
    }

    #[test]
    fn the_least_recently_used_pair_goes_first_and_the_budget_holds() {
        let one = pair(100).bytes();
        let c = SeriesCache::new(2 * one + one / 2);
        read_in(&c, "a", 100);
        read_in(&c, "b", 100);
        // `a` is used after `b`, so `b` is the one to go for `c` (read more
        // often than `b` was).
        assert!(matches!(c.lookup(&key("a")), Lookup::Hit(_)));
        for _ in 0..3 {
            c.lookup(&key("c"));
        }
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

    /// Three pairs read in turn, room for two: plain LRU would evict the
    /// pair read next every time and never hit; counting reads keeps two
    /// of them and refuses the third without decoding it again.
    #[test]
    fn a_cycle_larger_than_the_budget_keeps_a_stable_part() {
        let one = pair(100).bytes();
        let c = SeriesCache::new(2 * one + one / 2);
        let mut hits = 0;
        let mut decodes = 0;
        for round in 0..10 {
            for k in ["a", "b", "c"] {
                match c.lookup(&key(k)) {
                    Lookup::Hit(_) => hits += 1,
                    Lookup::Admit => {
                        decodes += 1;
                        c.insert(key(k), pair(100));
                    }
                    Lookup::Pass => {}
                }
            }
            assert!(c.held_bytes() <= 2 * one + one / 2, "round {round}");
        }
        assert!(
            hits >= 2 * 8,
            "two of three pairs hit from the third round on: {hits}"
        );
        assert!(decodes <= 3, "the refused pair is not decoded again: {decodes}");
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
