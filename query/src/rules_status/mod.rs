//! What `/api/v1/rules` and `/api/v1/alerts` answer from.
//!
//! `sluice all` reads its own evaluator's status in memory. A separate
//! query role follows the compacted `<prefix>.rules_status` topic, where
//! every rule-evaluating process shard publishes its groups
//! ([`sluice_rules::status_record`]), into a [`RulesStatusStore`] ([`feed`])
//! that merges the shards' latest, unexpired records.

pub mod feed;
pub mod store;

use std::sync::RwLock;

use sluice_rules::api_json::{GroupJson, group_json};
use sluice_rules::status::RulesStatus;

pub use feed::run_rules_status_feed;
pub use store::RulesStatusStore;

/// Rule groups as the API shows them, in evaluation order.
pub trait RulesView: Send + Sync {
    /// Every group with all its rules.
    fn groups(&self) -> Vec<GroupJson>;
}

/// The evaluator in the same process (`sluice all`).
impl RulesView for RwLock<RulesStatus> {
    fn groups(&self) -> Vec<GroupJson> {
        let status = self.read().unwrap_or_else(|e| e.into_inner());
        status.groups.iter().map(group_json).collect()
    }
}
