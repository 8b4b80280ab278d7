//! The latest status record of every rule group, from all shards.

use std::collections::HashMap;
use std::sync::Mutex;

use sluice_rules::api_json::GroupJson;
use sluice_rules::status_record::StatusRecord;

use super::RulesView;
use crate::topic_feed::now_ms;

/// Group key → its newest record (a tombstone removes it).
#[derive(Debug, Default)]
pub struct RulesStatusStore {
    records: Mutex<HashMap<String, StatusRecord>>,
}

impl RulesStatusStore {
    /// An empty store.
    pub fn new() -> Self {
        RulesStatusStore::default()
    }

    /// Applies the record read under `key`: a newer status of its group,
    /// or `None` (a tombstone) to forget the group.
    pub fn apply(&self, key: &str, record: Option<StatusRecord>) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match record {
            Some(r) => {
                records.insert(key.to_string(), r);
            }
            None => {
                records.remove(key);
            }
        }
    }

    /// The groups whose records have not expired at `now_ms`, merged from
    /// every shard in the order one evaluator would list them (position
    /// among the loaded groups, then file and name).
    pub fn groups_at(&self, now_ms: i64) -> Vec<GroupJson> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<&StatusRecord> = records.values().filter(|r| r.expires_at_ms > now_ms).collect();
        live.sort_by(|a, b| {
            (a.order, &a.group.file, &a.group.name).cmp(&(b.order, &b.group.file, &b.group.name))
        });
        live.into_iter().map(|r| r.group.clone()).collect()
    }

    /// Drops expired records from memory.
    pub fn prune(&self, now_ms: i64) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.retain(|_, r| r.expires_at_ms > now_ms);
    }

    /// Records held (expired ones until the next prune).
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RulesView for RulesStatusStore {
    fn groups(&self) -> Vec<GroupJson> {
        self.groups_at(now_ms())
    }
}

#[cfg(test)]
mod tests {
    use sluice_rules::api_json::NEVER;
    use sluice_rules::status_record::{VERSION, key};

    use super::*;

    fn record(name: &str, order: u64, shard_index: u32, expires_at_ms: i64) -> StatusRecord {
        StatusRecord {
            version: VERSION,
            shard_index,
            shard_count: 2,
            order,
            published_at_ms: 0,
            expires_at_ms,
            group: GroupJson {
                name: name.into(),
                file: "rules.yml".into(),
                rules: Vec::new(),
                interval: 1.0,
                limit: 0,
                evaluation_time: 0.0,
                last_evaluation: NEVER.into(),
            },
        }
    }

    fn names(groups: Vec<GroupJson>) -> Vec<String> {
        groups.into_iter().map(|g| g.name).collect()
    }

    #[test]
    fn merges_shards_in_config_order_and_leaves_out_expired() {
        let s = RulesStatusStore::new();
        for (name, order, shard, exp) in [("c", 2, 0, 100), ("a", 0, 1, 100), ("b", 1, 0, 50)] {
            s.apply(&key("rules.yml", name), Some(record(name, order, shard, exp)));
        }
        assert_eq!(names(s.groups_at(10)), ["a", "b", "c"]);
        assert_eq!(names(s.groups_at(50)), ["a", "c"], "b expired at 50");
        // A newer record of the same group replaces the older one.
        s.apply(&key("rules.yml", "b"), Some(record("b", 1, 1, 200)));
        assert_eq!(names(s.groups_at(150)), ["b"]);
        s.prune(150);
        assert_eq!(s.len(), 1);
        s.apply(&key("rules.yml", "b"), None);
        assert!(s.is_empty());
    }
}
