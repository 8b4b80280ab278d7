//! The in-memory metadata map a query process answers from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use serde::Serialize;
use sluice_model::bus::PbMetricMetadata;
use sluice_model::bus::metadata::type_name;

/// One entry as `/api/v1/metadata` prints it (field order as Prometheus').
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MetadataEntry {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`,
    /// `info`, `stateset` or `unknown`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// HELP text.
    pub help: String,
    /// UNIT, empty if none.
    pub unit: String,
}

/// `/api/v1/metadata`'s parameters, as Prometheus reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataQuery {
    /// Only this metric family (`metric=`).
    pub metric: Option<String>,
    /// At most this many metrics; negative: no limit (`limit=`, default -1;
    /// 0 answers none, as in Prometheus).
    pub limit: i64,
    /// At most this many entries per metric; 0 or negative: no limit
    /// (`limit_per_metric=`).
    pub limit_per_metric: i64,
}

impl Default for MetadataQuery {
    fn default() -> Self {
        MetadataQuery {
            metric: None,
            limit: -1,
            limit_per_metric: 0,
        }
    }
}

/// One record's worth: the family, the entry, when it was last written.
#[derive(Debug, Clone)]
struct Known {
    family: String,
    entry: MetadataEntry,
    seen_ms: i64,
}

/// Entries by record key; entries not written again for `forget_after_ms`
/// are left out of answers (and dropped by [`MetadataStore::prune`]).
#[derive(Debug)]
pub struct MetadataStore {
    forget_after_ms: i64,
    by_key: RwLock<HashMap<String, Known>>,
}

impl MetadataStore {
    /// An empty store forgetting entries `forget_after_ms` after their last
    /// write.
    pub fn new(forget_after_ms: i64) -> Self {
        MetadataStore {
            forget_after_ms,
            by_key: RwLock::default(),
        }
    }

    /// Applies one record: an entry written at `written_ms`, or a
    /// tombstone (`None`: the key was deleted).
    pub fn apply(&self, key: &str, entry: Option<PbMetricMetadata>, written_ms: i64) {
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        let Some(m) = entry else {
            map.remove(key);
            return;
        };
        let Some(kind) = type_name(m.r#type) else {
            return;
        };
        // Publishers' clocks differ: an older write never makes an entry
        // look older than it is.
        let seen_ms = map.get(key).map_or(written_ms, |k| k.seen_ms.max(written_ms));
        map.insert(
            key.to_string(),
            Known {
                family: m.metric_family_name,
                entry: MetadataEntry {
                    kind,
                    help: m.help,
                    unit: m.unit,
                },
                seen_ms,
            },
        );
    }

    /// Drops entries past `forget_after_ms` at `now_ms`.
    pub fn prune(&self, now_ms: i64) {
        let mut map = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, k| now_ms - k.seen_ms < self.forget_after_ms);
    }

    /// Records held (current or not yet pruned).
    pub fn len(&self) -> usize {
        self.by_key.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The answer to `q` at `now_ms`: metric family → its distinct entries,
    /// both sorted (Prometheus' order is Go's random map order; a sorted
    /// one is a valid instance of it and stable). `limit` keeps the first
    /// metrics by name.
    pub fn query(&self, q: &MetadataQuery, now_ms: i64) -> BTreeMap<String, Vec<MetadataEntry>> {
        let mut by_family: BTreeMap<&str, BTreeSet<&MetadataEntry>> = BTreeMap::new();
        let map = self.by_key.read().unwrap_or_else(|e| e.into_inner());
        for k in map.values() {
            if now_ms - k.seen_ms >= self.forget_after_ms {
                continue;
            }
            if q.metric.as_deref().is_some_and(|m| m != k.family) {
                continue;
            }
            by_family.entry(&k.family).or_default().insert(&k.entry);
        }
        let metrics = usize::try_from(q.limit).unwrap_or(usize::MAX);
        let per_metric = usize::try_from(q.limit_per_metric)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(usize::MAX);
        by_family
            .into_iter()
            .take(metrics)
            .map(|(family, entries)| {
                (
                    family.to_string(),
                    entries.into_iter().take(per_metric).cloned().collect(),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use sluice_model::bus::metadata::key;

    use super::*;

    fn md(name: &str, t: i32, help: &str, unit: &str) -> PbMetricMetadata {
        PbMetricMetadata {
            r#type: t,
            metric_family_name: name.into(),
            help: help.into(),
            unit: unit.into(),
        }
    }

    fn put(s: &MetadataStore, m: PbMetricMetadata, at: i64) {
        s.apply(&key(&m), Some(m), at);
    }

    fn entry(kind: &'static str, help: &str, unit: &str) -> MetadataEntry {
        MetadataEntry {
            kind,
            help: help.into(),
            unit: unit.into(),
        }
    }

    /// Three families; `http_requests` has two distinct entries (two
    /// exporter versions with different HELP), written twice each.
    fn store() -> MetadataStore {
        let s = MetadataStore::new(1000);
        for at in [0, 10] {
            put(&s, md("http_requests", 1, "Requests.", ""), at);
            put(&s, md("http_requests", 1, "HTTP requests.", ""), at);
            put(&s, md("node_load1", 2, "1m load average.", ""), at);
            put(&s, md("rpc_seconds", 5, "RPC latency.", "seconds"), at);
        }
        s
    }

    #[test]
    fn distinct_entries_per_family_sorted() {
        let got = store().query(&MetadataQuery::default(), 20);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            ["http_requests", "node_load1", "rpc_seconds"]
        );
        assert_eq!(
            got["http_requests"],
            [
                entry("counter", "HTTP requests.", ""),
                entry("counter", "Requests.", "")
            ]
        );
        assert_eq!(got["rpc_seconds"], [entry("summary", "RPC latency.", "seconds")]);
        assert_eq!(
            serde_json::to_string(&got["node_load1"]).unwrap(),
            r#"[{"type":"gauge","help":"1m load average.","unit":""}]"#
        );
    }

    #[test]
    fn limit_limit_per_metric_and_metric_filters() {
        let s = store();
        let q = |metric: Option<&str>, limit, limit_per_metric| {
            s.query(
                &MetadataQuery {
                    metric: metric.map(str::to_string),
                    limit,
                    limit_per_metric,
                },
                20,
            )
        };
        assert_eq!(
            q(None, 2, 0).keys().collect::<Vec<_>>(),
            ["http_requests", "node_load1"]
        );
        assert!(
            q(None, 0, 0).is_empty(),
            "limit=0 answers no metric, as in Prometheus"
        );
        assert_eq!(q(None, -1, 0).len(), 3);
        let one_each = q(None, -1, 1);
        assert_eq!(one_each["http_requests"].len(), 1);
        assert_eq!(one_each.values().map(Vec::len).sum::<usize>(), 3);
        assert_eq!(
            q(None, -1, -5)["http_requests"].len(),
            2,
            "limit_per_metric <= 0: no limit"
        );
        let only = q(Some("node_load1"), -1, 0);
        assert_eq!(only.keys().collect::<Vec<_>>(), ["node_load1"]);
        assert!(
            q(Some("node_load"), -1, 0).is_empty(),
            "an exact family name, not a prefix"
        );
        assert!(q(Some("rpc_seconds"), 0, 0).is_empty());
    }

    #[test]
    fn entries_not_written_again_are_forgotten_and_tombstones_delete() {
        let s = store();
        put(&s, md("node_load1", 2, "1m load average.", ""), 900);
        // At 1010 only what was written at 900 is younger than 1000 ms.
        let got = s.query(&MetadataQuery::default(), 1010);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["node_load1"]);
        // An older write (another publisher's clock) does not age it.
        put(&s, md("node_load1", 2, "1m load average.", ""), 5);
        assert_eq!(s.query(&MetadataQuery::default(), 1010).len(), 1);
        assert_eq!(s.len(), 4);
        s.prune(1010);
        assert_eq!(s.len(), 1);
        let k = key(&md("node_load1", 2, "1m load average.", ""));
        s.apply(&k, None, 1011);
        assert!(s.is_empty());
    }
}
