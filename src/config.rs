//! Sluice's one YAML config: Prometheus' `global:`/`scrape_configs:` plus
//! Sluice's `kafka:`, `sink:` and `query:` sections.
//!
//! Every problem is reported at once, with its path, before anything
//! starts: each section and each scrape config is decoded on its own (so
//! one bad entry does not hide the next), unknown keys are collected with
//! `serde_ignored` (the loader treats any ignored key as an error, which is
//! `deny_unknown_fields` with complete reporting), and then each section
//! validates its values.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::Value;
use sluice_ingest::config::{GlobalConfig, ScrapeConfig};
use sluice_ingest::receive::ReceiveConfig;
use sluice_ingest::shard::ScrapeShard;
use sluice_model::kafka::KafkaConfig;
use sluice_processor::config::DownsampleConfig;
use sluice_processor::rules::config::{AlertingConfig, RuleEvalConfig};
use sluice_query::QueryConfig;
use sluice_rules::RuleGroup;
use sluice_sink::SinkConfig;

use crate::health::HealthConfig;

/// The whole config.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    /// `global:`
    pub global: GlobalConfig,
    /// `scrape_configs:`
    pub scrape_configs: Vec<ScrapeConfig>,
    /// `kafka:`
    pub kafka: KafkaConfig,
    /// `sink:`
    pub sink: SinkConfig,
    /// `query:`
    pub query: QueryConfig,
    /// `receive:` (remote_write receiver and push API of the scrape role)
    pub receive: ReceiveConfig,
    /// `downsample:` (the `process` role)
    pub downsample: DownsampleConfig,
    /// `scrape:` (this scrape worker's shard of the targets)
    pub scrape: ScrapeShard,
    /// `rule_files:` as written (globs, relative to the config file).
    pub rule_files: Vec<String>,
    /// The groups of every rule file, loaded and validated.
    pub rule_groups: Vec<RuleGroup>,
    /// `alerting:` (where alerts are sent)
    pub alerting: AlertingConfig,
    /// `rule_evaluation:` (the rule evaluator of the `process` role)
    pub rule_evaluation: RuleEvalConfig,
    /// `health:` (where the sink and process roles serve health endpoints)
    pub health: HealthConfig,
}

/// Every problem found in a config file.
#[derive(Debug)]
pub(crate) struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} config error(s):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

const SECTIONS: [&str; 12] = [
    "global",
    "scrape_configs",
    "kafka",
    "sink",
    "query",
    "receive",
    "downsample",
    "scrape",
    "rule_files",
    "alerting",
    "rule_evaluation",
    "health",
];

/// Reads and validates a config file and the rule files it names
/// (relative paths are relative to the config file, as in Prometheus).
pub(crate) fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (cfg, mut errs) = match parse_in(&text, base) {
        Ok(cfg) => (cfg, Vec::new()),
        Err(ConfigErrors(errs)) => (Config::default(), errs),
    };
    let mut cfg = cfg;
    match load_rule_files(&cfg.rule_files, base) {
        Ok(groups) => cfg.rule_groups = groups,
        Err(e) => errs.extend(e),
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errs))
    }
}

/// Every group of every file the `rule_files` globs match, every error of
/// every file at once.
fn load_rule_files(patterns: &[String], base: &Path) -> Result<Vec<RuleGroup>, Vec<String>> {
    let mut groups = Vec::new();
    let mut errs = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let full = if Path::new(pattern).is_absolute() {
            pattern.clone()
        } else {
            base.join(pattern).display().to_string()
        };
        let paths = match glob::glob(&full) {
            Ok(paths) => paths,
            Err(e) => {
                errs.push(format!("rule_files[{i}]: {pattern:?}: {e}"));
                continue;
            }
        };
        let mut files: Vec<_> = paths.filter_map(Result::ok).collect();
        files.sort();
        for f in files {
            match sluice_rules::load_file(&f, sluice_rules::LoadOptions::default()) {
                Ok(g) => groups.extend(g),
                Err(e) => errs.extend(e.into_iter().map(|e| format!("rule_files[{i}]: {e}"))),
            }
        }
    }
    if errs.is_empty() { Ok(groups) } else { Err(errs) }
}

/// Decodes one value, collecting unknown keys and type errors.
fn decode<T: DeserializeOwned>(v: &Value, path: &str, errs: &mut Vec<String>) -> Option<T> {
    let mut unknown = Vec::new();
    let r: Result<T, _> = serde_ignored::deserialize(v.clone(), |p| unknown.push(p.to_string()));
    for u in unknown {
        errs.push(format!("{path}.{u}: unknown field"));
    }
    r.map_err(|e| errs.push(format!("{path}: {e}"))).ok()
}

/// Decodes an optional section; absent or null means all defaults.
fn section<T: DeserializeOwned + Default>(v: Option<&Value>, path: &str, errs: &mut Vec<String>) -> T {
    match v {
        None | Some(Value::Null) => T::default(),
        Some(v) => decode(v, path, errs).unwrap_or_default(),
    }
}

/// Parses and validates config text (relative file names as they are).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_in(text, Path::new(""))
}

/// Parses and validates config text whose relative file names (scrape
/// credentials and TLS files) are relative to `base`.
fn parse_in(text: &str, base: &Path) -> Result<Config, ConfigErrors> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| ConfigErrors(vec![format!("YAML: {e}")]))?;
    let map = match &root {
        Value::Mapping(m) => m.clone(),
        Value::Null => Default::default(),
        _ => return Err(ConfigErrors(vec!["config must be a YAML mapping".into()])),
    };
    let mut errs = Vec::new();
    for k in map.keys() {
        match k.as_str() {
            Some(s) if SECTIONS.contains(&s) => {}
            _ => errs.push(format!(
                "{}: unknown section",
                serde_yaml::to_string(k).unwrap_or_default().trim()
            )),
        }
    }
    let mut cfg = Config {
        global: section(map.get("global"), "global", &mut errs),
        kafka: section(map.get("kafka"), "kafka", &mut errs),
        sink: section(map.get("sink"), "sink", &mut errs),
        query: section(map.get("query"), "query", &mut errs),
        receive: section(map.get("receive"), "receive", &mut errs),
        downsample: section(map.get("downsample"), "downsample", &mut errs),
        scrape: section(map.get("scrape"), "scrape", &mut errs),
        rule_files: section(map.get("rule_files"), "rule_files", &mut errs),
        alerting: section(map.get("alerting"), "alerting", &mut errs),
        rule_evaluation: section(map.get("rule_evaluation"), "rule_evaluation", &mut errs),
        rule_groups: Vec::new(),
        health: section(map.get("health"), "health", &mut errs),
        scrape_configs: Vec::new(),
    };
    match map.get("scrape_configs") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("scrape_configs[{i}]");
                if let Some(mut sc) = decode::<ScrapeConfig>(item, &path, &mut errs) {
                    sc.resolve_paths(base);
                    cfg.scrape_configs.push(sc);
                }
            }
        }
        Some(_) => errs.push("scrape_configs: must be a list".into()),
    }
    errs.extend(cfg.kafka.validate("kafka"));
    errs.extend(cfg.sink.validate("sink"));
    errs.extend(cfg.query.validate("query"));
    errs.extend(cfg.receive.validate("receive"));
    errs.extend(cfg.downsample.validate("downsample"));
    errs.extend(cfg.scrape.validate("scrape"));
    errs.extend(cfg.alerting.validate("alerting"));
    errs.extend(cfg.rule_evaluation.validate("rule_evaluation", &cfg.kafka));
    errs.extend(cfg.health.validate("health"));
    let mut jobs = std::collections::BTreeSet::new();
    for (i, sc) in cfg.scrape_configs.iter().enumerate() {
        let path = format!("scrape_configs[{i}]");
        errs.extend(sc.validate(&path, &cfg.global));
        if !jobs.insert(sc.job_name.clone()) {
            errs.push(format!(
                "{path}.job_name: {:?} is already used by another scrape config",
                sc.job_name
            ));
        }
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigErrors(errs))
    }
}

/// A config section whose `shard_index`/`shard_count` a role uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShardedSection {
    /// `scrape:` (the scrape role)
    Scrape,
    /// `sink:` (the sink role)
    Sink,
    /// `downsample:` (the process role)
    Downsample,
    /// `rule_evaluation:` (the process role: its shard of the rule groups)
    RuleEvaluation,
}

/// The shard index a `--shard` value names: a plain number (`2`), or the
/// name of a StatefulSet pod, whose trailing ordinal is the index
/// (`sluice-scrape-2` → 2), so a pod can pass its own name (`metadata.name`
/// through the downward API) and needs no per-pod config.
pub(crate) fn parse_shard_index(value: &str) -> Result<u32, String> {
    let digits = match value.rsplit_once('-') {
        Some((prefix, ordinal)) if !prefix.is_empty() => ordinal,
        Some(_) => "",
        None => value,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{value:?} is neither a shard index nor a pod name ending in -<ordinal>"
        ));
    }
    digits
        .parse()
        .map_err(|_| format!("{value:?}: ordinal {digits} is too large"))
}

impl Config {
    /// Overrides `shard_index` and/or `shard_count` of `sections` (from the
    /// command line or the environment) and validates the result.
    pub(crate) fn override_shard(
        &mut self,
        sections: &[ShardedSection],
        index: Option<u32>,
        count: Option<u32>,
    ) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        for section in sections {
            match section {
                ShardedSection::Scrape => {
                    let s = &mut self.scrape;
                    s.shard_index = index.map_or(s.shard_index, u64::from);
                    s.shard_count = count.map_or(s.shard_count, u64::from);
                    errs.extend(s.validate("scrape"));
                }
                ShardedSection::Sink => {
                    let s = &mut self.sink;
                    s.shard_index = index.unwrap_or(s.shard_index);
                    s.shard_count = count.unwrap_or(s.shard_count);
                    errs.extend(s.validate("sink"));
                }
                ShardedSection::Downsample => {
                    let s = &mut self.downsample;
                    s.shard_index = index.unwrap_or(s.shard_index);
                    s.shard_count = count.unwrap_or(s.shard_count);
                    errs.extend(s.validate("downsample"));
                }
                ShardedSection::RuleEvaluation => {
                    let s = &mut self.rule_evaluation;
                    s.shard_index = index.unwrap_or(s.shard_index);
                    s.shard_count = count.unwrap_or(s.shard_count);
                    errs.extend(s.validate("rule_evaluation", &self.kafka));
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"
global: { scrape_interval: 15s, bogus: 1 }
kafka: { brokers: "", partitions: 0 }
sink: { path: ./d, flush_interval: 10 parsecs }
scrape_configs:
  - job_name: a
    static_configs: [{ targets: ["nohost"] }]
  - job_name: b
    scrape_timeout: 1m
    unknown_key: x
    relabel_configs: [{ action: keep, colour: red }]
  - job_name: a
    static_configs: [{ targets: ["h:1"] }]
extra: 1
receive: { listne: x }
scrape: { shard_index: 3, shard_count: 2 }
"#;
        let errs = parse(text).unwrap_err().0;
        let joined = errs.join("\n");
        for needle in [
            "global.bogus: unknown field",
            "kafka.brokers: must not be empty",
            "kafka.partitions: must be at least 1",
            "sink: ",
            "scrape_configs[0].static_configs[0].targets[0]",
            "scrape_configs[1].unknown_key: unknown field",
            "scrape_configs[1].relabel_configs.0.colour: unknown field",
            "receive.listne: unknown field",
            "scrape_configs[1].scrape_timeout",
            "scrape_configs[2].job_name: \"a\" is already used",
            "extra: unknown section",
            "scrape.shard_index: 3 is not below shard_count 2",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in:\n{joined}");
        }
    }

    #[test]
    fn discovery_sections_report_every_problem() {
        let text = r#"
scrape_configs:
  - job_name: files
    file_sd_configs: [{ files: ["/etc/sd/*.txt"], refresh_intervl: 1m }]
  - job_name: k8s
    kubernetes_sd_configs:
      - role: pod
        api_server: "https://k:6443"
        kubeconfig_file: /kube
        selectors: [{ role: service, label: "a=b" }]
  - job_name: gateway
    kubernetes_sd_configs: [{ role: gateway }]
"#;
        let errs = parse(text).unwrap_err().0.join("\n");
        for needle in [
            "scrape_configs[0].file_sd_configs[0].files[0]",
            "scrape_configs[0].file_sd_configs.0.refresh_intervl: unknown field",
            "scrape_configs[1].kubernetes_sd_configs[0]: cannot use 'kubeconfig_file' and 'api_server'",
            "scrape_configs[1].kubernetes_sd_configs[0].selectors[0]: pod role supports only pod selectors",
            "scrape_configs[2]: ",
        ] {
            assert!(errs.contains(needle), "missing {needle:?} in:\n{errs}");
        }
        let ok = parse(
            "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: endpointslice, namespaces: {names: [a]}}]\n    file_sd_configs: [{files: [/sd/*.json]}]\nscrape: {shard_index: 1, shard_count: 2}\n",
        )
        .unwrap();
        assert_eq!(ok.scrape_configs[0].kubernetes_sd_configs.len(), 1);
        assert_eq!(ok.scrape.shard_count, 2);
    }

    #[test]
    fn defaults_fill_an_empty_config() {
        let cfg = parse("scrape_configs: []").unwrap();
        assert_eq!(cfg.kafka.topic_prefix, "sluice");
        assert_eq!(cfg.query.listen, "127.0.0.1:9464");
    }

    #[test]
    fn shard_index_from_a_number_or_a_pod_name() {
        assert_eq!(parse_shard_index("0"), Ok(0));
        assert_eq!(parse_shard_index("7"), Ok(7));
        assert_eq!(parse_shard_index("sluice-scrape-2"), Ok(2));
        assert_eq!(parse_shard_index("web-10"), Ok(10));
        for bad in [
            "",
            "-",
            "-3",
            "sluice-scrape",
            "sluice-scrape-",
            "pod-2a",
            "x-99999999999",
            "+1",
        ] {
            assert!(parse_shard_index(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shard_overrides_reach_the_role_sections_and_are_validated() {
        let mut cfg = parse("downsample: {enabled: true}").unwrap();
        cfg.override_shard(&[ShardedSection::Scrape], Some(2), Some(3))
            .unwrap();
        assert_eq!((cfg.scrape.shard_index, cfg.scrape.shard_count), (2, 3));
        assert_eq!((cfg.sink.shard_index, cfg.sink.shard_count), (0, 1));
        cfg.override_shard(
            &[ShardedSection::Sink, ShardedSection::Downsample],
            Some(1),
            Some(4),
        )
        .unwrap();
        assert_eq!((cfg.sink.shard_index, cfg.sink.shard_count), (1, 4));
        assert_eq!((cfg.downsample.shard_index, cfg.downsample.shard_count), (1, 4));
        // Only the index: the count stays the config's.
        cfg.override_shard(&[ShardedSection::Sink], Some(3), None)
            .unwrap();
        assert_eq!((cfg.sink.shard_index, cfg.sink.shard_count), (3, 4));
        let errs = cfg
            .override_shard(&[ShardedSection::Scrape], Some(3), None)
            .unwrap_err()
            .0
            .join("\n");
        assert!(
            errs.contains("scrape.shard_index: 3 is not below shard_count 3"),
            "{errs}"
        );
    }
}
