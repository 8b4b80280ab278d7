//! Sample values and timestamps in both formats.
//!
//! Text 0.0.4 follows Go's `strconv` loosely (Rust's float syntax: decimal,
//! exponent, case-insensitive `NaN`/`Inf`/`Infinity`; no hex floats or digit
//! underscores) and has integer millisecond timestamps. OpenMetrics is
//! stricter: only the ABNF `realnumber` syntax or the special values, and
//! timestamps are decimal seconds, converted here exactly (no float
//! rounding) to milliseconds.

/// A decimal number split into its parts, borrowed from the input.
struct Decimal<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exp: i64,
}

/// `[sign] (1*DIGIT ["." *DIGIT] / "." 1*DIGIT) ["e" [sign] 1*DIGIT]`.
fn decimal(s: &str) -> Option<Decimal<'_>> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
    let n_int = digits(body);
    let int = &body[..n_int];
    let mut rest = &body[n_int..];
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let n = digits(r);
        frac = &r[..n];
        rest = &r[n..];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let (neg_exp, r) = match r.as_bytes().first() {
            Some(b'-') => (true, &r[1..]),
            Some(b'+') => (false, &r[1..]),
            _ => (false, r),
        };
        let n = digits(r);
        if n == 0 || n != r.len() {
            return None;
        }
        // Saturate absurd exponents; they only matter as "huge" or "tiny".
        let t = r.trim_start_matches('0');
        let e = if t.len() > 9 {
            999_999_999
        } else {
            t.parse().unwrap_or(0)
        };
        exp = if neg_exp { -e } else { e };
        rest = "";
    }
    rest.is_empty().then_some(Decimal {
        negative,
        int,
        frac,
        exp,
    })
}

/// An OpenMetrics number: a decimal, or (case-insensitively, as ABNF string
/// literals are) `NaN`, `Inf`, `Infinity` with an optional sign.
pub(super) fn om_value(s: &str) -> Option<f64> {
    if decimal(s).is_some() {
        return s.parse().ok();
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    None
}

/// A `le` or `quantile` label value. Finite values may be written any way
/// (the suite's `histogram_noncanonical` case), but infinities must use the
/// canonical `+Inf`/`-Inf` spelling (`le="+INF"` is rejected).
pub(super) fn om_threshold(s: &str) -> Option<f64> {
    let v = om_value(s)?;
    if v.is_infinite() && s != "+Inf" && s != "-Inf" {
        return None;
    }
    Some(v)
}

/// An OpenMetrics timestamp: decimal seconds (no NaN/Inf) to milliseconds,
/// truncated toward zero like Prometheus does. Computed on the decimal
/// digits so `1.005` is 1005 ms, not 1004 from float error. Values beyond
/// the i64 range saturate (the suite's `timestamps` case has a 20-digit
/// second count that must parse).
pub(super) fn om_timestamp_ms(s: &str) -> Option<i64> {
    let d = decimal(s)?;
    // Number of digits of `int ++ frac` that lie before the decimal point
    // once the value is scaled to milliseconds.
    let point = d.int.len() as i64 + d.exp + 3;
    let mut ms: i64 = 0;
    let mut used = 0i64;
    for c in d.int.bytes().chain(d.frac.bytes()) {
        if used >= point {
            break;
        }
        ms = ms.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        used += 1;
    }
    if ms != 0 {
        // Trailing zeros implied by the exponent; 20 more digits saturate.
        for _ in used..point.min(used + 20) {
            ms = ms.saturating_mul(10);
        }
    }
    Some(if d.negative { -ms } else { ms })
}

/// A text 0.0.4 value.
pub(super) fn text_value(s: &str) -> Option<f64> {
    // Rust accepts the same decimal and special-value syntax as Go's
    // ParseFloat minus hex floats and underscores, which exporters don't emit.
    s.parse().ok()
}

/// A text 0.0.4 timestamp: integer milliseconds.
pub(super) fn text_timestamp_ms(s: &str) -> Option<i64> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_values_accept_decimals_and_specials_only() {
        for (s, v) in [
            ("1", 1.0),
            ("-1.5", -1.5),
            ("+.5", 0.5),
            ("1.", 1.0),
            ("1e3", 1000.0),
            ("1.2E-1", 0.12),
            ("0001", 1.0),
        ] {
            assert_eq!(om_value(s), Some(v), "{s}");
        }
        assert!(om_value("NaN").unwrap().is_nan());
        assert_eq!(om_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(om_value("-inf"), Some(f64::NEG_INFINITY));
        for bad in [
            "", "a", "1_2", "0x1", "0x1p-3", "1e", "1 ", " 1", ".", "-", "1e1.5", "0b1",
        ] {
            assert_eq!(om_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn thresholds_require_canonical_infinity() {
        assert_eq!(om_threshold("+Inf"), Some(f64::INFINITY));
        assert_eq!(om_threshold("1e-04"), Some(1e-4));
        assert_eq!(om_threshold("+INF"), None);
        assert_eq!(om_threshold("Inf"), None);
    }

    #[test]
    fn openmetrics_timestamps_convert_exactly_to_ms() {
        assert_eq!(om_timestamp_ms("1"), Some(1000));
        assert_eq!(om_timestamp_ms("1.005"), Some(1005));
        assert_eq!(om_timestamp_ms("1.0059"), Some(1005));
        assert_eq!(om_timestamp_ms("-1.1"), Some(-1100));
        assert_eq!(om_timestamp_ms("1.5e3"), Some(1_500_000));
        assert_eq!(om_timestamp_ms("15e-4"), Some(1));
        assert_eq!(om_timestamp_ms("000"), Some(0));
        assert_eq!(om_timestamp_ms("0.0000000001"), Some(0));
        assert_eq!(om_timestamp_ms("1.726839813016397e+09"), Some(1_726_839_813_016));
        assert_eq!(om_timestamp_ms("12345678901234567890.1"), Some(i64::MAX));
        for bad in ["NaN", "Inf", "-Inf", "1z", "1_2", "1.1.1", "0x1p-3", ""] {
            assert_eq!(om_timestamp_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn text_values_and_timestamps() {
        assert!(text_value("NaN").unwrap().is_nan());
        assert_eq!(text_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(text_value("1.5e+06"), Some(1.5e6));
        assert_eq!(text_value("0x10"), None);
        assert_eq!(text_timestamp_ms("-1234"), Some(-1234));
        assert_eq!(text_timestamp_ms("1.5"), None);
    }
}
