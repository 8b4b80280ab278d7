//! Floats as Prometheus prints them: sample values in API responses and
//! alert values.

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest exact mantissa
/// and a signed exponent of at least two digits (`1e+00`, `2.5e-07`), as
/// Prometheus' `/api/v1/alerts` and `/api/v1/rules` show an alert's value.
pub fn go_exponent(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// Appends Go's `strconv.FormatFloat(v, 'f', -1, 64)` of a finite `v`: the
/// shortest digits that read back as `v`, in plain decimal notation (no
/// exponent), as Prometheus writes every sample value of a query result.
///
/// Rust's `Display` prints the same text but through the general
/// formatting machinery (its Grisu path was the largest single item in
/// the profile of a 1 h range query); Ryū finds the shortest digits and
/// this places the decimal point. The caller handles NaN and infinities.
pub fn write_go_decimal(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v).as_bytes();
    // Ryū already writes plain decimal notation for magnitudes from 1e-5
    // to below 1e16 — the values counters and gauges usually hold — and
    // differs from Go there only by the `.0` it puts after integers.
    if !text.contains(&b'e') {
        out.extend_from_slice(text.strip_suffix(b".0").unwrap_or(text));
        return;
    }
    place_decimal_point(out, text);
}

/// Go's plain decimal text of Ryū's exponent form (`d.ddde±x`, `de±x`).
fn place_decimal_point(out: &mut Vec<u8>, text: &[u8]) {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // Ryū writes `d.ddd`, `d.ddde±x` or `de±x`: split the mantissa's digits
    // from the decimal exponent, then place the point.
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(i) => (&text[..i], parse_exp(&text[i + 1..])),
        None => (text, 0),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &[][..]),
    };
    let mut digits: Vec<u8> = Vec::with_capacity(int_part.len() + frac_part.len());
    digits.extend_from_slice(int_part);
    digits.extend_from_slice(frac_part);
    // Position of the decimal point, counted in digits from the left.
    let mut point = int_part.len() as i64 + exp;
    let leading = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..leading);
    point -= leading as i64;
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if negative {
        out.push(b'-');
    }
    if digits.is_empty() {
        out.push(b'0');
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-point) as usize, b'0');
        out.extend_from_slice(&digits);
    } else if point as usize >= digits.len() {
        out.extend_from_slice(&digits);
        out.resize(out.len() + point as usize - digits.len(), b'0');
    } else {
        out.extend_from_slice(&digits[..point as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[point as usize..]);
    }
}

/// Ryū's exponent text: an optional `-` and decimal digits.
fn parse_exp(text: &[u8]) -> i64 {
    let (sign, digits) = match text.split_first() {
        Some((b'-', rest)) => (-1, rest),
        _ => (1, text),
    };
    sign * digits.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go() {
        assert_eq!(go_exponent(1.0), "1e+00");
        assert_eq!(go_exponent(20.0), "2e+01");
        assert_eq!(go_exponent(0.00000025), "2.5e-07");
        assert_eq!(go_exponent(1234567.0), "1.234567e+06");
        assert_eq!(go_exponent(-0.5), "-5e-01");
        assert_eq!(go_exponent(0.0), "0e+00");
        assert_eq!(go_exponent(1e300), "1e+300");
        assert_eq!(go_exponent(f64::NAN), "NaN");
    }

    fn go_decimal(v: f64) -> String {
        let mut out = Vec::new();
        write_go_decimal(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn go_decimal_matches_go() {
        // Outputs of Go's strconv.FormatFloat(v, 'f', -1, 64).
        assert_eq!(go_decimal(1.0), "1");
        assert_eq!(go_decimal(-0.0), "-0");
        assert_eq!(go_decimal(0.0), "0");
        assert_eq!(go_decimal(7929834.566666666), "7929834.566666666");
        assert_eq!(go_decimal(1e21), "1000000000000000000000");
        assert_eq!(go_decimal(1.5e-7), "0.00000015");
        assert_eq!(go_decimal(-123.25), "-123.25");
        assert_eq!(go_decimal(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(go_decimal(5e-324), format!("{}", 5e-324));
        // Ryū's plain-notation range, both ends.
        assert_eq!(go_decimal(0.00001), "0.00001");
        assert_eq!(go_decimal(-0.000012345), "-0.000012345");
        assert_eq!(go_decimal(0.000001), "0.000001");
        assert_eq!(go_decimal(9999999999999998.0), "9999999999999998");
        assert_eq!(go_decimal(1e16), "10000000000000000");
        assert_eq!(go_decimal(10.0), "10");
        assert_eq!(go_decimal(100.05), "100.05");
    }

    /// Rust's `Display` of an f64 is Go's 'f', -1 (shortest round-trip
    /// digits, no exponent) except on exact ties between two shortest
    /// candidates, which Go (and Ryū, and Python's `repr`) round to even
    /// and Rust rounds up. Bit patterns from a fixed-seed generator cover
    /// every exponent; integers and short decimals cover the values samples
    /// usually hold. Every difference must be such a tie.
    #[test]
    fn go_decimal_equals_display_but_rounds_ties_to_even() {
        // 2127524128142182.25 exactly, halfway between the two shortest
        // candidates; Python: repr(...) == '2127524128142182.2'.
        let tie = f64::from_bits(0x431e_3be3_3fa2_cd99);
        assert_eq!(go_decimal(tie), "2127524128142182.2");
        assert_eq!(format!("{tie}"), "2127524128142182.3");

        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let (mut checked, mut ties) = (0, 0);
        for i in 0..1_000_000u64 {
            let candidates = [
                f64::from_bits(next()),
                (next() % 1_000_000_000) as f64,
                (next() % 100_000) as f64 / 1000.0,
                i as f64 * 0.1,
            ];
            for v in candidates.into_iter().filter(|v| v.is_finite()) {
                checked += 1;
                let (ours, display) = (go_decimal(v), format!("{v}"));
                if ours == display {
                    continue;
                }
                ties += 1;
                let (a, b) = (ours.as_bytes(), display.as_bytes());
                let last = a.len() - 1;
                assert!(
                    a.len() == b.len()
                        && a[..last] == b[..last]
                        && b[last] == a[last] + 1
                        && a[last] % 2 == 0
                        && ours.parse::<f64>() == Ok(v)
                        && display.parse::<f64>() == Ok(v),
                    "not a tie rounded to even: ours {ours}, Display {display}, bits {:#x}",
                    v.to_bits()
                );
            }
        }
        assert!(checked > 3_900_000);
        assert!(ties < checked / 1000, "{ties} ties of {checked}");
    }
}
