//! Validation of a parsed rule file, with `promtool check rules`' checks and
//! messages, and compilation into [`RuleGroup`]s. Every error of the file
//! is collected before returning, each naming its group and rule (1-based).

use std::collections::BTreeSet;
use std::fmt;

use sluice_model::{METRIC_NAME, parse_duration};
use sluice_promql::Engine;

use crate::file::{GroupDoc, RuleDoc, RuleFileDoc, Scalar};
use crate::template::Template;
use crate::{AlertingRule, RecordingRule, Rule, RuleGroup};

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The group's name.
    pub group: String,
    /// 1-based position of the rule in its group (`None`: a group error).
    pub rule: Option<usize>,
    /// The rule's alert or record name.
    pub rule_name: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(n) => write!(
                f,
                "group {:?}, rule {n}, {:?}: {}",
                self.group, self.rule_name, self.message
            ),
            None => write!(f, "{}", self.message),
        }
    }
}

/// Prometheus' legacy metric-name syntax `[a-zA-Z_:][a-zA-Z0-9_:]*`.
///
/// Prometheus 3 defaults to UTF-8 names; Sluice keeps the legacy scheme
/// because its PromQL parser cannot select names outside it.
pub fn is_valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus' legacy label-name syntax `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn duration_ms(s: &Option<Scalar>) -> Result<Option<i64>, String> {
    match s {
        None => Ok(None),
        Some(Scalar(text)) => parse_duration(text)
            .map(|d| Some(d.as_millis() as i64))
            .map_err(|e| e.to_string()),
    }
}

/// Validates the document and compiles its groups, or returns every error.
pub(crate) fn compile(file: &str, doc: &RuleFileDoc) -> Result<Vec<RuleGroup>, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut names = BTreeSet::new();
    for g in &doc.groups {
        let group_err = |message: String| RuleError {
            group: g.name.clone(),
            rule: None,
            rule_name: String::new(),
            message,
        };
        if g.name.is_empty() {
            errors.push(group_err("Groupname must not be empty".into()));
        } else if !names.insert(g.name.as_str()) {
            errors.push(group_err(format!(
                "groupname: {:?} is repeated in the same file",
                g.name
            )));
        }
        match compile_group(file, g) {
            Ok(group) => groups.push(group),
            Err(errs) => errors.extend(errs),
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

fn compile_group(file: &str, g: &GroupDoc) -> Result<RuleGroup, Vec<RuleError>> {
    let mut errors = Vec::new();
    let mut group_err = |message: String| {
        errors.push(RuleError {
            group: g.name.clone(),
            rule: None,
            rule_name: String::new(),
            message,
        })
    };
    let interval_ms = duration_ms(&g.interval).unwrap_or_else(|e| {
        group_err(format!("group {:?}: interval: {e}", g.name));
        None
    });
    let query_offset_ms = duration_ms(&g.query_offset).unwrap_or_else(|e| {
        group_err(format!("group {:?}: query_offset: {e}", g.name));
        None
    });
    let limit = g.limit.unwrap_or(0);
    if limit < 0 {
        group_err(format!("group {:?}: limit must not be negative", g.name));
    }
    for name in g.labels.keys() {
        if !is_valid_label_name(name) || name == METRIC_NAME {
            group_err(format!("group {:?}: invalid label name: {name}", g.name));
        }
    }
    let mut rules = Vec::new();
    for (i, r) in g.rules.iter().enumerate() {
        match compile_rule(g, r) {
            Ok(rule) => rules.push(rule),
            Err(messages) => errors.extend(messages.into_iter().map(|message| RuleError {
                group: g.name.clone(),
                rule: Some(i + 1),
                rule_name: r.name().to_string(),
                message,
            })),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleGroup {
        file: file.to_string(),
        name: g.name.clone(),
        interval_ms: interval_ms.filter(|&d| d > 0),
        query_offset_ms,
        limit: limit.max(0) as usize,
        rules,
    })
}

/// Checks one rule (the messages of Prometheus' `RuleNode.Validate`).
fn compile_rule(g: &GroupDoc, r: &RuleDoc) -> Result<Rule, Vec<String>> {
    let mut errs = Vec::new();
    let record = r.record.as_ref().map(|s| s.0.as_str()).unwrap_or("");
    let alert = r.alert.as_ref().map(|s| s.0.as_str()).unwrap_or("");
    if !record.is_empty() && !alert.is_empty() {
        errs.push("only one of 'record' and 'alert' must be set".to_string());
    }
    if record.is_empty() && alert.is_empty() {
        errs.push("one of 'record' or 'alert' must be set".to_string());
    }
    let expr = r.expr.as_ref().map(|s| s.0.trim()).unwrap_or("");
    if expr.is_empty() {
        errs.push("field 'expr' must be set in rule".to_string());
    } else if let Err(e) = Engine::parse_check(expr) {
        errs.push(format!("could not parse expression: {e}"));
    }
    let for_ms = duration_ms(&r.for_).unwrap_or_else(|e| {
        errs.push(format!("for: {e}"));
        None
    });
    let keep_ms = duration_ms(&r.keep_firing_for).unwrap_or_else(|e| {
        errs.push(format!("keep_firing_for: {e}"));
        None
    });
    if !record.is_empty() {
        if !r.annotations.is_empty() {
            errs.push("invalid field 'annotations' in recording rule".to_string());
        }
        if for_ms.unwrap_or(0) != 0 {
            errs.push("invalid field 'for' in recording rule".to_string());
        }
        if keep_ms.unwrap_or(0) != 0 {
            errs.push("invalid field 'keep_firing_for' in recording rule".to_string());
        }
        if !is_valid_metric_name(record) {
            errs.push(format!("invalid recording rule name: {record}"));
        }
    }
    for name in r.labels.keys() {
        if !is_valid_label_name(name) || name == METRIC_NAME {
            errs.push(format!("invalid label name: {name}"));
        }
    }
    for name in r.annotations.keys() {
        if !is_valid_label_name(name) {
            errs.push(format!("invalid annotation name: {name}"));
        }
    }
    // Group labels first, the rule's own override them.
    let mut labels: Vec<(String, String)> = g.labels.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    for (k, v) in &r.labels {
        labels.retain(|(n, _)| n != k);
        labels.push((k.clone(), v.0.clone()));
    }
    labels.sort();
    if !alert.is_empty() && record.is_empty() {
        // Like Prometheus, only alerting rules' templates are checked: a
        // recording rule's labels are used verbatim.
        let tmpl_name = format!("__alert_{alert}");
        let mut parse_all = |what: &str, pairs: &[(String, String)]| -> Vec<(String, Template)> {
            let mut out = Vec::new();
            for (k, v) in pairs {
                match Template::parse(&tmpl_name, v) {
                    Ok(t) => out.push((k.clone(), t)),
                    Err(e) => errs.push(format!("{what} {k:?}: {e}")),
                }
            }
            out
        };
        let label_templates = parse_all("label", &labels);
        let annotations: Vec<(String, String)> = r
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let annotation_templates = parse_all("annotation", &annotations);
        if !errs.is_empty() {
            return Err(errs);
        }
        return Ok(Rule::Alerting(AlertingRule {
            name: alert.to_string(),
            expr: expr.to_string(),
            for_ms: for_ms.unwrap_or(0),
            keep_firing_for_ms: keep_ms.unwrap_or(0),
            labels: label_templates,
            annotations: annotation_templates,
        }));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Rule::Recording(RecordingRule {
        name: record.to_string(),
        expr: expr.to_string(),
        labels,
    }))
}

#[cfg(test)]
mod tests {
    use crate::file::{LoadOptions, load_str};

    fn errors(yaml: &str) -> Vec<String> {
        load_str("f.yml", yaml, LoadOptions::default())
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn every_error_of_a_file_is_reported_with_its_position() {
        let errs = errors(
            r#"
groups:
  - name: a
    rules:
      - record: ok_name
        expr: up
      - record: x
        alert: Y
        expr: up
      - expr: up
      - record: bad-name
        expr: "sum(up"
        for: 5m
        annotations: { summary: s }
      - alert: T
        expr: up == 0
        labels: { "0bad": x, severity: "{{ $label.x }}" }
        annotations: { text: "{{ if }}" }
  - name: a
    rules: []
"#,
        );
        let want = [
            r#"f.yml: group "a", rule 2, "Y": only one of 'record' and 'alert' must be set"#,
            r#"f.yml: group "a", rule 3, "": one of 'record' or 'alert' must be set"#,
            r#"f.yml: group "a", rule 4, "bad-name": could not parse expression: "#,
            r#"f.yml: group "a", rule 4, "bad-name": invalid field 'annotations' in recording rule"#,
            r#"f.yml: group "a", rule 4, "bad-name": invalid field 'for' in recording rule"#,
            r#"f.yml: group "a", rule 4, "bad-name": invalid recording rule name: bad-name"#,
            r#"f.yml: group "a", rule 5, "T": invalid label name: 0bad"#,
            r#"f.yml: group "a", rule 5, "T": label "severity": template: __alert_T: undefined variable "$label""#,
            r#"f.yml: group "a", rule 5, "T": annotation "text": template: __alert_T: "#,
            r#"f.yml: groupname: "a" is repeated in the same file"#,
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for w in want {
            assert!(
                errs.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_unless_ignored() {
        let yaml = "groups:\n  - name: a\n    namespace: x\n    rules: [{record: r, expr: '1'}]\n";
        let errs = errors(yaml);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("namespace"), "{errs:?}");
        let ok = load_str(
            "f.yml",
            yaml,
            LoadOptions {
                ignore_unknown_fields: true,
            },
        )
        .unwrap();
        assert_eq!(ok[0].rules.len(), 1);
    }

    #[test]
    fn group_fields_and_label_merging() {
        let groups = load_str(
            "f.yml",
            r#"
groups:
  - name: g
    interval: 30s
    query_offset: 1m
    limit: 10
    labels: { team: a, tier: x }
    rules:
      - record: r
        expr: 1
        labels: { tier: y, code: 0x10 }
"#,
            LoadOptions::default(),
        )
        .unwrap();
        let g = &groups[0];
        assert_eq!(
            (g.interval_ms, g.query_offset_ms, g.limit),
            (Some(30_000), Some(60_000), 10)
        );
        let crate::Rule::Recording(r) = &g.rules[0] else {
            panic!()
        };
        assert_eq!(r.expr, "1");
        assert_eq!(
            r.labels,
            vec![
                ("code".to_string(), "0x10".to_string()),
                ("team".to_string(), "a".to_string()),
                ("tier".to_string(), "y".to_string())
            ],
            "plain scalars keep their text, as Go's decoder gives them to string fields"
        );
    }
}
