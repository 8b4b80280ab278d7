//! Which scraped samples a scrape keeps: the target's labels merged in,
//! `metric_relabel_configs` applied, Prometheus' label and sample limits
//! checked, repeated series dropped; through the scrape cache for the text
//! format, so a known series line skips all of that.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use sluice_model::bus::EncodedSeries;
use sluice_model::{Labels, Sample};

use super::cache::{self, SeriesCache};
use super::{FastHash, ScrapeState};
use crate::config::ScrapeLimits;
use crate::exposition::{self, SampleSink};
use crate::publish::SeriesList;
use crate::relabel::relabel;
use crate::target::Target;

/// The series a scrape keeps, after labeling, relabeling and the limits.
pub(super) struct Accepted {
    /// The series, in input order.
    pub(super) kept: Arc<SeriesList>,
    /// One sample per series of `kept`.
    pub(super) samples: Vec<Sample>,
    /// Samples left after metric relabeling (counted up to a label limit
    /// error).
    pub(super) post_relabel: usize,
    /// A limit the scrape broke: then none of its samples are kept.
    pub(super) error: Option<String>,
}

impl Accepted {
    pub(super) fn failed(error: String) -> Self {
        Accepted {
            kept: Arc::default(),
            samples: Vec::new(),
            post_relabel: 0,
            error: Some(error),
        }
    }
}

/// Labels the scraped samples, applies `metric_relabel_configs`, and
/// checks the job's limits as Prometheus does: a label limit stops the
/// scrape at the first offending series, the sample limit is checked on
/// the count after relabeling. (Parsed bodies without the cache: the
/// OpenMetrics format.)
pub(super) fn accept(target: &Target, samples: Vec<exposition::ParsedSample>, t_ms: i64) -> Accepted {
    let mut cache = SeriesCache::default();
    let mut a = Accepting::new(target, t_ms, &mut cache, 0, samples.len());
    for s in samples {
        a.scraped += 1;
        a.accept_parsed(None, s);
    }
    a.finish().0
}

/// A scrape being accepted sample by sample, as the parser hands them over.
struct Accepting<'a> {
    target: &'a Target,
    t_ms: i64,
    cache: &'a mut SeriesCache,
    scrape: u64,
    /// Kept series: cache entries, or [`cache::UNCACHED`] for each of
    /// `uncached` in order; and their samples.
    ids: Vec<u32>,
    uncached: Vec<Arc<EncodedSeries>>,
    samples: Vec<Sample>,
    /// A limit the scrape broke: then none of its samples are kept.
    error: Option<String>,
    /// Label hashes kept in this scrape by series that need a set to find
    /// their duplicates: uncached ones and the cache's aliases (any other
    /// cached series' duplicate is its own text again, which the cache's
    /// mark finds).
    kept_hashes: HashSet<u64, FastHash>,
    /// Samples in the exposition.
    scraped: usize,
}

impl<'a> Accepting<'a> {
    fn new(target: &'a Target, t_ms: i64, cache: &'a mut SeriesCache, scrape: u64, expected: usize) -> Self {
        Accepting {
            target,
            t_ms,
            cache,
            scrape,
            ids: Vec::with_capacity(expected),
            uncached: Vec::new(),
            samples: Vec::with_capacity(expected),
            error: None,
            kept_hashes: HashSet::default(),
            scraped: 0,
        }
    }

    /// Keeps a sample of a series (cache entry `id`, or [`cache::UNCACHED`])
    /// that passed relabeling and the limits and is no duplicate within
    /// this scrape.
    fn keep(&mut self, id: u32, timestamp_ms: Option<i64>, value: f64) {
        let ts = match timestamp_ms {
            Some(ts) if self.target.honor_timestamps => ts,
            _ => self.t_ms,
        };
        self.ids.push(id);
        self.samples.push(Sample::new(ts, value));
    }

    /// Keeps the sample of cache entry `id` unless its series was kept
    /// already in this scrape (Prometheus drops a repeated series within
    /// one scrape).
    fn keep_entry(&mut self, id: u32, repeated: bool, timestamp_ms: Option<i64>, value: f64) {
        let e = self.cache.entry(id);
        if e.kept.is_none() {
            return;
        }
        let duplicate = repeated || (e.alias && !self.kept_hashes.insert(e.hash));
        if !duplicate {
            self.keep(id, timestamp_ms, value);
        }
    }

    /// The result, with the sample limit checked; and the samples scraped.
    fn finish(self) -> (Accepted, usize) {
        let post_relabel = self.samples.len();
        let limit = self.target.limits.sample_limit;
        let mut error = self.error;
        if error.is_none() && limit > 0 && post_relabel as u64 > limit {
            error = Some("sample limit exceeded".to_string());
        }
        let out = match error {
            Some(e) => Accepted {
                post_relabel,
                ..Accepted::failed(e)
            },
            None => Accepted {
                kept: self.cache.kept_list(self.ids, self.uncached),
                samples: self.samples,
                post_relabel,
                error: None,
            },
        };
        (out, self.scraped)
    }
}

impl SampleSink for Accepting<'_> {
    fn known(&mut self, series: &str, value: f64, timestamp_ms: Option<i64>) -> bool {
        let Some(hit) = self.cache.lookup(series, self.scrape) else {
            return false;
        };
        self.scraped += 1;
        // After a label limit error the rest is only counted.
        if self.error.is_none() {
            self.keep_entry(hit.entry, hit.repeated, timestamp_ms, value);
        }
        true
    }

    fn parsed(&mut self, series: Option<&str>, s: exposition::SampleView<'_>) {
        self.scraped += 1;
        // After a label limit error the rest is only counted (and needs
        // no owned labels).
        if self.error.is_none() {
            self.accept_parsed(series, s.to_parsed());
        }
    }
}

impl Accepting<'_> {
    /// Labels, relabels and checks one fully parsed sample, and remembers
    /// what its series text became.
    fn accept_parsed(&mut self, series: Option<&str>, s: exposition::ParsedSample) {
        if self.error.is_some() {
            return;
        }
        let labels = self.target.merge_labels(s.labels);
        let labels = if self.target.metric_relabel.is_empty() {
            Some(labels)
        } else {
            relabel(&labels, &self.target.metric_relabel)
                .filter(|l| l.metric_name().is_some_and(|n| !n.is_empty()))
        };
        let kept = match labels {
            Some(l) => {
                if let Err(e) = check_label_limits(&l, &self.target.limits) {
                    self.error = Some(e);
                    return;
                }
                Some(Arc::new(EncodedSeries::new(l)))
            }
            None => None,
        };
        match series {
            Some(series) => {
                let id = self
                    .cache
                    .insert(series, kept, self.scrape, &mut self.kept_hashes);
                self.keep_entry(id, false, s.timestamp_ms, s.value);
            }
            None => {
                if let Some(series) = kept {
                    let hash = series.hash();
                    self.cache.note_uncached(hash, self.scrape, &mut self.kept_hashes);
                    if self.kept_hashes.insert(hash) {
                        self.uncached.push(series);
                        self.keep(cache::UNCACHED, s.timestamp_ms, s.value);
                    }
                }
            }
        }
    }
}

impl ScrapeState {
    /// Parses a text-format body through the scrape cache and accepts it;
    /// returns the result and the samples scraped.
    pub(super) fn accept_text(
        &mut self,
        target: &Target,
        body: Bytes,
        t_ms: i64,
    ) -> (Accepted, usize, Vec<exposition::MetricMetadata>) {
        self.scrapes += 1;
        let scrape = self.scrapes;
        self.cache.begin(&body);
        let (out, success) = {
            let expected = body.len() / 64;
            let mut a = Accepting::new(target, t_ms, &mut self.cache, scrape, expected);
            match exposition::parse_text_with_cache(&body, &mut a) {
                Ok(metadata) => {
                    let (accepted, n) = a.finish();
                    let ok = accepted.error.is_none();
                    ((accepted, n, metadata), ok)
                }
                Err(e) => ((Accepted::failed(e.to_string()), 0, Vec::new()), false),
            }
        };
        self.cache.finish(body, success, scrape);
        out
    }
}

/// `label_limit`, `label_name_length_limit` and `label_value_length_limit`
/// (lengths in bytes), with Prometheus' messages.
fn check_label_limits(labels: &Labels, limits: &ScrapeLimits) -> Result<(), String> {
    let metric = truncate(labels.metric_name().unwrap_or_default(), 50);
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            limits.label_limit
        ));
    }
    if limits.label_name_length_limit == 0 && limits.label_value_length_limit == 0 {
        return Ok(());
    }
    for l in labels.iter() {
        let name = truncate(&l.name, 50);
        if limits.label_name_length_limit > 0 && l.name.len() as u64 > limits.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {}, limit: {})",
                l.name.len(),
                limits.label_name_length_limit
            ));
        }
        if limits.label_value_length_limit > 0 && l.value.len() as u64 > limits.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {:?}, length: {}, limit: {})",
                truncate(&l.value, 50),
                l.value.len(),
                limits.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// At most `n` characters of `s` (Go's `%.50s`).
fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
