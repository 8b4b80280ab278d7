//! Scrape targets: what to scrape, how often, and the labels its series get.

use std::time::Duration;

use sluice_model::{Labels, METRIC_NAME};

use crate::config::{GlobalConfig, ScrapeConfig};

/// One endpoint to scrape, fully resolved from config (and, later, SD).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `job_name` of the scrape config it came from.
    pub job: String,
    /// Full URL scraped.
    pub url: String,
    /// Labels every series of this target gets (`job`, `instance`, static labels).
    pub labels: Labels,
    /// Time between scrapes.
    pub interval: Duration,
    /// Deadline of one scrape.
    pub timeout: Duration,
    /// Keep conflicting scraped labels as they are instead of renaming them.
    pub honor_labels: bool,
    /// Use exposition timestamps when present.
    pub honor_timestamps: bool,
}

impl Target {
    /// A stable identity for offsets and status maps.
    pub fn key(&self) -> String {
        format!("{}|{}", self.job, self.url)
    }

    /// The target's place inside its interval: Prometheus spreads targets
    /// over the interval by hashing them, so scrapes of many targets do not
    /// all fire at once, and each target keeps a fixed phase across restarts.
    pub fn offset(&self) -> Duration {
        let interval_ms = self.interval.as_millis().max(1) as u64;
        let h = fnv1a(self.key().as_bytes());
        Duration::from_millis(h % interval_ms)
    }

    /// Applies the target's labels to scraped labels the way Prometheus does:
    /// with `honor_labels: false`, a scraped label that clashes with a target
    /// label is kept as `exported_<name>` and the target's value wins; with
    /// `honor_labels: true` the scraped value wins.
    pub fn merge_labels(&self, scraped: &Labels) -> Labels {
        let mut out = scraped.clone();
        for l in self.labels.iter() {
            match out.get(&l.name) {
                Some(existing) if self.honor_labels => {
                    let _ = existing;
                }
                Some(existing) => {
                    let existing = existing.to_string();
                    let mut name = format!("exported_{}", l.name);
                    while out.get(&name).is_some() {
                        name = format!("exported_{name}");
                    }
                    out.set(&name, &existing);
                    out.set(&l.name, &l.value);
                }
                None => out.set(&l.name, &l.value),
            }
        }
        out
    }

    /// Labels of a synthetic series (`up`, `scrape_duration_seconds`, ...).
    pub fn synthetic_labels(&self, metric: &str) -> Labels {
        let mut l = self.labels.clone();
        l.set(METRIC_NAME, metric);
        l
    }
}

/// FNV-1a: a tiny, stable hash for scrape offsets (not security relevant).
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Resolves every static target of every scrape config.
pub fn static_targets(global: &GlobalConfig, configs: &[ScrapeConfig]) -> Vec<Target> {
    let mut out = Vec::new();
    for sc in configs {
        for group in &sc.static_configs {
            for addr in &group.targets {
                let mut pairs: Vec<(String, String)> = global
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                pairs.extend(group.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                pairs.push(("job".into(), sc.job_name.clone()));
                if !group.labels.contains_key("instance") {
                    pairs.push(("instance".into(), addr.clone()));
                }
                let mut url = format!("{}://{}{}", sc.scheme, addr, sc.metrics_path);
                let query: Vec<String> = sc
                    .params
                    .iter()
                    .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}={v}")))
                    .collect();
                if !query.is_empty() {
                    url.push('?');
                    url.push_str(&query.join("&"));
                }
                out.push(Target {
                    job: sc.job_name.clone(),
                    url,
                    labels: Labels::new(pairs),
                    interval: sc.interval(global).0,
                    timeout: sc.timeout(global).0,
                    honor_labels: sc.honor_labels,
                    honor_timestamps: sc.honor_timestamps,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(honor: bool) -> Target {
        Target {
            job: "node".into(),
            url: "http://h:1/metrics".into(),
            labels: Labels::new([("job", "node"), ("instance", "h:1")]),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            honor_labels: honor,
            honor_timestamps: true,
        }
    }

    #[test]
    fn conflicting_labels_are_exported_unless_honored() {
        let scraped = Labels::new([("__name__", "x"), ("job", "inner")]);
        let merged = target(false).merge_labels(&scraped);
        assert_eq!(merged.get("job"), Some("node"));
        assert_eq!(merged.get("exported_job"), Some("inner"));
        assert_eq!(merged.get("instance"), Some("h:1"));
        let honored = target(true).merge_labels(&scraped);
        assert_eq!(honored.get("job"), Some("inner"));
        assert_eq!(honored.get("exported_job"), None);
    }

    #[test]
    fn offset_is_stable_and_within_interval() {
        let t = target(false);
        assert_eq!(t.offset(), t.offset());
        assert!(t.offset() < t.interval);
    }
}
