//! The per-series arithmetic of PromQL's step evaluation: what an instant
//! selector yields at each step, which samples fall into each left-open
//! range window, and a range function over one window.
//!
//! The evaluator computes selectors and range functions with these
//! functions, and so do the query layer's plan nodes
//! (`PromInstantManipulate`, `PromRangeManipulate`, `PromRangeFunction`):
//! one implementation of the semantics, whichever path runs it.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use sluice_model::{Sample, is_stale_nan};

use crate::eval::functions::{over_time, rate};

/// What an instant vector selector yields at each window end `t`: the
/// latest sample in `(t - lookback, t]`, unless it is a staleness marker.
/// `samples` ascend by time; `ends` ascend or are all equal (`@`).
pub fn instant_values(samples: &[Sample], ends: &[i64], lookback_ms: i64) -> Vec<Option<f64>> {
    selector_values(samples, ends, lookback_ms, false)
}

/// [`instant_values`]; with `timestamps`, the chosen sample's timestamp in
/// seconds instead of its value (what `timestamp(selector)` reports).
pub(crate) fn selector_values(
    samples: &[Sample],
    ends: &[i64],
    lookback_ms: i64,
    timestamps: bool,
) -> Vec<Option<f64>> {
    // Window ends ascend with the steps (or are all equal under `@`), so
    // one cursor walks the samples once.
    let mut hi = 0;
    ends.iter()
        .map(|&t| {
            if hi > 0 && samples[hi - 1].timestamp_ms > t {
                // Not ascending after all (cannot happen today): restart.
                hi = 0;
            }
            while hi < samples.len() && samples[hi].timestamp_ms <= t {
                hi += 1;
            }
            let s = samples[..hi].last()?;
            if s.timestamp_ms <= t - lookback_ms || is_stale_nan(s.value) {
                return None;
            }
            Some(if timestamps {
                s.timestamp_ms as f64 / 1000.0
            } else {
                s.value
            })
        })
        .collect()
}

/// The samples a range selector keeps for windows ending at `ends`: those
/// inside some window, staleness markers removed.
pub fn range_samples(samples: &[Sample], ends: &[i64], range_ms: i64) -> Vec<Sample> {
    let lo = ends.iter().copied().min().unwrap_or(0) - range_ms;
    let hi = ends.iter().copied().max().unwrap_or(0);
    samples
        .iter()
        .filter(|s| s.timestamp_ms > lo && s.timestamp_ms <= hi && !is_stale_nan(s.value))
        .copied()
        .collect()
}

/// The positions in `samples` of the window `(end - range, end]`.
pub fn window(samples: &[Sample], end: i64, range_ms: i64) -> Range<usize> {
    let lo = samples.partition_point(|x| x.timestamp_ms <= end - range_ms);
    let hi = samples.partition_point(|x| x.timestamp_ms <= end);
    lo..hi.max(lo)
}

/// [`window`] for every end, in order. Ends usually ascend (one per step),
/// so two cursors walk the samples once instead of binary-searching every
/// window.
pub fn windows(samples: &[Sample], ends: &[i64], range_ms: i64) -> Vec<Range<usize>> {
    if !ends.windows(2).all(|w| w[0] <= w[1]) {
        return ends.iter().map(|&e| window(samples, e, range_ms)).collect();
    }
    let (mut lo, mut hi) = (0, 0);
    ends.iter()
        .map(|&end| {
            while hi < samples.len() && samples[hi].timestamp_ms <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].timestamp_ms <= end - range_ms {
                lo += 1;
            }
            lo..hi
        })
        .collect()
}

/// The name of a range function whose value at a step depends only on one
/// series' window (and constant parameters): the rate family and the
/// `*_over_time`-style functions, but not `absent_over_time`, which looks
/// at all series at once.
fn per_series_range_function(name: &str) -> Option<&'static str> {
    if name == "absent_over_time" {
        return None;
    }
    rate::NAMES
        .iter()
        .chain(over_time::NAMES)
        .find(|n| **n == name)
        .copied()
}

/// How many scalar parameters a range function takes besides its range.
fn param_count(name: &str) -> usize {
    match name {
        "quantile_over_time" | "predict_linear" => 1,
        "holt_winters" | "double_exponential_smoothing" => 2,
        _ => 0,
    }
}

/// One range function with constant parameters.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct RangeFunction {
    name: &'static str,
    params: [f64; 2],
}

impl RangeFunction {
    /// `name` with `params` (its scalar arguments in call order, without
    /// the range vector); an error for functions that are not per-series
    /// range functions, wrong parameter counts and invalid smoothing
    /// factors.
    pub fn new(name: &str, params: &[f64]) -> Result<Self, String> {
        let Some(name) = per_series_range_function(name) else {
            return Err(format!("{name:?} is not a per-series range function"));
        };
        if params.len() != param_count(name) {
            return Err(format!(
                "{name} takes {} parameters, got {}",
                param_count(name),
                params.len()
            ));
        }
        let mut p = [0.0; 2];
        p[..params.len()].copy_from_slice(params);
        if param_count(name) == 2 {
            over_time::check_smoothing(p[0], p[1]).map_err(|e| e.to_string())?;
        }
        Ok(RangeFunction { name, params: p })
    }

    /// The function's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The scalar parameters.
    pub fn params(&self) -> &[f64] {
        &self.params[..param_count(self.name)]
    }

    /// Whether the result drops `__name__` (all but `last_over_time` and
    /// `first_over_time`, which return a sample as is).
    pub fn drops_metric_name(&self) -> bool {
        !over_time::keeps_metric_name(self.name)
    }

    /// The value over one window `w` (the samples in `(end - range, end]`)
    /// for the step at `step_ts`; `None` where Prometheus has no point.
    pub fn apply(&self, w: &[Sample], step_ts: i64, end: i64, range_ms: i64) -> Option<f64> {
        if w.is_empty() {
            return None;
        }
        match self.name {
            name if rate::handles(name) => rate::window_value(name, w, end, range_ms),
            name => over_time::window_value(name, w, step_ts, self.params),
        }
    }
}

impl Eq for RangeFunction {}

impl Hash for RangeFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        for p in self.params {
            p.to_bits().hash(state);
        }
    }
}

/// `rate` or `quantile_over_time(0.9)`.
impl fmt::Display for RangeFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        if !self.params().is_empty() {
            let ps: Vec<String> = self.params().iter().map(|p| p.to_string()).collect();
            write!(f, "({})", ps.join(", "))?;
        }
        Ok(())
    }
}
