//! Small helpers shared by the evaluation modules.

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_model::{Label, Labels, METRIC_NAME};

/// Milliseconds since the epoch of a parser timestamp (may precede 1970).
pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Labels the way Go's `labels.Labels.String()` prints them (name inside
/// the braces), which is what Prometheus' error messages contain.
pub(crate) fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{f}")
    }
}

/// The labels of `l` restricted to (`include`) or stripped of (`!include`)
/// `names`. Used for grouping keys and matching signatures. Without an
/// explicit list (`include == false`) the metric name is always stripped,
/// as Prometheus does for `ignoring`/`without`.
pub(crate) fn project(l: &Labels, names: &[String], include: bool) -> Labels {
    let v: Vec<Label> = if include {
        l.iter()
            .filter(|x| names.iter().any(|n| n == &x.name))
            .cloned()
            .collect()
    } else {
        l.iter()
            .filter(|x| x.name != METRIC_NAME && !names.iter().any(|n| n == &x.name))
            .cloned()
            .collect()
    };
    Labels::from_sorted(v)
}

/// Prometheus' float comparison helper for sorting with NaN last.
pub(crate) fn cmp_f64_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
    }
}
