//! Where the engine gets raw series from: the [`SeriesSource`] trait and its
//! label [`Matcher`]s, plus an in-memory source for tests and rule windows.

use async_trait::async_trait;
use regex::Regex;
use sluice_model::{Labels, TimeSeries};

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
}

/// Series held in memory: test data, and the recent-sample window of the
/// rule evaluator.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    series: Vec<TimeSeries>,
}

impl MemorySource {
    /// A source over these series (samples must ascend by timestamp).
    pub fn new(series: Vec<TimeSeries>) -> Self {
        MemorySource { series }
    }
}

#[async_trait]
impl SeriesSource for MemorySource {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        Ok(self
            .series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)))
            .filter_map(|s| {
                let lo = s.samples.partition_point(|x| x.timestamp_ms < start_ms);
                let hi = s.samples.partition_point(|x| x.timestamp_ms <= end_ms);
                (lo < hi).then(|| TimeSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                })
            })
            .collect())
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
