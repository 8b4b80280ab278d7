//! What a query cost, as Prometheus' `stats` query parameter reports it.

use std::time::Duration;

use crate::eval::Grid;

/// Timings and sample counts of one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    /// Samples the selectors made available to the evaluation, summed over
    /// the steps, as Prometheus counts them: per step, one per series an
    /// instant selector yields a value for, and every point in a range
    /// selector's window.
    pub total_queryable_samples: u64,
    /// The same per evaluation step (`[timestamp_ms, count]`); `None` when
    /// a subquery evaluates selectors on its own steps, which do not map
    /// onto the query's.
    pub total_queryable_samples_per_step: Option<Vec<(i64, u64)>>,
    /// The largest number of points one node held at once.
    pub peak_samples: u64,
    /// Raw samples read from storage.
    pub samples_fetched: u64,
    /// Planning and reading the selectors' data.
    pub preparation: Duration,
    /// Evaluating the expression over the data.
    pub inner_eval: Duration,
    /// Merging and sorting the result.
    pub result_sort: Duration,
}

/// Counts queryable samples while the evaluator runs.
#[derive(Debug)]
pub(crate) struct SampleCounter {
    query_grid: Grid,
    total: u64,
    per_step: Option<Vec<u64>>,
    peak: u64,
}

impl SampleCounter {
    pub(crate) fn new(query_grid: Grid) -> Self {
        SampleCounter {
            query_grid,
            total: 0,
            per_step: Some(vec![0; query_grid.len()]),
            peak: 0,
        }
    }

    /// A selector evaluated over `grid` made `per_step[i]` samples
    /// available at its step `i`.
    pub(crate) fn add(&mut self, grid: Grid, per_step: impl IntoIterator<Item = u64>) {
        let attributable = grid == self.query_grid;
        let mut steps = self.per_step.take().filter(|_| attributable);
        for (i, n) in per_step.into_iter().enumerate() {
            self.total += n;
            if let Some(slot) = steps.as_mut().and_then(|s| s.get_mut(i)) {
                *slot += n;
            }
        }
        self.per_step = steps;
    }

    pub(crate) fn peak(&mut self, n: usize) {
        self.peak = self.peak.max(n as u64);
    }

    pub(crate) fn finish(self, stats: &mut QueryStats) {
        stats.total_queryable_samples = self.total;
        stats.peak_samples = self.peak;
        let grid = self.query_grid;
        stats.total_queryable_samples_per_step = self
            .per_step
            .map(|v| v.into_iter().enumerate().map(|(i, n)| (grid.ts(i), n)).collect());
    }
}
