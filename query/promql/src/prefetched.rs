//! A [`SeriesSource`] over reads made beforehand.
//!
//! The query layer runs a PromQL query as a DataFusion plan: the engine's
//! reads ([`crate::Engine::select_requests`]) become scans in that plan, and
//! their results are handed back to the engine through this source, so the
//! engine evaluates exactly the data the plan read.

use std::collections::HashMap;

use async_trait::async_trait;
use sluice_model::TimeSeries;

use crate::LeafResults;
use crate::plan::SelectRequest;
use crate::{Matcher, SeriesSource, SourceError};

/// Answers the reads it was given, and refuses any other.
#[derive(Debug, Default)]
pub struct PrefetchedSource {
    reads: HashMap<String, Vec<TimeSeries>>,
    /// The query's leaves, computed by the plan (see [`crate::leaves`]).
    leaves: Option<LeafResults>,
}

impl PrefetchedSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the result of one read.
    pub fn insert(&mut self, request: &SelectRequest, series: Vec<TimeSeries>) {
        self.reads.insert(request.key(), series);
    }

    /// Records the results of the query's leaves, in
    /// [`crate::Engine::plan_query`]'s order; the engine then takes them
    /// instead of evaluating those nodes, and reads only the rest.
    pub fn set_leaf_results(&mut self, results: LeafResults) {
        self.leaves = Some(results);
    }
}

#[async_trait]
impl SeriesSource for PrefetchedSource {
    fn leaf_results(&self) -> Option<&LeafResults> {
        self.leaves.as_ref()
    }

    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let request = SelectRequest {
            matchers: matchers.to_vec(),
            start_ms,
            end_ms,
        };
        // A miss means the plan and the engine disagree on the reads: a bug,
        // reported rather than answered with an empty (wrong) result.
        self.reads
            .get(&request.key())
            .cloned()
            .ok_or_else(|| SourceError(format!("read {} was not planned", request.key())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, MatchOp, MemorySource, Value};
    use sluice_model::{Labels, Sample};

    fn series(name: &str, job: &str, vals: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([("__name__", name), ("job", job)]),
            samples: vals.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    /// The engine over prefetched reads answers exactly as over the source
    /// the reads came from.
    #[tokio::test]
    async fn answers_like_the_source_it_was_filled_from() {
        let data = MemorySource::new(vec![
            series("x", "a", &[(0, 1.0), (15_000, 4.0), (30_000, 9.0)]),
            series("x", "b", &[(0, 2.0), (15_000, 2.0), (30_000, 2.0)]),
            series("y", "a", &[(0, 5.0)]),
        ]);
        let engine = Engine::default();
        let q = "sum by (job) (rate(x[1m])) / on(job) group_left x or y offset 10s";
        let requests = engine.select_requests(q, 30_000, 60_000).unwrap();
        assert!(requests.len() >= 2, "{requests:?}");
        let mut pre = PrefetchedSource::new();
        for r in &requests {
            pre.insert(r, data.select(&r.matchers, r.start_ms, r.end_ms).await.unwrap());
        }
        let want = engine.range(&data, q, 30_000, 60_000, 15_000).await.unwrap();
        let got = engine.range(&pre, q, 30_000, 60_000, 15_000).await.unwrap();
        assert_eq!(format!("{:?}", got.value), format!("{:?}", want.value));
        assert!(matches!(got.value, Value::Matrix(ref m) if !m.is_empty()));
    }

    #[tokio::test]
    async fn refuses_reads_it_was_not_given() {
        let pre = PrefetchedSource::new();
        let m = Matcher::new("__name__", MatchOp::Equal, "x").unwrap();
        let err = pre.select(&[m], 0, 1).await.unwrap_err();
        assert!(err.0.contains("was not planned"), "{err}");
    }
}
