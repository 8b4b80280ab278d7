//! Vector and matrix selectors over data fetched before evaluation.

use promql_parser::parser::{MatrixSelector, VectorSelector};
use sluice_model::TimeSeries;

use super::{Evaluator, Grid, Matrix, RawSeries, Series, dur_ms, offset_ms};
use crate::QueryError;

/// The key under which [`crate::plan`] stored a selector's data.
pub(crate) fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

fn fetched<'a>(ev: &Evaluator<'a>, vs: &VectorSelector) -> &'a [TimeSeries] {
    ev.data
        .get(&selector_key(vs))
        .map(|v| v.as_slice())
        .unwrap_or(&[])
}

/// Window end per step: the step time (or the `@` time) minus the offset.
pub(crate) fn window_ends(ev: &Evaluator<'_>, vs: &VectorSelector, grid: Grid) -> Vec<i64> {
    let off = offset_ms(&vs.offset);
    let at = ev.at_ms(&vs.at);
    (0..grid.len()).map(|i| at.unwrap_or(grid.ts(i)) - off).collect()
}

/// Instant vector selector: at each step the latest sample in
/// `(t - lookback, t]`, unless that sample is a staleness marker. With
/// `timestamps`, yields the sample's timestamp in seconds instead of its
/// value (what `timestamp(selector)` reports).
pub(crate) fn eval_vector_selector(
    ev: &mut Evaluator<'_>,
    vs: &VectorSelector,
    grid: Grid,
    timestamps: bool,
) -> Result<Vec<Series>, QueryError> {
    let ends = window_ends(ev, vs, grid);
    let lookback = ev.lookback;
    let mut out = Vec::new();
    let mut queryable = vec![0u64; ends.len()];
    // Counted as we go so an oversized result fails before it is built.
    let mut points = 0usize;
    for ts in fetched(ev, vs) {
        let vals = crate::steps::selector_values(&ts.samples, &ends, lookback, timestamps);
        if vals.iter().any(Option::is_some) {
            for (q, v) in queryable.iter_mut().zip(&vals) {
                *q += u64::from(v.is_some());
            }
            points += vals.iter().flatten().count();
            ev.check_samples(points)?;
            out.push(Series {
                labels: ts.labels.clone(),
                drop_name: false,
                vals,
            });
        }
    }
    ev.counter.borrow_mut().add(grid, queryable);
    Ok(out)
}

/// Matrix selector: the raw samples (staleness markers removed) with a
/// window per step.
pub(crate) fn eval_matrix_selector(
    ev: &mut Evaluator<'_>,
    ms: &MatrixSelector,
    grid: Grid,
) -> Result<Matrix, QueryError> {
    let ends = window_ends(ev, &ms.vs, grid);
    build_matrix(ev, fetched(ev, &ms.vs), dur_ms(&ms.range), ends, grid)
}

/// A range vector over `data` with windows `(end - range, end]`; also the
/// way a downsampled tier's aggregates become a range vector.
pub(crate) fn build_matrix(
    ev: &Evaluator<'_>,
    data: &[TimeSeries],
    range: i64,
    ends: Vec<i64>,
    grid: Grid,
) -> Result<Matrix, QueryError> {
    let mut series = Vec::new();
    for ts in data {
        let samples = crate::steps::range_samples(&ts.samples, &ends, range);
        if samples.is_empty() {
            continue;
        }
        series.push(RawSeries {
            labels: ts.labels.clone(),
            drop_name: false,
            samples,
        });
    }
    let m = Matrix { series, range, ends };
    // Samples held at once: the largest total window size over the steps.
    let mut per_step = vec![0usize; m.ends.len()];
    for s in 0..m.series.len() {
        for (total, w) in per_step.iter_mut().zip(m.windows(s)) {
            *total += w.len();
        }
    }
    let max_window = per_step.iter().copied().max().unwrap_or(0);
    ev.counter
        .borrow_mut()
        .add(grid, per_step.into_iter().map(|n| n as u64));
    ev.check_samples(max_window)?;
    Ok(m)
}
