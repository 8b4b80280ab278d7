//! A [`SeriesSource`] that adds the samples written earlier in the same
//! group evaluation to the caller's source: in Prometheus each rule's output
//! is committed before the next rule runs, so a rule can read the series a
//! rule above it just recorded.

use async_trait::async_trait;
use sluice_model::{Sample, TimeSeries};
use sluice_promql::{Matcher, SeriesSource, SourceError};

use crate::OutputSample;

pub(crate) struct Overlay<'a> {
    pub(crate) base: &'a dyn SeriesSource,
    pub(crate) extra: &'a [OutputSample],
}

#[async_trait]
impl SeriesSource for Overlay<'_> {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let mut series = self.base.select(matchers, start_ms, end_ms).await?;
        for s in self.extra {
            if s.timestamp_ms < start_ms
                || s.timestamp_ms > end_ms
                || !matchers.iter().all(|m| m.matches_labels(&s.labels))
            {
                continue;
            }
            let sample = Sample::new(s.timestamp_ms, s.value);
            match series.iter_mut().find(|t| t.labels == s.labels) {
                Some(t) => {
                    // The newer write wins at an equal timestamp.
                    t.samples.retain(|x| x.timestamp_ms != sample.timestamp_ms);
                    let at = t
                        .samples
                        .partition_point(|x| x.timestamp_ms < sample.timestamp_ms);
                    t.samples.insert(at, sample);
                }
                None => series.push(TimeSeries {
                    labels: s.labels.clone(),
                    samples: vec![sample],
                }),
            }
        }
        Ok(series)
    }
}
