//! Rule files in Prometheus' YAML format: the document model and loading.
//!
//! Loading reads the YAML (unknown keys refused unless the caller ignores
//! them, as `--ignore-unknown-fields` does), then [`crate::validate`]
//! reports every problem of the file at once, then the groups are compiled
//! into [`RuleGroup`]s with parsed templates.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer};

/// A scalar written as a string, a number or a boolean (Go's YAML decoder
/// accepts `expr: 1` and `severity: 2` into string fields, so Prometheus
/// files rely on it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Asking for a string makes serde_yaml hand over a plain scalar's
        // text as written (`0x10` stays `0x10`, not 16), as Go's decoder
        // does for string fields.
        d.deserialize_str(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl serde::de::Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(v.to_string()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(String::new()))
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole rule file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleFileDoc {
    /// The groups, in file order.
    #[serde(default)]
    pub groups: Vec<GroupDoc>,
}

/// One `groups:` entry, as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupDoc {
    /// Unique within the file.
    #[serde(default)]
    pub name: String,
    /// Evaluation interval (default: the global evaluation interval).
    #[serde(default)]
    pub interval: Option<Scalar>,
    /// Evaluate at `t - query_offset` (late data).
    #[serde(default)]
    pub query_offset: Option<Scalar>,
    /// Maximum alerts/series per rule (0: no limit).
    #[serde(default)]
    pub limit: Option<i64>,
    /// Labels added to every rule of the group (a rule's own win).
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// The rules, in evaluation order.
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
}

/// One rule, as written.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleDoc {
    /// Name of the series a recording rule writes.
    #[serde(default)]
    pub record: Option<Scalar>,
    /// Name of the alert an alerting rule raises.
    #[serde(default)]
    pub alert: Option<Scalar>,
    /// The PromQL expression.
    #[serde(default)]
    pub expr: Option<Scalar>,
    /// How long an alert stays pending before it fires.
    #[serde(default, rename = "for")]
    pub for_: Option<Scalar>,
    /// How long an alert keeps firing after its condition cleared.
    #[serde(default)]
    pub keep_firing_for: Option<Scalar>,
    /// Labels to add or override (templates for alerting rules).
    #[serde(default)]
    pub labels: BTreeMap<String, Scalar>,
    /// Alert annotations (templates).
    #[serde(default)]
    pub annotations: BTreeMap<String, Scalar>,
}

impl RuleDoc {
    /// The rule's name: the alert name, else the recorded name.
    pub fn name(&self) -> &str {
        self.alert
            .as_ref()
            .filter(|a| !a.0.is_empty())
            .or(self.record.as_ref())
            .map_or("", |s| s.0.as_str())
    }
}

/// How strictly to read a rule file.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept keys Prometheus does not know (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
}

/// Parses rule-file YAML. Errors (YAML syntax, wrong types, unknown keys)
/// are returned together.
pub fn parse_doc(text: &str, opts: LoadOptions) -> Result<RuleFileDoc, Vec<String>> {
    if text.trim().is_empty() {
        return Ok(RuleFileDoc::default());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let mut unknown = Vec::new();
    let doc: RuleFileDoc = serde_ignored::deserialize(de, |path| unknown.push(path.to_string()))
        .map_err(|e| vec![e.to_string()])?;
    if !opts.ignore_unknown_fields && !unknown.is_empty() {
        return Err(unknown
            .into_iter()
            .map(|p| format!("field {p} not found in Prometheus' rule file format"))
            .collect());
    }
    Ok(doc)
}

/// Reads, validates and compiles one rule file. Every error is prefixed
/// with the file name, as `promtool check rules` prints them.
pub fn load_file(path: &Path, opts: LoadOptions) -> Result<Vec<crate::RuleGroup>, Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: {e}")])?;
    load_str(&name, &text, opts)
}

/// [`load_file`] on text already read; `file` names it in errors and in
/// each group.
pub fn load_str(file: &str, text: &str, opts: LoadOptions) -> Result<Vec<crate::RuleGroup>, Vec<String>> {
    let prefix = |errs: Vec<String>| {
        errs.into_iter()
            .map(|e| format!("{file}: {e}"))
            .collect::<Vec<_>>()
    };
    let doc = parse_doc(text, opts).map_err(prefix)?;
    crate::validate::compile(file, &doc)
        .map_err(|errs| prefix(errs.into_iter().map(|e| e.to_string()).collect()))
}
