//! Prometheus duration strings (`15s`, `1m30s`, `100ms`, `2h`, `1d`, `1w`, `1y`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way Prometheus configs write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// From whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        PromDuration(Duration::from_secs(s))
    }
    /// Milliseconds.
    pub fn as_millis(&self) -> i64 {
        self.0.as_millis() as i64
    }
}

/// Parses `[0-9]+(ms|s|m|h|d|w|y)` units, largest first, as Prometheus does.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0usize;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("not a valid duration string: {s:?}"))?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let (idx, unit_len, mult) = if let Some(r) = rest.strip_prefix("ms") {
            let _ = r;
            (6, 2, 1)
        } else {
            let pos = UNITS[..6]
                .iter()
                .position(|(u, _)| rest.starts_with(u))
                .ok_or_else(|| format!("not a valid duration string: {s:?}"))?;
            (pos, 1, UNITS[pos].1)
        };
        if idx < last_unit {
            return Err(format!("not a valid duration string: {s:?} (units out of order)"));
        }
        last_unit = idx + 1;
        rest = &rest[unit_len..];
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
    }
    Ok(Duration::from_millis(total))
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, mult) in [
            ("y", 365 * 24 * 3600 * 1000u64),
            ("w", 7 * 24 * 3600 * 1000),
            ("d", 24 * 3600 * 1000),
            ("h", 3600 * 1000),
            ("m", 60 * 1000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= mult {
                write!(f, "{}{unit}", ms / mult)?;
                ms %= mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(PromDuration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_prometheus_durations() {
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1h1m").unwrap(), Duration::from_secs(3660));
        assert!(parse_duration("1s1m").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("10").is_err());
        assert_eq!(PromDuration(Duration::from_secs(90)).to_string(), "1m30s");
    }
}
