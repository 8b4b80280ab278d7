//! The grouping key in a Pushgateway URL:
//! `/metrics/job/<job>{/<label>/<value>}`, where `job@base64` or
//! `<label>@base64` marks a value in URL-safe base64 (so values may contain
//! `/` or be empty). Rules and messages are the Pushgateway's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sluice_model::Labels;

use crate::relabel::is_valid_label_name;

const BASE64_SUFFIX: &str = "@base64";

/// Why a push URL names no valid group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupingError {
    /// The path does not start with `job/` or `job@base64/` (404).
    #[error("not a push path; expected /metrics/job/<job>{{/<label>/<value>}}")]
    NotFound,
    /// The path is a push path with a bad job or label (400).
    #[error("{0}")]
    Invalid(String),
}

/// Parses the path after `/metrics/` into the grouping key, `job` included.
pub fn parse_grouping_key(path: &str) -> Result<Labels, GroupingError> {
    let (first, rest) = path.split_once('/').ok_or(GroupingError::NotFound)?;
    let job_base64 = match first {
        "job" => false,
        "job@base64" => true,
        _ => return Err(GroupingError::NotFound),
    };
    let (job, labels) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let job = if job_base64 {
        decode_base64(job).map_err(|e| {
            GroupingError::Invalid(format!("invalid base64 encoding in job name {job:?}: {e}"))
        })?
    } else {
        job.to_string()
    };
    if job.is_empty() {
        return Err(GroupingError::Invalid("job name is required".into()));
    }
    let mut pairs = split_labels(labels).map_err(GroupingError::Invalid)?;
    // The job from the path wins over a `job` label in the label part.
    pairs.retain(|(n, _)| n != "job");
    pairs.push(("job".into(), job));
    Ok(Labels::new(pairs))
}

/// `/<name>/<value>...` → pairs; a lone `/` (trailing slash) means none.
fn split_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    if s.len() <= 1 {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = s.split('/').collect();
    // parts[0] is the empty string before the leading '/'.
    if parts.len().is_multiple_of(2) {
        return Err(format!("odd number of components in label string {s:?}"));
    }
    let mut out = Vec::new();
    for pair in parts[1..].chunks(2) {
        let (name, value) = (pair[0], pair[1]);
        let trimmed = name.strip_suffix(BASE64_SUFFIX).unwrap_or(name);
        // `__` names are reserved for Prometheus' own use.
        if !is_valid_label_name(trimmed) || trimmed.starts_with("__") {
            return Err(format!("improper label name {trimmed:?}"));
        }
        let value = if trimmed.len() == name.len() {
            value.to_string()
        } else {
            decode_base64(value)
                .map_err(|e| format!("invalid base64 encoding for label {trimmed}={value:?}: {e}"))?
        };
        out.push((trimmed.to_string(), value));
    }
    Ok(out)
}

/// URL-safe base64 with optional padding (`=` alone is the empty string).
fn decode_base64(s: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "decoded value is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> Result<Labels, GroupingError> {
        parse_grouping_key(path)
    }

    #[test]
    fn job_and_labels() {
        assert_eq!(key("job/batch"), Ok(Labels::new([("job", "batch")])));
        assert_eq!(key("job/batch/"), Ok(Labels::new([("job", "batch")])));
        assert_eq!(
            key("job/batch/instance/h1/zone/eu"),
            Ok(Labels::new([
                ("job", "batch"),
                ("instance", "h1"),
                ("zone", "eu")
            ]))
        );
        // A `job` label in the label part cannot override the path's job.
        assert_eq!(key("job/a/job/b"), Ok(Labels::new([("job", "a")])));
    }

    #[test]
    fn base64_values() {
        // "a/b" = YS9i, "/" = Lw (padding optional), "" = "=".
        assert_eq!(key("job@base64/YS9i"), Ok(Labels::new([("job", "a/b")])));
        assert_eq!(
            key("job/x/path@base64/Lw==/dir@base64/Lw"),
            Ok(Labels::new([("job", "x"), ("path", "/"), ("dir", "/")]))
        );
        assert_eq!(key("job/x/empty@base64/="), Ok(Labels::new([("job", "x")])));
        assert!(
            matches!(key("job@base64/!!"), Err(GroupingError::Invalid(m)) if m.contains("invalid base64"))
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            key("job/"),
            Err(GroupingError::Invalid("job name is required".into()))
        );
        assert_eq!(
            key("job@base64/="),
            Err(GroupingError::Invalid("job name is required".into()))
        );
        assert_eq!(key("jobs/x"), Err(GroupingError::NotFound));
        assert_eq!(key("job"), Err(GroupingError::NotFound));
        assert!(matches!(key("job/x/a"), Err(GroupingError::Invalid(m)) if m.starts_with("odd number")));
        assert_eq!(
            key("job/x/__a/1"),
            Err(GroupingError::Invalid("improper label name \"__a\"".into()))
        );
        assert_eq!(
            key("job/x/a-b/1"),
            Err(GroupingError::Invalid("improper label name \"a-b\"".into()))
        );
    }
}
