//! Evaluating a rule group at one timestamp (Prometheus' `Group.Eval`).
//!
//! Rules run in file order; each queries at `t - query_offset` and its
//! output is visible to the rules after it. A rule's series that it wrote
//! in the previous evaluation but not in this one get a staleness marker,
//! so `ALERTS` of a resolved alert and recorded series that vanished stop
//! at once instead of lingering for the lookback delta. A rule that fails
//! writes nothing (its previous series stay unmarked) and reports the
//! error; the other rules still run.
//!
//! The state is plain data (serde), so a stream processor can checkpoint
//! it and resume evaluation exactly where it stopped.

use serde::{Deserialize, Serialize};
use sluice_model::{Labels, stale_nan};
use sluice_promql::{Engine, SeriesSource, Value};

use crate::alerting::{self, AlertingState, TemplateEnv};
use crate::overlay::Overlay;
use crate::template::query_escape;
use crate::{Alert, AlertTransition, Notification, Rule, RuleGroup, recording};

/// Prometheus' default `--rules.alert.resend-delay`.
pub const DEFAULT_RESEND_DELAY_MS: i64 = 60_000;

/// Server-wide inputs of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalContext<'a> {
    /// The PromQL engine (its options: lookback delta, limits).
    pub engine: &'a Engine,
    /// `global.external_labels`, visible to templates.
    pub external_labels: &'a Labels,
    /// The external URL: templates' `$externalURL` and `generatorURL`.
    pub external_url: &'a str,
    /// How often a firing alert is resent.
    pub resend_delay_ms: i64,
    /// The group's evaluation interval (used for notifications' `endsAt`).
    pub interval_ms: i64,
}

/// One sample a group evaluation wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSample {
    /// Series labels, `__name__` included.
    pub labels: Labels,
    /// Timestamp (`t - query_offset`).
    pub timestamp_ms: i64,
    /// Value (a staleness marker for a series that ended).
    pub value: f64,
}

/// How one rule's evaluation went.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    /// The rule's name.
    pub name: String,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Everything one group evaluation produced.
#[derive(Debug, Clone, Default)]
pub struct GroupOutput {
    /// Recorded series, `ALERTS`/`ALERTS_FOR_STATE`, staleness markers, in
    /// rule order.
    pub samples: Vec<OutputSample>,
    /// Per rule, in order.
    pub outcomes: Vec<RuleOutcome>,
    /// Alert state changes.
    pub transitions: Vec<AlertTransition>,
    /// What the notifier would send to Alertmanager now.
    pub notifications: Vec<Notification>,
}

/// The evaluation state of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Series written by the last successful evaluation (for staleness).
    pub previous_series: Vec<Labels>,
    /// Alerts (alerting rules only).
    pub alerts: AlertingState,
    /// Why the last evaluation failed (`None` after a success).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// The evaluation state of a group: one entry per rule, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// Per rule.
    pub rules: Vec<RuleState>,
}

impl GroupState {
    /// A fresh state for `group` (no alerts, nothing written yet).
    pub fn new(group: &RuleGroup) -> Self {
        GroupState {
            rules: vec![RuleState::default(); group.rules.len()],
        }
    }

    /// The alerts of the rule at `index` (pending, firing, resolved).
    pub fn alerts(&self, index: usize) -> impl Iterator<Item = &Alert> {
        self.rules
            .get(index)
            .into_iter()
            .flat_map(|r| r.alerts.active.values())
    }

    /// Evaluates every rule of `group` at `ts_ms` over `source`.
    pub async fn eval(
        &mut self,
        group: &RuleGroup,
        ctx: &EvalContext<'_>,
        source: &dyn SeriesSource,
        ts_ms: i64,
    ) -> GroupOutput {
        if self.rules.len() != group.rules.len() {
            self.rules.resize(group.rules.len(), RuleState::default());
        }
        let eval_ts = ts_ms - group.query_offset_ms.unwrap_or(0);
        let mut out = GroupOutput::default();
        for (rule, state) in group.rules.iter().zip(self.rules.iter_mut()) {
            let overlay = Overlay {
                base: source,
                extra: &out.samples,
            };
            let result = query_vector(ctx.engine, &overlay, rule.expr(), eval_ts).await;
            let written = result.and_then(|vector| match rule {
                Rule::Recording(r) => recording::relabel(r, vector, group.limit),
                Rule::Alerting(a) => {
                    // Templates' `query` runs on the same data at the same
                    // time. Every series source here answers from memory, so
                    // blocking on the engine's future never waits on I/O.
                    let run_query =
                        |q: &str| futures::executor::block_on(query_vector(ctx.engine, &overlay, q, eval_ts));
                    let env = TemplateEnv {
                        external_labels: ctx.external_labels,
                        external_url: ctx.external_url,
                        query: Some(&run_query),
                    };
                    let advanced = alerting::advance(a, &mut state.alerts, vector, ts_ms, &env, group.limit)?;
                    let url = generator_url(ctx.external_url, &a.expr);
                    out.transitions
                        .extend(advanced.transitions.into_iter().map(|mut t| {
                            t.generator_url.clone_from(&url);
                            t
                        }));
                    out.notifications.extend(alerting::notifications(
                        &mut state.alerts,
                        ts_ms,
                        ctx.resend_delay_ms,
                        ctx.interval_ms,
                        &url,
                    ));
                    Ok(advanced.series)
                }
            });
            match written {
                Ok(series) => {
                    let now: Vec<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
                    out.samples
                        .extend(series.into_iter().map(|(labels, value)| OutputSample {
                            labels,
                            timestamp_ms: eval_ts,
                            value,
                        }));
                    for gone in state.previous_series.iter().filter(|l| !now.contains(l)) {
                        out.samples.push(OutputSample {
                            labels: gone.clone(),
                            timestamp_ms: eval_ts,
                            value: stale_nan(),
                        });
                    }
                    state.previous_series = now;
                    state.last_error = None;
                    out.outcomes.push(RuleOutcome {
                        name: rule.name().to_string(),
                        error: None,
                    });
                }
                Err(e) => {
                    state.last_error = Some(e.clone());
                    out.outcomes.push(RuleOutcome {
                        name: rule.name().to_string(),
                        error: Some(e),
                    })
                }
            }
        }
        out
    }
}

/// Prometheus' `generatorURL`: the expression on the graph page.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    format!(
        "{}/graph?g0.expr={}&g0.tab=1",
        external_url.trim_end_matches('/'),
        query_escape(expr)
    )
}

/// Runs `expr` as an instant query; a scalar becomes one sample without
/// labels, as Prometheus' `EngineQueryFunc` does.
async fn query_vector(
    engine: &Engine,
    source: &dyn SeriesSource,
    expr: &str,
    ts_ms: i64,
) -> Result<Vec<(Labels, f64)>, String> {
    let result = engine
        .instant(source, expr, ts_ms)
        .await
        .map_err(|e| e.to_string())?;
    match result.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.value)).collect()),
        Value::Scalar { value, .. } => Ok(vec![(Labels::default(), value)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}
