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

#[cfg(test)]
mod leaf_tests {
    use super::*;
    use crate::steps::{instant_values, range_samples, windows};
    use crate::{Engine, Leaf, LeafKind, MemorySource, parse_expr};
    use sluice_model::{Labels, Sample};

    fn series(name: &str, job: &str, vals: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new([("__name__", name), ("job", job)]),
            samples: vals.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    fn data() -> MemorySource {
        let ramp = |k: f64| (0..=8).map(|i| (i * 15_000, k * i as f64)).collect::<Vec<_>>();
        MemorySource::new(vec![
            series("x", "a", &ramp(1.0)),
            series("x", "b", &ramp(3.0)),
            series(
                "y",
                "a",
                &[(0, 5.0), (30_000, f64::from_bits(sluice_model::STALE_NAN_BITS))],
            ),
        ])
    }

    /// A leaf's result computed the way the query layer's nodes do it.
    fn compute(leaf: &Leaf, read: Vec<TimeSeries>) -> Vec<TimeSeries> {
        let ends = leaf.steps.ends();
        read.into_iter()
            .map(|ts| {
                let vals: Vec<Option<f64>> = match &leaf.kind {
                    LeafKind::Instant { lookback_ms } => instant_values(&ts.samples, &ends, *lookback_ms),
                    LeafKind::Range { range_ms, function } => {
                        let kept = range_samples(&ts.samples, &ends, *range_ms);
                        windows(&kept, &ends, *range_ms)
                            .into_iter()
                            .enumerate()
                            .map(|(i, w)| function.apply(&kept[w], leaf.steps.step_ts(i), ends[i], *range_ms))
                            .collect()
                    }
                };
                TimeSeries {
                    labels: ts.labels,
                    samples: vals
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.map(|v| Sample::new(leaf.steps.step_ts(i), v)))
                        .collect(),
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn precomputed_leaves_answer_like_the_engine() {
        let data = data();
        let engine = Engine::default();
        let q = "sum by (job) (rate(x[1m])) / on(job) group_left x or y offset 10s \
                 or quantile_over_time(2, x[1m] @ 60) or max_over_time(x[1m:15s])";
        let expr = parse_expr(q).unwrap();
        let plan = engine.plan_query(&expr, 30_000, 120_000, 15_000).unwrap();
        // rate, x, y, quantile_over_time; the subquery's selector is read raw.
        assert_eq!(plan.leaves.len(), 4, "{:?}", plan.leaves);
        assert_eq!(plan.reads.len(), 1, "{:?}", plan.reads);
        let mut pre = PrefetchedSource::new();
        let mut results = Vec::new();
        for leaf in &plan.leaves {
            let r = &leaf.read;
            results.push(compute(
                leaf,
                data.select(&r.matchers, r.start_ms, r.end_ms).await.unwrap(),
            ));
        }
        for r in &plan.reads {
            pre.insert(r, data.select(&r.matchers, r.start_ms, r.end_ms).await.unwrap());
        }
        pre.set_leaf_results(results);
        let want = engine.range(&data, q, 30_000, 120_000, 15_000).await.unwrap();
        let got = engine.range(&pre, q, 30_000, 120_000, 15_000).await.unwrap();
        assert_eq!(format!("{:?}", got.value), format!("{:?}", want.value));
        assert_eq!(got.warnings, want.warnings);
        assert_eq!(got.infos, want.infos);
        assert!(!want.warnings.is_empty() && !want.infos.is_empty(), "{want:?}");
    }

    #[tokio::test]
    async fn missing_leaf_results_are_an_error() {
        let mut pre = PrefetchedSource::new();
        pre.set_leaf_results(Vec::new());
        let err = Engine::default()
            .instant(&pre, "rate(x[1m])", 60_000)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("the plan computed 0 leaves, the query has 1"),
            "{err}"
        );
    }

    #[test]
    fn nodes_off_the_query_grid_are_not_leaves() {
        let engine = Engine::default();
        for (q, leaves, reads) in [
            ("rate(x[5m])[10m:1m]", 0, 1),
            ("timestamp(x)", 0, 1),
            ("absent_over_time(x[5m])", 0, 1),
            ("x[5m]", 0, 1),
            ("quantile_over_time(scalar(y), x[5m])", 1, 1),
            ("double_exponential_smoothing(x[5m], 2, 0.5)", 0, 1),
            ("x{a=\"1\" or b=\"2\"}", 0, 2),
            (
                "sum(x) + rate(y[1m] offset 1m) + -predict_linear((x[5m]), -(60))",
                3,
                0,
            ),
        ] {
            let plan = engine
                .plan_query(&parse_expr(q).unwrap(), 0, 60_000, 15_000)
                .unwrap();
            assert_eq!(
                (plan.leaves.len(), plan.reads.len()),
                (leaves, reads),
                "{q}: {plan:?}"
            );
        }
    }
}
