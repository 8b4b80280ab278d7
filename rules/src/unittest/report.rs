//! promtool's ways of printing labels, values, durations and alerts, so a
//! failing Sluice run reads like a failing promtool run.

use std::collections::BTreeMap;

use sluice_model::Labels;

/// Go's `labels.Labels.String()`: `{__name__="up", job="x"}`.
pub(crate) fn labels_string(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.name, crate::template::go_quote(&l.value)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Annotations printed like a label set.
pub(crate) fn map_string(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::template::go_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`: `6E+01`, `3.0000000000000004E+00`.
pub(crate) fn float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:E}");
    let (mant, exp) = s.split_once('E').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{mant}E{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// Prometheus' `model.Duration.String()`: `5m`, `1d`, `2m59s999ms`, `0s`
/// (years and weeks only when exact).
pub(crate) fn model_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, mult, exact) in [
        ("y", 365 * 86_400_000, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ] {
        if exact && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            rest -= v * mult;
        }
    }
    out
}

/// Go's `time.Duration.String()` at millisecond precision: `0s`, `500ms`,
/// `1m0s`, `1h0m0s`, `1.5s`.
pub(crate) fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

/// An alert as promtool lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AlertView {
    pub(crate) labels: Labels,
    pub(crate) annotations: BTreeMap<String, String>,
}

/// promtool's `labelsAndAnnotations.String()`.
pub(crate) fn alerts_string(alerts: &[AlertView]) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let body = format!(
            "\nLabels:{}\nAnnotations:{}",
            labels_string(&a.labels),
            map_string(&a.annotations)
        );
        s.push_str(&format!("\n{i}:{}", indent(&body, "  ")));
    }
    s.push_str("\n]");
    s
}

/// promtool's `indentLines`: every line but the first gets `prefix`.
pub(crate) fn indent(text: &str, prefix: &str) -> String {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                l.to_string()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(float_e(60.0), "6E+01");
        assert_eq!(float_e(3.0000000000000004), "3.0000000000000004E+00");
        assert_eq!(float_e(0.001), "1E-03");
        assert_eq!(model_duration(0), "0s");
        assert_eq!(model_duration(86_400_000), "1d");
        assert_eq!(model_duration(179_999), "2m59s999ms");
        assert_eq!(model_duration(106_700 * 86_400_000), "106700d");
        assert_eq!(model_duration(14 * 86_400_000), "2w");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(61_500), "1m1.5s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(
            labels_string(&Labels::new([("__name__", "up"), ("job", "a\"b")])),
            r#"{__name__="up", job="a\"b"}"#
        );
    }
}
