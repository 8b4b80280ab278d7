//! The evaluator's memory: recent samples of the series the rules can
//! select, and nothing else.
//!
//! A series is kept only if some rule selector matches it (decided once per
//! label set and cached), and samples older than what the next evaluation
//! can reach are trimmed. Samples may arrive out of order across
//! partitions and on replay; each series stays sorted, and a repeated
//! timestamp keeps the newest value (as the sink's one-sample-per-series-
//! and-timestamp rule does).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::source::select_in_memory;
use sluice_promql::{Matcher, SeriesSource, SourceError};

/// Recent samples of the wanted series.
#[derive(Debug, Default)]
pub(crate) struct RecentSamples {
    /// Matcher sets of every rule selector.
    wanted: Vec<Vec<Matcher>>,
    /// Label-set hash → whether some selector wants it.
    decided: HashMap<u64, bool>,
    series: BTreeMap<Labels, Vec<Sample>>,
    samples: usize,
}

impl RecentSamples {
    /// A window keeping series matched by any of `wanted`.
    pub(crate) fn new(wanted: Vec<Vec<Matcher>>) -> Self {
        RecentSamples {
            wanted,
            ..Default::default()
        }
    }

    /// Adds a series' samples if a rule can select it; returns the newest
    /// timestamp kept (`None` if the series is not wanted).
    pub(crate) fn insert(&mut self, ts: &TimeSeries) -> Option<i64> {
        if ts.samples.is_empty() || !self.wants(&ts.labels) {
            return None;
        }
        // Look up before inserting: cloning the labels for every record of
        // a known series would be the common case.
        if !self.series.contains_key(&ts.labels) {
            self.series.insert(ts.labels.clone(), Vec::new());
        }
        let kept = self.series.get_mut(&ts.labels)?;
        for s in &ts.samples {
            match kept.last() {
                Some(last) if last.timestamp_ms < s.timestamp_ms => {
                    kept.push(*s);
                    self.samples += 1;
                }
                None => {
                    kept.push(*s);
                    self.samples += 1;
                }
                Some(_) => match kept.binary_search_by_key(&s.timestamp_ms, |x| x.timestamp_ms) {
                    Ok(i) => kept[i] = *s,
                    Err(i) => {
                        kept.insert(i, *s);
                        self.samples += 1;
                    }
                },
            }
        }
        ts.samples.iter().map(|s| s.timestamp_ms).max()
    }

    fn wants(&mut self, labels: &Labels) -> bool {
        let wanted = &self.wanted;
        *self.decided.entry(labels.hash()).or_insert_with(|| {
            wanted
                .iter()
                .any(|set| set.iter().all(|m| m.matches_labels(labels)))
        })
    }

    /// Drops samples before `cutoff_ms` and series left empty.
    pub(crate) fn trim(&mut self, cutoff_ms: i64) {
        let mut removed = 0;
        self.series.retain(|_, samples| {
            let n = samples.partition_point(|s| s.timestamp_ms < cutoff_ms);
            removed += n;
            samples.drain(..n);
            !samples.is_empty()
        });
        self.samples -= removed;
    }

    /// Samples held (for the memory gauge).
    pub(crate) fn len(&self) -> usize {
        self.samples
    }
}

#[async_trait]
impl SeriesSource for RecentSamples {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        Ok(select_in_memory(
            self.series.iter().map(|(l, s)| (l, s.as_slice())),
            matchers,
            start_ms,
            end_ms,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_promql::MatchOp;

    fn series(name: &str, points: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([("__name__", name)]),
            samples: points.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    #[tokio::test]
    async fn keeps_wanted_series_sorted_and_trims() {
        let want = vec![vec![Matcher::new("__name__", MatchOp::Equal, "up").unwrap()]];
        let mut w = RecentSamples::new(want);
        assert_eq!(w.insert(&series("other", &[(1, 1.0)])), None);
        assert_eq!(w.insert(&series("up", &[(10, 1.0), (30, 3.0)])), Some(30));
        w.insert(&series("up", &[(20, 2.0), (30, 4.0)]));
        let m = [Matcher::new("__name__", MatchOp::Equal, "up").unwrap()];
        let got = w.select(&m, 0, 100).await.unwrap();
        let vals: Vec<(i64, f64)> = got[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(vals, vec![(10, 1.0), (20, 2.0), (30, 4.0)]);
        assert_eq!(w.len(), 3);
        w.trim(25);
        assert_eq!(w.len(), 1);
        w.trim(31);
        assert!(w.select(&m, 0, 100).await.unwrap().is_empty());
    }
}
