//! Values whose Postgres text form pgwire's encoders do not match: what
//! `psql` users and tools parsing Postgres output expect.
//!
//! Floats as `float8out` with the default
//! `extra_float_digits = 1`): the shortest digits that read back to the
//! same value, in fixed notation unless the decimal exponent is below -4
//! or at least the type's precision (15 for `float8`, 6 for `float4`), then
//! as `1e+20`, `1.5e-05`: `90` rather than ryu's `90.0`, `1e+20` rather
//! than twenty-one digits. Timestamps as `timestamp_out` in the ISO
//! DateStyle and the session's UTC: fractional seconds only when there are
//! any (`00:00:00.123`, not `00:00:00.123000`), the offset as `+00`.

use chrono::DateTime;

/// `timestamp` (`tz`: `timestamptz`, in UTC) text of `us` microseconds
/// since 1970; `None` out of chrono's range.
pub(crate) fn timestamp(us: i64, tz: bool) -> Option<String> {
    let t = DateTime::from_timestamp_micros(us)?;
    let mut out = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = us.rem_euclid(1_000_000);
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    if tz {
        out.push_str("+00");
    }
    Some(out)
}

/// `float8` text.
pub(crate) fn float8(v: f64) -> String {
    format_shortest(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        &format!("{v:e}"),
        15,
    )
}

/// `float4` text.
pub(crate) fn float4(v: f32) -> String {
    format_shortest(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        &format!("{v:e}"),
        6,
    )
}

/// `sci` is Rust's shortest round-trip `{:e}` form (`-1.5e-5`, `9e1`).
fn format_shortest(nan: bool, inf: bool, negative: bool, sci: &str, precision: i32) -> String {
    if nan {
        return "NaN".into();
    }
    if inf {
        return if negative { "-Infinity" } else { "Infinity" }.into();
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    if exp < -4 || exp >= precision {
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{esign}{:02}", exp.unsigned_abs());
    }
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exp + 1;
    let fixed = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{fixed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_postgres_prints_them() {
        // As `float8out` prints them (shortest digits, DBL_DIG = 15).
        let cases = [
            (90.0, "90"),
            (20.5, "20.5"),
            (-0.25, "-0.25"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e20, "1e+20"),
            (123_456_789_012_345.0, "123456789012345"),
            (1_234_567_890_123_456.0, "1.234567890123456e+15"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.5e-7, "-1.5e-07"),
            (1e300, "1e+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (v, want) in cases {
            assert_eq!(float8(v), want, "{v:e}");
        }
        assert_eq!(float4(1.5), "1.5");
        assert_eq!(float4(1_000_000.0), "1e+06");
        assert_eq!(float4(123_456.0), "123456");
    }

    #[test]
    fn timestamps_as_postgres_prints_them_in_utc() {
        let t = 1_699_920_000_000_000;
        assert_eq!(timestamp(t, true).unwrap(), "2023-11-14 00:00:00+00");
        assert_eq!(
            timestamp(t + 123_000, true).unwrap(),
            "2023-11-14 00:00:00.123+00"
        );
        assert_eq!(timestamp(t + 1, false).unwrap(), "2023-11-14 00:00:00.000001");
        assert_eq!(timestamp(-1, false).unwrap(), "1969-12-31 23:59:59.999999");
    }
}
