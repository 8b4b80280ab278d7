//! What one downsampled window keeps about one series.
//!
//! As Thanos' `AggrChunk`: count, sum, min and max of the raw values, and a
//! counter aggregate that survives counter resets. The counter aggregate is
//! the reset-adjusted counter value at the window's last sample: raw value
//! plus every value lost to earlier resets. That makes the tier's counter
//! series monotonic across windows, so `rate`/`increase` over it need no
//! reset handling of their own and agree with the raw data up to the
//! extrapolation at the range edges.

use serde::{Deserialize, Serialize};
use sluice_model::Sample;

/// The aggregates of one series in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowAggregate {
    /// Window start (exclusive: the window is `(start, start + resolution]`), ms.
    pub start_ms: i64,
    /// Timestamp of the first sample in the window.
    pub first_ms: i64,
    /// Reset-adjusted counter value at the first sample.
    #[serde(with = "crate::state_codec::f64_bits")]
    pub counter_first: f64,
    /// Timestamp of the last sample in the window: every aggregate is
    /// published at this time, so a range that covers whole windows selects
    /// the same samples on the tier as on the raw data.
    pub last_ms: i64,
    /// Number of samples.
    pub count: u64,
    /// Sum of the values.
    #[serde(with = "crate::state_codec::f64_bits")]
    pub sum: f64,
    /// Smallest value.
    #[serde(with = "crate::state_codec::f64_bits")]
    pub min: f64,
    /// Largest value.
    #[serde(with = "crate::state_codec::f64_bits")]
    pub max: f64,
    /// Reset-adjusted counter value at the last sample.
    #[serde(with = "crate::state_codec::f64_bits")]
    pub counter: f64,
}

impl WindowAggregate {
    /// A window holding one sample.
    pub fn first(start_ms: i64, ts: i64, value: f64, counter: f64) -> Self {
        WindowAggregate {
            start_ms,
            first_ms: ts,
            counter_first: counter,
            last_ms: ts,
            count: 1,
            sum: value,
            min: value,
            max: value,
            counter,
        }
    }

    /// Adds a later sample.
    pub fn add(&mut self, ts: i64, value: f64, counter: f64) {
        self.last_ms = ts;
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.counter = counter;
    }

    /// `(aggregate name, [(timestamp, value)])`, as published: every
    /// aggregate at the last sample's time, the counter also at the first's.
    pub fn points(&self) -> Vec<(&'static str, Vec<(i64, f64)>)> {
        let mut out = Vec::new();
        self.for_each_series(|aggr, samples| {
            out.push((aggr, samples.iter().map(|s| (s.timestamp_ms, s.value)).collect()));
        });
        out
    }

    /// [`WindowAggregate::points`] without allocating: `f` gets each
    /// aggregate's name and samples in turn.
    pub fn for_each_series(&self, mut f: impl FnMut(&'static str, &[Sample])) {
        let at_last = |v: f64| Sample::new(self.last_ms, v);
        f("count", &[at_last(self.count as f64)]);
        f("sum", &[at_last(self.sum)]);
        f("min", &[at_last(self.min)]);
        f("max", &[at_last(self.max)]);
        if self.first_ms < self.last_ms {
            f(
                "counter",
                &[
                    Sample::new(self.first_ms, self.counter_first),
                    at_last(self.counter),
                ],
            );
        } else {
            f("counter", &[at_last(self.counter)]);
        }
    }
}

/// Reset detection for one series, fed in timestamp order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CounterTrack {
    #[serde(with = "crate::state_codec::f64_bits")]
    last_raw: f64,
    /// Sum of the values the counter had just before each reset.
    #[serde(with = "crate::state_codec::f64_bits")]
    offset: f64,
}

impl Default for CounterTrack {
    fn default() -> Self {
        // NaN: no value yet (every comparison with it is false).
        CounterTrack {
            last_raw: f64::NAN,
            offset: 0.0,
        }
    }
}

impl CounterTrack {
    /// Feeds the next raw value; returns the reset-adjusted value.
    pub fn adjust(&mut self, raw: f64) -> f64 {
        let prev = self.last_raw;
        if raw < prev {
            // A drop is a reset (Prometheus' rule): the counter restarted
            // from zero, so everything up to `prev` was already counted.
            self.offset += prev;
        }
        self.last_raw = raw;
        raw + self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_track_removes_resets() {
        let mut c = CounterTrack::default();
        let adjusted: Vec<f64> = [5.0, 7.0, 2.0, 4.0, 1.0].iter().map(|v| c.adjust(*v)).collect();
        assert_eq!(adjusted, vec![5.0, 7.0, 9.0, 11.0, 12.0]);
    }

    #[test]
    fn window_aggregates() {
        let mut w = WindowAggregate::first(0, 10, 3.0, 3.0);
        w.add(20, -1.0, 4.0);
        w.add(30, 5.0, 9.0);
        assert_eq!(
            w.points(),
            vec![
                ("count", vec![(30, 3.0)]),
                ("sum", vec![(30, 7.0)]),
                ("min", vec![(30, -1.0)]),
                ("max", vec![(30, 5.0)]),
                ("counter", vec![(10, 3.0), (30, 9.0)]),
            ]
        );
        assert_eq!(w.last_ms, 30);
    }
}
