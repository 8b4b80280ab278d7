//! Prometheus' scrape cache, laid out for a target that lists the same
//! series in the same order every scrape.
//!
//! A cache entry says what one series text (the metric name and label
//! set exactly as written) became: its final labels, hashed and encoded
//! for the bus, or "dropped by relabeling". Looking each line up in a hash
//! map keyed by its text was a fifth of the scrape role's CPU
//! (BENCHMARKS.md, "Scrape → Kafka"): hashing the text, probing, and
//! comparing it with a key that lives in its own cold allocation. So the
//! cache also keeps the previous body and, in its order, where each cached
//! line's series text was and which entry it named. A line is first
//! compared with the text at the predicted position of the previous body
//! (two streams read front to back); only when that differs — a series
//! came, went or moved — does the hash map answer, and the prediction
//! continues from where that entry was. Either way a line is taken as
//! known only when its bytes equal a text that made the entry: the same
//! exactness as the map.
//!
//! Entries live in a slab (insertion order, which is line order), so the
//! duplicate check can be a mark per entry instead of a set insert per
//! line: a text seen twice in one scrape is a duplicate series. Different
//! texts can still label the same series (`a{x="1",y="2"}` and
//! `a{y="2",x="1"}`, or relabeling that drops the difference); entries
//! whose label hash another entry or an uncached series also has are
//! flagged `alias` and checked against a per-scrape set of hashes, as
//! every series once was.
//!
//! The cache also keeps the list of series the last scrape kept (by
//! entry): a scrape that keeps the same entries in the same order hands
//! on the same [`SeriesList`], whose records the publisher then writes
//! over in place, and whose series the staleness map already has.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use sluice_model::bus::EncodedSeries;

use super::FastHash;
use crate::publish::SeriesList;

/// In a scrape's kept entries: a series with no entry (kept in order
/// apart).
pub(super) const UNCACHED: u32 = u32::MAX;

/// What a series text became.
#[derive(Debug)]
pub(super) struct Cached {
    /// `None`: metric relabeling drops the series. Else its final labels,
    /// hashed and encoded for the bus once.
    pub(super) kept: Option<Arc<EncodedSeries>>,
    /// The label hash of `kept` (0 when dropped), here so that the
    /// duplicate check reads no cold `Arc`.
    pub(super) hash: u64,
    /// Another entry or an uncached series has the same label hash: the
    /// duplicate check of this entry goes through the per-scrape set.
    pub(super) alias: bool,
    /// The last scrape that saw it.
    pub(super) seen: u64,
    /// Its line's index in the body that saw it last (`order` until the
    /// scrape sees it, then `next`): where the prediction resumes.
    pos: u32,
}

/// A line of a body whose series text made `entry`.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: u32,
    len: u32,
    entry: u32,
}

/// The cache of one scrape loop. Valid for the loop's life: the target,
/// its relabeling and limits never change within a loop.
#[derive(Debug, Default)]
pub(super) struct SeriesCache {
    entries: Vec<Cached>,
    /// Series text -> entry.
    index: HashMap<Box<str>, u32, FastHash>,
    /// Label hash of a kept entry -> the first entry with it (to flag
    /// aliases).
    by_hash: HashMap<u64, u32, FastHash>,
    /// The body `order` points into.
    previous_body: Bytes,
    /// `previous_body`'s cached lines, in order.
    order: Vec<Line>,
    /// The current body's cached lines, in order (becomes `order`).
    next: Vec<Line>,
    /// Where in `order` the next line is expected.
    cursor: usize,
    /// The current body's address and length, to turn a line's series
    /// text (a slice of it) into a position.
    base: usize,
    body_len: usize,
    /// Entries seen in the current scrape (to skip eviction when all were).
    seen_now: usize,
    /// The entries the last scrape kept, in order, and their list. Entry
    /// ids mean the same series only until an insert or an eviction,
    /// which forget it.
    last: Option<(Vec<u32>, Arc<SeriesList>)>,
}

/// How a line's entry was found.
pub(super) struct Hit {
    pub(super) entry: u32,
    /// The same series text came before in this scrape.
    pub(super) repeated: bool,
}

impl SeriesCache {
    /// Starts a scrape of `body`.
    pub(super) fn begin(&mut self, body: &[u8]) {
        self.next.clear();
        self.next.reserve(self.order.len());
        self.cursor = 0;
        self.base = body.as_ptr() as usize;
        self.body_len = body.len();
        self.seen_now = 0;
    }

    /// The entry of `series` (a slice of the body given to [`Self::begin`]),
    /// marked seen by `scrape`; `None` for a text the cache does not know.
    pub(super) fn lookup(&mut self, series: &str, scrape: u64) -> Option<Hit> {
        let bytes = series.as_bytes();
        let predicted = self.order.get(self.cursor).filter(|l| {
            let (s, n) = (l.start as usize, l.len as usize);
            n == bytes.len() && self.previous_body.get(s..s + n) == Some(bytes)
        });
        let entry = match predicted {
            Some(l) => {
                self.cursor += 1;
                l.entry
            }
            None => {
                let id = *self.index.get(series)?;
                let e = &self.entries[id as usize];
                // A series came or went before this line: predict on from
                // where this one stood last time.
                if e.seen != scrape {
                    self.cursor = e.pos as usize + 1;
                }
                id
            }
        };
        self.record(series, entry);
        let e = &mut self.entries[entry as usize];
        let repeated = e.seen == scrape;
        if !repeated {
            e.seen = scrape;
            self.seen_now += 1;
        }
        Some(Hit { entry, repeated })
    }

    /// The entry `id`.
    pub(super) fn entry(&self, id: u32) -> &Cached {
        &self.entries[id as usize]
    }

    /// Remembers what `series` (a slice of the current body, or `None` for
    /// a line that cannot be cached) became; the entry is seen by `scrape`.
    /// `kept` entries' hashes that another entry has are flagged as
    /// aliases, and if that other entry was kept earlier in this scrape its
    /// hash goes into `kept_hashes`, so the duplicate check that follows
    /// sees it.
    pub(super) fn insert(
        &mut self,
        series: &str,
        kept: Option<Arc<EncodedSeries>>,
        scrape: u64,
        kept_hashes: &mut HashSet<u64, FastHash>,
    ) -> u32 {
        let hash = kept.as_ref().map_or(0, |s| s.hash());
        let is_kept = kept.is_some();
        let fresh = Cached {
            kept,
            hash,
            alias: false,
            seen: scrape,
            pos: u32::MAX,
        };
        self.last = None;
        let id = match self.index.get(series) {
            // Only a line the parser could not vouch for comes here twice;
            // it is answered again all the same.
            Some(&id) => {
                let e = &mut self.entries[id as usize];
                let counted = e.seen == scrape;
                *e = Cached { alias: true, ..fresh };
                if !counted {
                    self.seen_now += 1;
                }
                id
            }
            None => {
                let id = self.entries.len() as u32;
                self.entries.push(fresh);
                self.index.insert(series.into(), id);
                self.seen_now += 1;
                id
            }
        };
        if is_kept {
            match self.by_hash.get(&hash) {
                Some(&other) if other != id => {
                    self.flag_alias(other, scrape, kept_hashes);
                    self.entries[id as usize].alias = true;
                }
                Some(_) => {}
                None => {
                    self.by_hash.insert(hash, id);
                }
            }
        }
        self.record(series, id);
        id
    }

    /// An uncached series with label `hash` is being kept: an entry with
    /// the same hash becomes an alias, so that both go through
    /// `kept_hashes`.
    pub(super) fn note_uncached(&mut self, hash: u64, scrape: u64, kept_hashes: &mut HashSet<u64, FastHash>) {
        if let Some(&other) = self.by_hash.get(&hash) {
            self.flag_alias(other, scrape, kept_hashes);
        }
    }

    fn flag_alias(&mut self, id: u32, scrape: u64, kept_hashes: &mut HashSet<u64, FastHash>) {
        let e = &mut self.entries[id as usize];
        if !e.alias && e.seen == scrape && e.kept.is_some() {
            // Kept earlier in this scrape without the set: it goes in now.
            kept_hashes.insert(e.hash);
        }
        e.alias = true;
    }

    fn record(&mut self, series: &str, entry: u32) {
        let start = (series.as_ptr() as usize).wrapping_sub(self.base);
        if start <= self.body_len && series.len() <= self.body_len - start {
            self.entries[entry as usize].pos = self.next.len() as u32;
            self.next.push(Line {
                start: start as u32,
                len: series.len() as u32,
                entry,
            });
        }
    }

    /// Ends the scrape of `body` (the one given to [`Self::begin`]): it
    /// becomes the body lines are predicted from. After a successful
    /// scrape the entries it did not see are dropped.
    pub(super) fn finish(&mut self, body: Bytes, success: bool, scrape: u64) {
        debug_assert_eq!(body.as_ptr() as usize, self.base);
        if success && self.seen_now < self.entries.len() {
            self.evict(scrape);
        }
        std::mem::swap(&mut self.order, &mut self.next);
        self.next.clear();
        self.previous_body = body;
    }

    /// The list of the series a scrape kept: `ids` (entries, in order;
    /// [`UNCACHED`] for each of `uncached`, in order). The last scrape's
    /// list when it kept the same entries in the same order, so that its
    /// records and staleness marks are reused.
    pub(super) fn kept_list(&mut self, ids: Vec<u32>, uncached: Vec<Arc<EncodedSeries>>) -> Arc<SeriesList> {
        if uncached.is_empty()
            && let Some((last, list)) = &self.last
            && *last == ids
        {
            return list.clone();
        }
        let cacheable = uncached.is_empty();
        let mut uncached = uncached.into_iter();
        let series = ids
            .iter()
            .map(|&id| match id {
                UNCACHED => uncached.next().expect("one uncached series per UNCACHED"),
                id => self.entries[id as usize]
                    .kept
                    .clone()
                    .expect("only kept entries are listed"),
            })
            .collect();
        let list = Arc::new(SeriesList::new(series));
        self.last = cacheable.then(|| (ids, list.clone()));
        list
    }

    /// Drops the entries `scrape` did not see; the rest are renumbered.
    fn evict(&mut self, scrape: u64) {
        self.last = None;
        let mut renumber = vec![u32::MAX; self.entries.len()];
        let mut kept = 0u32;
        for (old, e) in self.entries.iter().enumerate() {
            if e.seen == scrape {
                renumber[old] = kept;
                kept += 1;
            }
        }
        self.entries.retain(|e| e.seen == scrape);
        self.index.retain(|_, id| {
            *id = renumber[*id as usize];
            *id != u32::MAX
        });
        // Every line of this scrape's body saw its entry.
        for l in &mut self.next {
            l.entry = renumber[l.entry as usize];
        }
        self.by_hash.clear();
        for (id, e) in self.entries.iter_mut().enumerate() {
            if e.kept.is_none() {
                continue;
            }
            match self.by_hash.get(&e.hash) {
                // Still an alias of a live entry (which is one already).
                Some(_) => e.alias = true,
                None => {
                    self.by_hash.insert(e.hash, id as u32);
                }
            }
        }
    }

    /// Cached series texts (for tests).
    #[cfg(test)]
    pub(super) fn texts(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self.index.keys().map(|k| &**k).collect();
        t.sort();
        t
    }
}
