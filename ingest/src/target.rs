//! Scrape targets: from discovered labels to what to scrape, how often, and
//! the labels its series get — Prometheus' `populateLabels` pipeline.

use std::sync::Arc;
use std::time::Duration;

use sluice_model::{Labels, METRIC_NAME, parse_duration};

use crate::config::{GlobalConfig, ScrapeConfig, ScrapeLimits};
use crate::relabel::{RelabelConfig, relabel};

const ADDRESS: &str = crate::discovery::ADDRESS_LABEL;
const SCHEME: &str = "__scheme__";
const METRICS_PATH: &str = "__metrics_path__";
const SCRAPE_INTERVAL: &str = "__scrape_interval__";
const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
const PARAM_PREFIX: &str = "__param_";

/// One endpoint to scrape, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `job_name` of the scrape config it came from.
    pub job: String,
    /// Full URL scraped.
    pub url: String,
    /// Labels every series of this target gets (`job`, `instance`, ...).
    pub labels: Labels,
    /// Labels as discovered, before `relabel_configs` (for the targets API).
    pub discovered_labels: Labels,
    /// Time between scrapes.
    pub interval: Duration,
    /// Deadline of one scrape.
    pub timeout: Duration,
    /// Keep conflicting scraped labels as they are instead of renaming them.
    pub honor_labels: bool,
    /// Use exposition timestamps when present.
    pub honor_timestamps: bool,
    /// `metric_relabel_configs` of the job.
    pub metric_relabel: Arc<Vec<RelabelConfig>>,
    /// The job's sample and label limits.
    pub limits: ScrapeLimits,
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
        Duration::from_millis(fnv1a(self.key().as_bytes()) % interval_ms)
    }

    /// Applies the target's labels to scraped labels the way Prometheus does:
    /// with `honor_labels: false`, a scraped label that clashes with a target
    /// label is kept as `exported_<name>` and the target's value wins; with
    /// `honor_labels: true` the scraped value wins.
    pub fn merge_labels(&self, scraped: Labels) -> Labels {
        // By value: the scraped set is not needed afterwards, and cloning
        // every label of every sample was a large share of a scrape's cost.
        let mut out = scraped;
        for l in self.labels.iter() {
            match out.get(&l.name) {
                Some(_) if self.honor_labels => {}
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

/// Builds a target from discovered labels (which must hold `__address__`):
/// adds the job's defaults, applies `relabel_configs`, sets `instance`, and
/// drops the `__`-prefixed labels. `Ok(None)` means relabeling dropped it.
pub fn build_target(
    sc: &ScrapeConfig,
    global: &GlobalConfig,
    discovered: Labels,
) -> Result<Option<Target>, String> {
    let mut lset = discovered;
    let interval = sc.interval(global);
    let timeout = sc.timeout(global);
    for (name, value) in [
        ("job", sc.job_name.clone()),
        (SCRAPE_INTERVAL, interval.to_string()),
        (SCRAPE_TIMEOUT, timeout.to_string()),
        (METRICS_PATH, sc.metrics_path.clone()),
        (SCHEME, sc.scheme.clone()),
    ] {
        if lset.get(name).is_none() {
            lset.set(name, &value);
        }
    }
    for (k, vs) in &sc.params {
        let name = format!("{PARAM_PREFIX}{k}");
        if lset.get(&name).is_none()
            && let Some(v) = vs.first()
        {
            lset.set(&name, v);
        }
    }
    let discovered_labels = lset.clone();
    let Some(mut lset) = relabel(&lset, &sc.relabel_configs) else {
        return Ok(None);
    };
    let address = lset
        .get(ADDRESS)
        .filter(|a| !a.is_empty())
        .ok_or("no address")?
        .to_string();
    if lset.get("instance").is_none() {
        lset.set("instance", &address);
    }
    let dur = |name: &str| -> Result<Duration, String> {
        let v = lset.get(name).unwrap_or_default();
        parse_duration(v).map_err(|e| format!("{name}: {e}"))
    };
    let (interval, timeout) = (dur(SCRAPE_INTERVAL)?, dur(SCRAPE_TIMEOUT)?);
    let mut url = format!(
        "{}://{}{}",
        lset.get(SCHEME).unwrap_or("http"),
        address,
        lset.get(METRICS_PATH).unwrap_or("/metrics")
    );
    let query: Vec<String> = lset
        .iter()
        .filter_map(|l| {
            l.name
                .strip_prefix(PARAM_PREFIX)
                .map(|k| format!("{}={}", enc(k), enc(&l.value)))
        })
        .collect();
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    let labels = Labels::new(
        lset.iter()
            .filter(|l| !l.name.starts_with("__"))
            .map(|l| (l.name.clone(), l.value.clone())),
    );
    Ok(Some(Target {
        job: sc.job_name.clone(),
        url,
        labels,
        discovered_labels,
        interval,
        timeout,
        honor_labels: sc.honor_labels,
        honor_timestamps: sc.honor_timestamps,
        metric_relabel: Arc::new(sc.metric_relabel_configs.clone()),
        limits: sc.limits(global),
    }))
}

/// Percent-encodes a URL query component.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Resolves every static target of every scrape config.
pub fn static_targets(global: &GlobalConfig, configs: &[ScrapeConfig]) -> Vec<Target> {
    let mut sets = crate::discovery::TargetSets::default();
    for sc in configs {
        sets.apply(crate::discovery::DiscoveryUpdate {
            job: sc.job_name.clone(),
            provider: "static".into(),
            groups: crate::discovery::static_groups(sc),
        });
    }
    configs.iter().flat_map(|sc| sets.targets(sc, global)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape_config(yaml: &str) -> ScrapeConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn conflicting_labels_are_exported_unless_honored() {
        let sc = scrape_config("job_name: node\nstatic_configs: [{targets: ['h:1']}]");
        let mut t = static_targets(&GlobalConfig::default(), &[sc]).remove(0);
        let scraped = Labels::new([("__name__", "x"), ("job", "inner")]);
        let merged = t.merge_labels(scraped.clone());
        assert_eq!(merged.get("job"), Some("node"));
        assert_eq!(merged.get("exported_job"), Some("inner"));
        assert_eq!(merged.get("instance"), Some("h:1"));
        t.honor_labels = true;
        let honored = t.merge_labels(scraped.clone());
        assert_eq!(honored.get("job"), Some("inner"));
        assert_eq!(honored.get("exported_job"), None);
        assert!(t.offset() < t.interval);
    }

    #[test]
    fn relabel_configs_rewrite_address_params_and_drop_targets() {
        let sc = scrape_config(
            r#"
job_name: blackbox
metrics_path: /probe
params: { module: [http_2xx] }
static_configs:
  - targets: ["example.org:80", "skip.me:80"]
    labels: { team: a }
relabel_configs:
  - { source_labels: [__address__], regex: "skip.*", action: drop }
  - { source_labels: [__address__], target_label: __param_target }
  - { source_labels: [__param_target], target_label: instance }
  - { target_label: __address__, replacement: "127.0.0.1:9115" }
"#,
        );
        let ts = static_targets(&GlobalConfig::default(), &[sc]);
        assert_eq!(ts.len(), 1);
        let t = &ts[0];
        assert_eq!(
            t.url,
            "http://127.0.0.1:9115/probe?module=http_2xx&target=example.org%3A80"
        );
        assert_eq!(
            t.labels,
            Labels::new([("instance", "example.org:80"), ("job", "blackbox"), ("team", "a")])
        );
        assert_eq!(t.discovered_labels.get("__address__"), Some("example.org:80"));
    }
}
