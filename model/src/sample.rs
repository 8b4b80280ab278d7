//! Samples and series, and Prometheus' staleness marker.

use crate::Labels;

/// Bit pattern of Prometheus' staleness marker, a NaN no arithmetic produces.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True only for the staleness marker, not for ordinary NaNs.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One observation: milliseconds since the Unix epoch and a float value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The value; may be the staleness marker.
    pub value: f64,
}

impl Sample {
    /// Shorthand constructor.
    pub fn new(timestamp_ms: i64, value: f64) -> Self {
        Sample { timestamp_ms, value }
    }
}

/// A label set and its samples in timestamp order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeSeries {
    /// Identity of the series, including `__name__`.
    pub labels: Labels,
    /// Samples, ascending by timestamp.
    pub samples: Vec<Sample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinguished_from_nan() {
        assert!(is_stale_nan(stale_nan()));
        assert!(!is_stale_nan(f64::NAN));
        assert!(stale_nan().is_nan());
    }
}
