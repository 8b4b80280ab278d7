//! The `promtool test rules` file format (read strictly: an unknown key is
//! an error, as promtool's `UnmarshalStrict`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::file::Scalar;

/// A whole unit-test file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestFileDoc {
    #[serde(default)]
    pub(crate) rule_files: Vec<String>,
    #[serde(default)]
    pub(crate) evaluation_interval: Option<Scalar>,
    #[serde(default)]
    pub(crate) group_eval_order: Vec<String>,
    #[serde(default)]
    pub(crate) tests: Vec<TestGroupDoc>,
    #[serde(default)]
    pub(crate) fuzzy_compare: bool,
}

/// One entry of `tests:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestGroupDoc {
    #[serde(default)]
    pub(crate) interval: Option<Scalar>,
    #[serde(default)]
    pub(crate) input_series: Vec<InputSeriesDoc>,
    #[serde(default)]
    pub(crate) alert_rule_test: Vec<AlertTestDoc>,
    #[serde(default)]
    pub(crate) promql_expr_test: Vec<PromqlTestDoc>,
    #[serde(default)]
    pub(crate) external_labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub(crate) external_url: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) start_timestamp: Option<Scalar>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputSeriesDoc {
    #[serde(default)]
    pub(crate) series: String,
    #[serde(default)]
    pub(crate) values: Scalar,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertTestDoc {
    #[serde(default)]
    pub(crate) eval_time: Option<Scalar>,
    #[serde(default)]
    pub(crate) alertname: String,
    #[serde(default)]
    pub(crate) exp_alerts: Vec<ExpAlertDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpAlertDoc {
    #[serde(default)]
    pub(crate) exp_labels: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub(crate) exp_annotations: BTreeMap<String, Scalar>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromqlTestDoc {
    #[serde(default)]
    pub(crate) expr: String,
    #[serde(default)]
    pub(crate) eval_time: Option<Scalar>,
    #[serde(default)]
    pub(crate) exp_samples: Vec<ExpSampleDoc>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpSampleDoc {
    #[serde(default)]
    pub(crate) labels: String,
    #[serde(default)]
    pub(crate) value: f64,
    /// Native-histogram expectation (not supported by Sluice).
    #[serde(default)]
    pub(crate) histogram: String,
}

/// A Prometheus duration (`5m`, `1d`, `0`) in milliseconds; absent is 0.
pub(crate) fn duration_ms(s: &Option<Scalar>) -> Result<i64, String> {
    match s {
        None => Ok(0),
        Some(Scalar(t)) => sluice_model::parse_duration(t)
            .map(|d| d.as_millis() as i64)
            .map_err(|e| e.to_string()),
    }
}

/// `start_timestamp`: Unix seconds or RFC 3339, in milliseconds.
pub(crate) fn start_ms(s: &Option<Scalar>) -> Result<i64, String> {
    let Some(Scalar(t)) = s else { return Ok(0) };
    if let Ok(secs) = t.parse::<f64>() {
        return Ok((secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .map_err(|e| format!("start_timestamp {t:?}: {e}"))
}
