//! The unit tests' storage: input series plus everything the rules wrote,
//! readable only up to the current evaluation time (promtool loads input
//! samples lazily, so a rule cannot see the future through `@`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::source::select_in_memory;
use sluice_promql::{Matcher, SeriesSource, SourceError};

#[derive(Debug, Default)]
pub(crate) struct TestStorage {
    series: BTreeMap<Labels, Vec<Sample>>,
    /// Samples after this time are not visible yet.
    pub(crate) visible_until_ms: i64,
}

impl TestStorage {
    /// Adds a sample. Like a TSDB appender it refuses a sample that is not
    /// newer than the series' last one (returns false).
    pub(crate) fn append(&mut self, labels: &Labels, timestamp_ms: i64, value: f64) -> bool {
        let samples = self.series.entry(labels.clone()).or_default();
        if samples
            .last()
            .is_some_and(|last| last.timestamp_ms >= timestamp_ms)
        {
            return false;
        }
        samples.push(Sample::new(timestamp_ms, value));
        true
    }
}

#[async_trait]
impl SeriesSource for TestStorage {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let end_ms = end_ms.min(self.visible_until_ms);
        Ok(select_in_memory(
            self.series.iter().map(|(l, s)| (l, s.as_slice())),
            matchers,
            start_ms,
            end_ms,
        ))
    }
}
