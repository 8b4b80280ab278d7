//! What `/api/v1/rules` and `/api/v1/alerts` show: a snapshot of the rule
//! evaluator's groups, taken after each evaluation round and shared with
//! the API (plain data, so the evaluator and the API need not know each
//! other).

use std::sync::{Arc, RwLock};

use crate::{Alert, Rule};

/// Every group an evaluator owns.
#[derive(Debug, Clone, Default)]
pub struct RulesStatus {
    /// Groups, in file order.
    pub groups: Vec<GroupStatus>,
}

/// One group.
#[derive(Debug, Clone)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// The rule file.
    pub file: String,
    /// Evaluation interval, ms.
    pub interval_ms: i64,
    /// Event time of the last evaluation.
    pub last_eval_ms: Option<i64>,
    /// Wall-clock seconds the last evaluation took.
    pub eval_seconds: f64,
    /// Rules in order.
    pub rules: Vec<RuleStatus>,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct RuleStatus {
    /// The rule as loaded.
    pub rule: Rule,
    /// Error of the last evaluation, if it failed.
    pub last_error: Option<String>,
    /// Whether it has been evaluated at all.
    pub evaluated: bool,
    /// Its alerts (alerting rules): pending, firing, recently resolved.
    pub alerts: Vec<Alert>,
}

/// The evaluator's status, shared with the API.
pub type SharedRulesStatus = Arc<RwLock<RulesStatus>>;
