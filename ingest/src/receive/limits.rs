//! What one remote_write request may hold: series per request, labels per
//! series, label name and value lengths (bytes). `max_body_bytes` bounds
//! the bytes; these bound what the bytes may turn into (a 32 MiB body of
//! one-label series decodes into ~10^6 series) and keep pathological series
//! off the bus. The label limits count and measure as the scrape limits of
//! the same names do (`__name__` included), after empty values are dropped.
//!
//! Over a limit is a 400 naming the limit's config key and the series:
//! Prometheus' sender drops a batch on a 4xx instead of retrying it, right
//! for input that can never be accepted. 0 means no limit.

use sluice_model::Label;

/// The `receive:` limits on a request's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// `receive.max_series_per_request`.
    pub max_series_per_request: usize,
    /// `receive.label_limit`: labels per series.
    pub label_limit: usize,
    /// `receive.label_name_length_limit`.
    pub label_name_length_limit: usize,
    /// `receive.label_value_length_limit`.
    pub label_value_length_limit: usize,
}

/// 100 000 series: Prometheus sends at most `max_samples_per_send` (2000 by
/// default) samples per request, other senders (vmagent, the OpenTelemetry
/// Collector) batches of the same order.
pub const DEFAULT_MAX_SERIES_PER_REQUEST: usize = 100_000;
/// 64 labels: twice Mimir's default (30), above VictoriaMetrics' (40).
pub const DEFAULT_LABEL_LIMIT: usize = 64;
/// 1 KiB: Mimir's default; label names are identifiers.
pub const DEFAULT_LABEL_NAME_LENGTH_LIMIT: usize = 1024;
/// 4 KiB: twice Mimir's default, VictoriaMetrics' (which truncates).
pub const DEFAULT_LABEL_VALUE_LENGTH_LIMIT: usize = 4096;

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits {
            max_series_per_request: DEFAULT_MAX_SERIES_PER_REQUEST,
            label_limit: DEFAULT_LABEL_LIMIT,
            label_name_length_limit: DEFAULT_LABEL_NAME_LENGTH_LIMIT,
            label_value_length_limit: DEFAULT_LABEL_VALUE_LENGTH_LIMIT,
        }
    }
}

/// Past `limit` (0: none)?
fn over(n: usize, limit: usize) -> bool {
    limit > 0 && n > limit
}

impl WriteLimits {
    /// The request's series count.
    pub fn check_series_count(&self, n: usize) -> Result<(), String> {
        if over(n, self.max_series_per_request) {
            return Err(format!(
                "receive.max_series_per_request exceeded (number of series: {n}, limit: {}); send smaller batches \
                 (Prometheus: queue_config.max_samples_per_send)",
                self.max_series_per_request
            ));
        }
        Ok(())
    }

    /// One series' labels; the caller names the series.
    pub fn check_labels(&self, labels: &[Label]) -> Result<(), String> {
        if over(labels.len(), self.label_limit) {
            return Err(format!(
                "receive.label_limit exceeded (number of labels: {}, limit: {})",
                labels.len(),
                self.label_limit
            ));
        }
        for l in labels {
            if over(l.name.len(), self.label_name_length_limit) {
                return Err(format!(
                    "receive.label_name_length_limit exceeded (label name: {:?}, length: {}, limit: {})",
                    truncate(&l.name),
                    l.name.len(),
                    self.label_name_length_limit
                ));
            }
            if over(l.value.len(), self.label_value_length_limit) {
                return Err(format!(
                    "receive.label_value_length_limit exceeded (label name: {:?}, length: {}, limit: {})",
                    truncate(&l.name),
                    l.value.len(),
                    self.label_value_length_limit
                ));
            }
        }
        Ok(())
    }
}

/// How many labels, and characters of each, an error message shows.
const SHOWN_LABELS: usize = 20;
const SHOWN_CHARS: usize = 100;

/// At most [`SHOWN_CHARS`] characters of `s`, `…` marking a cut.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A series for an error message, `{name="value", ...}`: short enough for
/// a log line and a response even when the series is what broke a limit.
pub fn describe(labels: &[Label]) -> String {
    let mut pairs: Vec<String> = labels
        .iter()
        .take(SHOWN_LABELS)
        .map(|l| format!("{}={:?}", truncate(&l.name), truncate(&l.value)))
        .collect();
    if labels.len() > SHOWN_LABELS {
        pairs.push(format!("… {} more", labels.len() - SHOWN_LABELS));
    }
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn defaults_pass_prometheus_sized_requests() {
        let l = WriteLimits::default();
        assert_eq!(l.check_series_count(2000), Ok(()));
        assert_eq!(
            l.check_labels(&labels(&[
                ("__name__", "up"),
                ("job", "node"),
                ("instance", "a:9100")
            ])),
            Ok(())
        );
    }

    #[test]
    fn each_limit_names_its_key_and_zero_is_none() {
        let l = WriteLimits {
            max_series_per_request: 2,
            label_limit: 2,
            label_name_length_limit: 8,
            label_value_length_limit: 3,
        };
        assert_eq!(l.check_series_count(2), Ok(()));
        assert!(
            l.check_series_count(3)
                .unwrap_err()
                .starts_with("receive.max_series_per_request exceeded (number of series: 3, limit: 2)")
        );
        assert_eq!(
            l.check_labels(&labels(&[("__name__", "up"), ("a", "1"), ("b", "2")])),
            Err("receive.label_limit exceeded (number of labels: 3, limit: 2)".into())
        );
        assert_eq!(
            l.check_labels(&labels(&[("__name__", "up"), ("abcdefghi", "1")])),
            Err(
                "receive.label_name_length_limit exceeded (label name: \"abcdefghi\", length: 9, limit: 8)"
                    .into()
            )
        );
        assert_eq!(
            l.check_labels(&labels(&[("__name__", "up"), ("job", "node")])),
            Err(
                "receive.label_value_length_limit exceeded (label name: \"job\", length: 4, limit: 3)".into()
            )
        );
        // Lengths are bytes, as Prometheus' limits: "é" is two.
        assert!(
            l.check_labels(&labels(&[("__name__", "up"), ("x", "éé")]))
                .is_err()
        );
        let none = WriteLimits {
            max_series_per_request: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
        };
        assert_eq!(none.check_series_count(usize::MAX), Ok(()));
        let long = "x".repeat(100_000);
        let many: Vec<(String, String)> = (0..1000).map(|i| (format!("l{i}"), long.clone())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(none.check_labels(&labels(&many)), Ok(()));
    }

    #[test]
    fn described_series_are_cut_short() {
        assert_eq!(
            describe(&labels(&[("__name__", "up"), ("job", "a\"b")])),
            r#"{__name__="up", job="a\"b"}"#
        );
        let long = "v".repeat(5000);
        let many: Vec<(String, String)> = (0..50).map(|i| (format!("l{i:02}"), long.clone())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let d = describe(&labels(&many));
        assert!(d.len() < 20 * 120, "{} bytes", d.len());
        assert!(d.contains(&format!("l00=\"{}…\"", "v".repeat(100))), "{d}");
        assert!(d.ends_with(", … 30 more}"), "{d}");
    }
}
