//! What one scrape target last offered to the metadata topic.
//!
//! A target exposes the same TYPE/HELP/UNIT lines scrape after scrape; the
//! loop offers them to the publisher only when they changed since its last
//! offer or the refresh is due ([`sluice_model::bus::metadata::REFRESH_MS`]),
//! so an unchanged target costs one hash of its metadata per scrape. The
//! publisher's own [`crate::publish::MetadataCache`] then drops entries that
//! another target or a remote_write sender already wrote.

use sluice_model::bus::PbMetricMetadata;
use xxhash_rust::xxh3::Xxh3;

use crate::exposition::MetricMetadata;

/// The last offer of one target.
#[derive(Debug)]
pub struct TargetMetadata {
    refresh_ms: i64,
    /// Fingerprint of the metadata offered, and when.
    last: Option<(u64, i64)>,
}

impl TargetMetadata {
    /// Offers again after `refresh_ms` even when nothing changed.
    pub fn new(refresh_ms: i64) -> Self {
        TargetMetadata {
            refresh_ms,
            last: None,
        }
    }

    /// The scrape's metadata as bus entries when they are to be offered
    /// (changed, or the refresh is due), else `None`. An empty list (a
    /// failed scrape, or an exposition without TYPE/HELP lines) is never
    /// offered and leaves the last offer as it was.
    pub fn offer(&mut self, metadata: &[MetricMetadata], now_ms: i64) -> Option<Vec<PbMetricMetadata>> {
        if metadata.is_empty() {
            return None;
        }
        let fp = fingerprint(metadata);
        if let Some((last, at)) = self.last
            && last == fp
            && now_ms - at < self.refresh_ms
        {
            return None;
        }
        self.last = Some((fp, now_ms));
        Some(metadata.iter().map(MetricMetadata::to_pb).collect())
    }

    /// Forgets the last offer (it could not be queued): the next scrape
    /// offers again.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

fn fingerprint(metadata: &[MetricMetadata]) -> u64 {
    let mut h = Xxh3::new();
    for m in metadata {
        for part in [m.family.as_str(), m.kind.as_str(), &m.help, &m.unit] {
            h.update(part.as_bytes());
            h.update(&[0xFF]);
        }
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::MetricType;

    fn md(family: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            family: family.into(),
            kind: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        }
    }

    #[test]
    fn offers_on_change_and_on_refresh_only() {
        let mut t = TargetMetadata::new(1000);
        let v1 = [md("a", "A."), md("b", "B.")];
        let first = t.offer(&v1, 0).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!((first[0].metric_family_name.as_str(), first[0].r#type), ("a", 1));
        assert!(t.offer(&v1, 500).is_none(), "unchanged within the refresh");
        let v2 = [md("a", "A, new help."), md("b", "B.")];
        assert_eq!(t.offer(&v2, 600).unwrap()[0].help, "A, new help.");
        assert!(t.offer(&v2, 1599).is_none());
        assert!(t.offer(&v2, 1600).is_some(), "refresh due");
        // A family that goes away changes the fingerprint too.
        assert!(t.offer(&v2[..1], 1601).is_some());
    }

    #[test]
    fn empty_scrapes_are_not_offered_and_reset_offers_again() {
        let mut t = TargetMetadata::new(1000);
        let v = [md("a", "")];
        assert!(t.offer(&v, 0).is_some());
        assert!(t.offer(&[], 1).is_none());
        assert!(
            t.offer(&v, 2).is_none(),
            "a failed scrape between does not re-offer"
        );
        t.reset();
        assert!(t.offer(&v, 3).is_some());
    }

    #[test]
    fn fields_do_not_run_into_each_other() {
        let a = [md("ab", "c")];
        let b = [md("a", "bc")];
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
