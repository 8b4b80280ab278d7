//! The record a rule-evaluating process shard publishes on the compacted
//! `<prefix>.rules_status` topic, one per rule group, so that a query role
//! in another process can answer `/api/v1/rules` and `/api/v1/alerts`.
//!
//! Keyed by the group's identity ([`key`]): each group has exactly one
//! evaluating shard, compaction keeps a group's newest status, and after a
//! re-shard the new owner overwrites the old owner's record. A record is
//! valid until `expires_at_ms` (wall clock): the shard republishes its
//! groups after every evaluation round and at every checkpoint, so the
//! record of a group nobody evaluates any more (shard stopped, group
//! removed from the rule files) stops being shown once it expires.

use serde::{Deserialize, Serialize};

use crate::api_json::GroupJson;

/// The record format's version; readers skip (and count) other versions.
pub const VERSION: u32 = 1;

/// One group's status, as published by its shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The publishing shard (`rule_evaluation.shard_index`).
    pub shard_index: u32,
    /// Its `rule_evaluation.shard_count`.
    pub shard_count: u32,
    /// The group's position among all loaded groups (rule files in config
    /// order, groups in file order): readers list the groups of all shards
    /// in the order one evaluator would.
    pub order: u64,
    /// Wall-clock time of publishing, ms.
    pub published_at_ms: i64,
    /// Wall-clock time after which readers leave the group out, ms.
    pub expires_at_ms: i64,
    /// The group as `/api/v1/rules` shows it, every rule included.
    pub group: GroupJson,
}

/// The Kafka key of a group's record: its rule file and name (a JSON
/// array, so no separator can make two groups collide).
pub fn key(file: &str, name: &str) -> String {
    serde_json::to_string(&(file, name)).unwrap_or_default()
}

impl StatusRecord {
    /// The record as published.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record published under `record_key`: JSON of this
    /// [`VERSION`], about the group the key names.
    pub fn decode(record_key: &str, bytes: &[u8]) -> Result<StatusRecord, String> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let v: Versioned = serde_json::from_slice(bytes).map_err(|e| format!("not a status record: {e}"))?;
        if v.version != VERSION {
            return Err(format!(
                "status record version {} (this reader knows {VERSION})",
                v.version
            ));
        }
        let r: StatusRecord =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid status record: {e}"))?;
        let want = key(&r.group.file, &r.group.name);
        if want != record_key {
            return Err(format!(
                "key {record_key} does not name the record's group {want}"
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> StatusRecord {
        StatusRecord {
            version: VERSION,
            shard_index: 1,
            shard_count: 2,
            order: 3,
            published_at_ms: 10,
            expires_at_ms: 20,
            group: GroupJson {
                name: "g".into(),
                file: "a;b.yml".into(),
                rules: Vec::new(),
                interval: 15.0,
                limit: 0,
                evaluation_time: 0.0,
                last_evaluation: crate::api_json::NEVER.into(),
            },
        }
    }

    #[test]
    fn round_trip() {
        let r = record();
        let k = key("a;b.yml", "g");
        assert_eq!(k, r#"["a;b.yml","g"]"#);
        assert_eq!(StatusRecord::decode(&k, &r.encode()), Ok(r));
    }

    #[test]
    fn refuses_garbage_other_versions_and_wrong_keys() {
        let r = record();
        let k = key("a;b.yml", "g");
        assert!(StatusRecord::decode(&k, b"\x00garbage").is_err());
        assert!(StatusRecord::decode(&k, br#"{"version": 1}"#).is_err());
        let mut v2 = serde_json::to_value(&r).unwrap();
        v2["version"] = 2.into();
        let err = StatusRecord::decode(&k, &serde_json::to_vec(&v2).unwrap()).unwrap_err();
        assert!(err.contains("version 2"), "{err}");
        let err = StatusRecord::decode(&key("a", "b;g"), &r.encode()).unwrap_err();
        assert!(err.contains("does not name"), "{err}");
    }
}
