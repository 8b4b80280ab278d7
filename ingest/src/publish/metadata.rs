//! Which metadata entries a publisher still has to write to the metadata
//! topic.
//!
//! Every scrape of a target, and every remote_write request from a
//! Prometheus with `send_metadata` (each minute), offers the same entries
//! again; the topic needs each distinct entry once per
//! [`sluice_model::bus::metadata::REFRESH_MS`] (readers forget entries that
//! are not written again). One cache per publisher, shared by every scrape
//! loop and receiver of the process, so a thousand node exporters with the
//! same metrics cost one record per entry and refresh, not a thousand.

use std::collections::HashMap;
use std::sync::Mutex;

use sluice_model::bus::PbMetricMetadata;
use sluice_model::bus::metadata::key;

/// Keys published and when (ms since the epoch).
#[derive(Debug)]
pub struct MetadataCache {
    refresh_ms: i64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    published: HashMap<String, i64>,
    pruned_at: i64,
}

impl MetadataCache {
    /// A cache that lets an entry through again `refresh_ms` after it was
    /// last let through.
    pub fn new(refresh_ms: i64) -> Self {
        MetadataCache {
            refresh_ms,
            state: Mutex::default(),
        }
    }

    /// The entries of `entries` not let through in the last `refresh_ms`
    /// (each once, with its record key), marked as published at `now_ms`.
    /// A caller that then fails to queue them calls [`Self::forget`].
    pub fn take_due(&self, entries: Vec<PbMetricMetadata>, now_ms: i64) -> Vec<(String, PbMetricMetadata)> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Entries older than the refresh would be let through anyway: drop
        // them now and then, so entries nobody exposes any more do not
        // stay in memory.
        if now_ms - st.pruned_at >= self.refresh_ms {
            let refresh = self.refresh_ms;
            st.published.retain(|_, at| now_ms - *at < refresh);
            st.pruned_at = now_ms;
        }
        let mut due = Vec::new();
        for m in entries {
            let k = key(&m);
            match st.published.get(&k) {
                Some(at) if now_ms - *at < self.refresh_ms => {}
                _ => {
                    st.published.insert(k.clone(), now_ms);
                    due.push((k, m));
                }
            }
        }
        due
    }

    /// Forgets that these keys were published, so the next offer lets
    /// them through again (their write failed).
    pub fn forget<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            st.published.remove(k);
        }
    }

    /// Entries currently remembered.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .published
            .len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(name: &str, help: &str) -> PbMetricMetadata {
        PbMetricMetadata {
            r#type: 1,
            metric_family_name: name.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    fn names(due: &[(String, PbMetricMetadata)]) -> Vec<&str> {
        due.iter().map(|(_, m)| m.metric_family_name.as_str()).collect()
    }

    #[test]
    fn each_entry_once_per_refresh_across_callers() {
        let c = MetadataCache::new(1000);
        let due = c.take_due(vec![md("a", "A."), md("b", "B."), md("a", "A.")], 0);
        assert_eq!(
            names(&due),
            ["a", "b"],
            "a repeat within one offer is let through once"
        );
        assert_eq!(due[0].0, key(&md("a", "A.")));
        // Another target (or remote_write) offering the same entries later.
        assert!(c.take_due(vec![md("a", "A."), md("b", "B.")], 999).is_empty());
        // A changed HELP is a new entry.
        assert_eq!(names(&c.take_due(vec![md("a", "A, changed.")], 999)), ["a"]);
        // The refresh is due.
        assert_eq!(
            names(&c.take_due(vec![md("a", "A."), md("b", "B.")], 1000)),
            ["a", "b"]
        );
    }

    #[test]
    fn forgotten_keys_are_let_through_again() {
        let c = MetadataCache::new(1000);
        let due = c.take_due(vec![md("a", ""), md("b", "")], 0);
        c.forget(due.iter().take(1).map(|(k, _)| k.as_str()));
        assert_eq!(names(&c.take_due(vec![md("a", ""), md("b", "")], 1)), ["a"]);
    }

    #[test]
    fn entries_nobody_offers_are_pruned() {
        let c = MetadataCache::new(1000);
        c.take_due(vec![md("old", "")], 0);
        c.take_due(vec![md("new", "")], 900);
        assert_eq!(c.len(), 2);
        // At 1500 "old" is past its refresh and goes; "new" stays.
        c.take_due(vec![], 1500);
        assert_eq!(c.len(), 1);
        assert!(c.take_due(vec![md("new", "")], 1500).is_empty());
    }
}
