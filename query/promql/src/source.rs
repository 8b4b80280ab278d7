//! Where the engine gets raw series from: the [`SeriesSource`] trait and its
//! label [`Matcher`]s, plus an in-memory source for tests and rule windows.

use async_trait::async_trait;
use regex::Regex;
use sluice_model::{AGGR_LABEL, Labels, Sample, TimeSeries};

/// How a [`Matcher`] compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored RE2-style regex)
    Regex,
    /// `!~`
    NotRegex,
}

/// One label matcher of a selector. An absent label has the value `""`, so
/// `{a=""}` selects series without `a`, as in Prometheus.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Literal value or regex source (unanchored, as written by the user).
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regexes are anchored (`^(?s:...)$`) as Prometheus does.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// True if a label value (`""` when absent) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True if this matcher selects series lacking the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// True if a whole label set satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name).unwrap_or(""))
    }
}

/// A failure of the storage behind the engine (not the user's fault).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// How a read refused for its size begins (Prometheus' words for its own
/// sample limit), so the engine answers it as a 422 `execution` error.
const SAMPLE_LIMIT_PREFIX: &str =
    "query processing would load too many samples into memory in query execution";

impl SourceError {
    /// A read refused because the query's selectors would hold more than
    /// `limit` raw samples.
    pub fn sample_limit(limit: usize) -> Self {
        SourceError(format!(
            "{SAMPLE_LIMIT_PREFIX}: its selectors read more than {limit} samples from storage \
             (query.max_fetched_samples); narrow the selectors or the time range"
        ))
    }

    /// True for [`SourceError::sample_limit`] errors.
    pub fn is_sample_limit(&self) -> bool {
        self.0.starts_with(SAMPLE_LIMIT_PREFIX)
    }
}

/// One aggregate a downsampled tier keeps per series and window (the
/// values of the `__aggr__` label, see `docs/bus-format.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregate {
    /// Number of raw samples, at the window's last sample.
    Count,
    /// Their sum, at the window's last sample.
    Sum,
    /// Their minimum, at the window's last sample.
    Min,
    /// Their maximum, at the window's last sample.
    Max,
    /// The reset-adjusted counter, at the window's first and last sample.
    Counter,
}

impl Aggregate {
    /// The `__aggr__` label value.
    pub fn label_value(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Counter => "counter",
        }
    }
}

/// A downsampled tier a source can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Window size.
    pub resolution_ms: i64,
    /// Every window ending at or before this time is in the tier; later
    /// windows may still be open (or unpublished), so later evaluation
    /// times read raw data. A multiple of the resolution.
    pub complete_until_ms: i64,
}

/// A store of raw series the engine reads from.
#[async_trait]
pub trait SeriesSource: Send + Sync {
    /// Every series matching all `matchers`, with its samples whose
    /// timestamps lie in `[start_ms, end_ms]` (both ends inclusive; the
    /// engine applies PromQL's left-open windows itself). Samples ascend by
    /// timestamp. Series with no sample in the window may be omitted.
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError>;

    /// Results of the query's leaves computed ahead of evaluation (see
    /// [`crate::Engine::plan_query`]); `None` (the default) when the
    /// evaluator computes every node itself.
    fn leaf_results(&self) -> Option<&crate::LeafResults> {
        None
    }

    /// The downsampled tiers this source can read (none by default).
    async fn tiers(&self) -> Result<Vec<Tier>, SourceError> {
        Ok(Vec::new())
    }

    /// Like [`SeriesSource::select`], but one aggregate of the tier with
    /// this resolution; the series come back labelled like the raw series
    /// (without `__aggr__`).
    async fn select_aggregate(
        &self,
        resolution_ms: i64,
        aggregate: Aggregate,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let _ = (resolution_ms, aggregate, matchers, start_ms, end_ms);
        Ok(Vec::new())
    }
}

/// Series held in memory: test data, and the recent-sample window of the
/// rule evaluator.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    series: Vec<TimeSeries>,
    tiers: Vec<(Tier, MemorySource)>,
}

impl MemorySource {
    /// A source over these series (samples must ascend by timestamp).
    pub fn new(series: Vec<TimeSeries>) -> Self {
        MemorySource {
            series,
            tiers: Vec::new(),
        }
    }

    /// Adds a downsampled tier: `series` as the downsampler publishes them
    /// (with `__aggr__`).
    pub fn with_tier(mut self, tier: Tier, series: Vec<TimeSeries>) -> Self {
        self.tiers.push((tier, MemorySource::new(series)));
        self
    }

    fn select_now(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<TimeSeries> {
        select_in_memory(
            self.series.iter().map(|s| (&s.labels, s.samples.as_slice())),
            matchers,
            start_ms,
            end_ms,
        )
    }
}

/// [`SeriesSource::select`] over series held in memory (samples ascending):
/// the series matching every matcher, cut to `[start_ms, end_ms]`, those
/// left empty dropped. Shared by every in-memory source (tests, the rule
/// evaluator's window, promtool-style unit tests).
pub fn select_in_memory<'a>(
    series: impl Iterator<Item = (&'a Labels, &'a [Sample])>,
    matchers: &[Matcher],
    start_ms: i64,
    end_ms: i64,
) -> Vec<TimeSeries> {
    series
        .filter(|(labels, _)| matchers.iter().all(|m| m.matches_labels(labels)))
        .filter_map(|(labels, samples)| {
            let lo = samples.partition_point(|x| x.timestamp_ms < start_ms);
            let hi = samples.partition_point(|x| x.timestamp_ms <= end_ms);
            (lo < hi).then(|| TimeSeries {
                labels: labels.clone(),
                samples: samples[lo..hi].to_vec(),
            })
        })
        .collect()
}

#[async_trait]
impl SeriesSource for MemorySource {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        Ok(self.select_now(matchers, start_ms, end_ms))
    }

    async fn tiers(&self) -> Result<Vec<Tier>, SourceError> {
        Ok(self.tiers.iter().map(|(t, _)| *t).collect())
    }

    async fn select_aggregate(
        &self,
        resolution_ms: i64,
        aggregate: Aggregate,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let Some((_, tier)) = self.tiers.iter().find(|(t, _)| t.resolution_ms == resolution_ms) else {
            return Ok(Vec::new());
        };
        let mut ms = matchers.to_vec();
        ms.push(
            Matcher::new(AGGR_LABEL, MatchOp::Equal, aggregate.label_value())
                .map_err(|e| SourceError(e.to_string()))?,
        );
        let mut out = tier.select_now(&ms, start_ms, end_ms);
        for s in &mut out {
            s.labels.remove(AGGR_LABEL);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_matchers_are_anchored_and_absent_is_empty() {
        let m = Matcher::new("job", MatchOp::Regex, "no.e").unwrap();
        assert!(m.matches("node"));
        assert!(!m.matches("nodes"));
        let absent = Matcher::new("x", MatchOp::Equal, "").unwrap();
        assert!(absent.matches_labels(&Labels::new([("job", "a")])));
    }
}
