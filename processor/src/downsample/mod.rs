//! Event-time downsampling: per series, tumbling windows at several
//! resolutions (default 5 m and 1 h), each keeping count, sum, min, max and
//! a reset-proof counter aggregate ([`aggregate`]).
//!
//! Output: for every closed window, five series on
//! `<prefix>.samples.<resolution>` (same partition as the input, so a
//! series stays partition-local downstream): the raw series' labels plus
//! `__aggr__` = `count|sum|min|max|counter`, one sample at the window's last
//! raw timestamp (the counter also one at its first). See
//! `docs/bus-format.md`.

pub mod aggregate;
pub mod encode;
pub mod partition;
mod run;

pub use run::run_downsampler;

#[cfg(test)]
mod tests;

use sluice_model::{Labels, Sample, TimeSeries};

use partition::ClosedWindow;

/// The label that names the aggregate of a downsampled series.
pub use sluice_model::AGGR_LABEL;

/// The series a closed window publishes.
pub fn window_series(w: &ClosedWindow) -> Vec<TimeSeries> {
    w.window
        .points()
        .into_iter()
        .map(|(aggr, points)| {
            let mut labels: Labels = w.labels.clone();
            labels.set(AGGR_LABEL, aggr);
            TimeSeries {
                labels,
                samples: points.into_iter().map(|(t, v)| Sample::new(t, v)).collect(),
            }
        })
        .collect()
}

/// The topic suffix of a resolution: `5m`, `1h`, ...
pub fn resolution_suffix(resolution_ms: i64) -> String {
    sluice_model::PromDuration(std::time::Duration::from_millis(resolution_ms as u64)).to_string()
}
