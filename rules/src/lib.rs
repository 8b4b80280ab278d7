//! Prometheus recording and alerting rules, evaluated by Sluice's own
//! PromQL engine.
//!
//! Data flow: a rule file (YAML, Prometheus' format) is parsed and
//! validated by [`file`] into [`RuleGroup`]s (expressions checked by the
//! engine's parser, label and annotation templates parsed by [`template`]).
//! [`group::GroupState::eval`] evaluates one group at one timestamp against
//! any [`sluice_promql::SeriesSource`]: recording rules produce series,
//! alerting rules advance their alerts through Prometheus' lifecycle and
//! produce the `ALERTS` / `ALERTS_FOR_STATE` series and the notifications
//! Alertmanager would receive. Evaluation is pure — time is an argument and
//! all state is in serialisable structs — so a stream processor can drive
//! it by watermark and checkpoint it. [`unittest`] runs `promtool test
//! rules` files through the same evaluator.

pub mod template;

mod alerting;
pub mod api_json;
pub mod file;
pub mod group;
#[cfg(test)]
mod group_tests;
mod overlay;
mod recording;
pub mod status;
pub mod status_record;
pub mod unittest;
pub mod validate;

pub use alerting::{Alert, AlertState, AlertTransition, AlertingState, Notification, RESOLVED_RETENTION_MS};
pub use file::{LoadOptions, load_file, load_str};
pub use group::{EvalContext, GroupOutput, GroupState, OutputSample, RuleOutcome, generator_url};
pub use validate::RuleError;

use template::Template;

/// A rule group, validated and ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleGroup {
    /// The file it came from (as given to the loader).
    pub file: String,
    /// Group name, unique within its file.
    pub name: String,
    /// `interval:` if set (else the global evaluation interval applies).
    pub interval_ms: Option<i64>,
    /// `query_offset:` if set: rules query at `t - offset` and their output
    /// is timestamped `t - offset`.
    pub query_offset_ms: Option<i64>,
    /// `limit:` (0: none): more series or alerts than this fail the rule.
    pub limit: usize,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// A recording or an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `record:`
    Recording(RecordingRule),
    /// `alert:`
    Alerting(AlertingRule),
}

impl Rule {
    /// The recorded metric name or the alert name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.name,
            Rule::Alerting(a) => &a.name,
        }
    }

    /// The PromQL expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alerting(a) => &a.expr,
        }
    }
}

/// A recording rule: `expr` evaluated and stored under a new name.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingRule {
    /// The output metric name.
    pub name: String,
    /// The PromQL expression.
    pub expr: String,
    /// Labels set on every output series (group labels merged in; an empty
    /// value removes the label), sorted by name.
    pub labels: Vec<(String, String)>,
}

/// An alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingRule {
    /// `alertname`.
    pub name: String,
    /// The PromQL expression; each output series is one alert.
    pub expr: String,
    /// `for:` in milliseconds: how long an alert stays pending.
    pub for_ms: i64,
    /// `keep_firing_for:` in milliseconds.
    pub keep_firing_for_ms: i64,
    /// Label templates (group labels merged in), sorted by name.
    pub labels: Vec<(String, Template)>,
    /// Annotation templates, sorted by name.
    pub annotations: Vec<(String, Template)>,
}
