//! The loaded config as `/api/v1/status/config` shows it: every section
//! with its defaults filled in (as Prometheus prints its effective config),
//! secrets replaced by `<secret>`.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::config::Config;

/// Keys whose values are never shown (Kafka client properties such as
/// `sasl.password`, object-store options such as `aws_secret_access_key`,
/// scrape credentials, bearer tokens).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "credentials"]
        .iter()
        .any(|s| k.contains(s))
        && !k.ends_with("_file")
}

fn redact(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m.iter_mut() {
                match k.as_str() {
                    Some(key) if is_secret_key(key) && !matches!(val, Value::Null) => {
                        *val = Value::String("<secret>".into());
                    }
                    _ => redact(val),
                }
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(redact),
        _ => {}
    }
}

fn section<T: Serialize>(m: &mut Mapping, name: &str, v: &T) {
    let mut value = serde_yaml::to_value(v).unwrap_or_else(|e| Value::String(format!("<not shown: {e}>")));
    redact(&mut value);
    m.insert(Value::String(name.into()), value);
}

/// The effective config as YAML.
pub(crate) fn effective_yaml(cfg: &Config) -> String {
    let mut m = Mapping::new();
    section(&mut m, "global", &cfg.global);
    section(&mut m, "scrape_configs", &cfg.scrape_configs);
    section(&mut m, "rule_files", &cfg.rule_files);
    section(&mut m, "alerting", &cfg.alerting);
    section(&mut m, "kafka", &cfg.kafka);
    section(&mut m, "receive", &cfg.receive);
    section(&mut m, "scrape", &cfg.scrape);
    section(&mut m, "sink", &cfg.sink);
    section(&mut m, "downsample", &cfg.downsample);
    section(&mut m, "rule_evaluation", &cfg.rule_evaluation);
    section(&mut m, "query", &cfg.query);
    section(&mut m, "health", &cfg.health);
    serde_yaml::to_string(&Value::Mapping(m)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_file_references_kept() {
        let mut v: Value = serde_yaml::from_str(
            "kafka: {client: {sasl.password: hunter2, sasl.username: u}}\n\
             sink: {storage_options: {aws_secret_access_key: k, region: r}}\n\
             scrape_configs: [{basic_auth: {password: p, password_file: /f}, authorization: {credentials: c}}]",
        )
        .unwrap();
        redact(&mut v);
        let text = serde_yaml::to_string(&v).unwrap();
        for gone in [
            "hunter2",
            "aws_secret_access_key: k",
            "password: p",
            "credentials: c",
        ] {
            assert!(!text.contains(gone), "{gone} in\n{text}");
        }
        for kept in ["sasl.username: u", "region: r", "password_file: /f"] {
            assert!(text.contains(kept), "{kept} missing in\n{text}");
        }
    }

    #[test]
    fn every_section_is_shown_with_defaults() {
        let yaml = effective_yaml(&Config::default());
        for s in [
            "global:",
            "scrape_configs:",
            "kafka:",
            "sink:",
            "query:",
            "receive:",
            "health:",
        ] {
            assert!(yaml.contains(s), "{s} missing in\n{yaml}");
        }
        assert!(yaml.contains("max_concurrency: 20"), "{yaml}");
    }
}
