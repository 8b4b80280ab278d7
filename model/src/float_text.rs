//! Floats as Prometheus prints them in alert values.

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
}
