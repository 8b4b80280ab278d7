//! Prometheus alerting and recording rules, evaluated on the stream.
//!
//! Data flow: [`run::run_rule_evaluator`] reads every partition of the
//! samples topic (rules aggregate across series, and series are spread
//! over partitions by hash), keeps the recent samples the rule selectors
//! can reach ([`window`]), derives event time from them ([`watermark`]),
//! and evaluates each owned group at each multiple of its interval once
//! the watermark passes it ([`evaluator`]). Outputs: recorded series and
//! `ALERTS`/`ALERTS_FOR_STATE` back onto the samples topic, one JSON
//! record per alert state change on `<prefix>.alerts` ([`alert_record`],
//! [`alerts_topic`]), notifications to Alertmanager ([`notifier`]), and
//! each group's status (rules, health, alerts) on the compacted
//! `<prefix>.rules_status` for query roles in other processes
//! ([`status_topic`]).
//!
//! Scaling: instances split the *groups* (a stable hash of file and group
//! name), not the partitions, so an aggregation always sees every series;
//! each instance reads the whole topic but keeps only what its rules
//! select.

pub mod alert_record;
mod alerts_topic;
pub mod config;
mod evaluator;
mod notifier;
mod run;
mod status_topic;
mod watermark;
mod window;

#[cfg(test)]
mod tests;

pub use run::{RuleStage, run_rule_evaluator};
