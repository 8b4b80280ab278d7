//! Helpers for serialising operator state.

/// Serialises an `f64` as its IEEE-754 bits: checkpoints must round-trip
/// NaN (including Prometheus' StaleNaN pattern) and infinities exactly,
/// which JSON numbers cannot carry.
pub(crate) mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bits.
    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    /// Reads the bits.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct V(#[serde(with = "super::f64_bits")] f64);

    #[test]
    fn nan_and_infinity_round_trip() {
        for v in [f64::NAN, f64::INFINITY, -0.0, sluice_model::stale_nan()] {
            let json = serde_json::to_string(&V(v)).unwrap();
            let back: V = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0.to_bits(), v.to_bits());
        }
    }
}
