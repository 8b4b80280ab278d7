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

const SECTIONS: [&str; 11] = [
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
];

/// Reads and validates a config file and the rule files it names
/// (relative paths are relative to the config file, as in Prometheus).
pub(crate) fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (cfg, mut errs) = match parse(&text) {
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

/// Parses and validates config text.
pub(crate) fn parse(text: &str) -> Result<Config, ConfigErrors> {
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
        scrape_configs: Vec::new(),
    };
    match map.get("scrape_configs") {
        None | Some(Value::Null) => {}
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("scrape_configs[{i}]");
                if let Some(sc) = decode::<ScrapeConfig>(item, &path, &mut errs) {
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
  - job_name: ingress
    kubernetes_sd_configs: [{ role: ingress }]
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
}
