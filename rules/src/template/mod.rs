//! Prometheus' alert template language: a subset of Go's `text/template`
//! large enough for rule labels and annotations.
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! comments; `.`, fields (`.Labels.job`), variables (`$labels`, `$value`,
//! `$externalLabels`, `$externalURL`, `$`, and `:=`/`=` declarations);
//! pipelines (`$value | humanize`), parenthesised sub-pipelines; `if` /
//! `else if` / `else` / `end`, `with`, `range` (with `$k, $v :=`, `else`,
//! `break`, `continue`); Go's builtins `and or not len index print printf
//! println eq ne lt le gt ge urlquery`; Prometheus' `humanize humanize1024
//! humanizeDuration humanizePercentage humanizeTimestamp toUpper toLower
//! title reReplaceAll match stripPort parseDuration externalURL pathPrefix
//! graphLink tableLink safeHtml args`; named templates (`define`,
//! `template`); and the PromQL functions `query` (an instant query at the
//! alert's evaluation time, on the evaluator's data, through
//! [`AlertData::query`]), `first`, `label`, `value`, `strvalue`,
//! `sortByLabel`.
//!
//! Not supported: `block` (refused when parsing). A failing expansion
//! becomes Prometheus' `<error expanding template: ...>`.
//!
//! As in Prometheus, a missing label reads as the empty string
//! (`missingkey=zero`), and numbers print with Go's `fmt` rules.

mod eval;
mod funcs;
mod gofmt;
mod lex;
mod parse;

use std::collections::BTreeMap;

use sluice_model::Labels;

pub(crate) use funcs::query_escape;
pub(crate) use gofmt::quote as go_quote;

use eval::{Exec, Value};
use funcs::FuncEnv;
use parse::Node;

/// Why a template failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The text is not a valid template.
    #[error("{0}")]
    Parse(String),
    /// Executing the template failed.
    #[error("{0}")]
    Exec(String),
}

/// The variables Prometheus defines before every alert template.
const PREDECLARED: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

/// Runs an instant PromQL query at the alert's evaluation time for the
/// `query` template function: (labels, value) per sample, a scalar as one
/// sample without labels.
pub type QueryFn<'a> = &'a (dyn Fn(&str) -> Result<Vec<(Labels, f64)>, String> + Sync);

/// What an alert's labels and annotations are expanded with.
#[derive(Clone, Copy)]
pub struct AlertData<'a> {
    /// The alert's labels (the expression's output labels).
    pub labels: &'a Labels,
    /// The server's external labels.
    pub external_labels: &'a Labels,
    /// The server's external URL.
    pub external_url: &'a str,
    /// The expression's value for this alert.
    pub value: f64,
    /// How `query` runs PromQL (`None`: it fails, e.g. outside a rule
    /// evaluation).
    pub query: Option<QueryFn<'a>>,
}

impl std::fmt::Debug for AlertData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertData")
            .field("labels", self.labels)
            .field("value", &self.value)
            .field("query", &self.query.is_some())
            .finish_non_exhaustive()
    }
}

/// A parsed template, ready to expand many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
    /// `{{define "name"}}` bodies, for `{{template "name"}}`.
    defines: BTreeMap<String, Vec<Node>>,
    /// True when the text has no action: expansion is the text itself.
    literal: bool,
    text: String,
}

impl Template {
    /// Parses `text`; `name` appears in error messages (Prometheus uses
    /// `__alert_<alertname>`).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let wrap = |e: TemplateError| TemplateError::Parse(format!("template: {name}: {e}"));
        let items = lex::lex(text).map_err(wrap)?;
        let (nodes, defines) = parse::parse(items, &PREDECLARED).map_err(wrap)?;
        Ok(Template {
            name: name.to_string(),
            literal: !text.contains("{{"),
            nodes,
            defines,
            text: text.to_string(),
        })
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The PromQL of every `query "<literal>"` call, so an evaluator that
    /// keeps only the data its rules need can keep this too.
    pub fn literal_queries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for nodes in std::iter::once(&self.nodes).chain(self.defines.values()) {
            parse::literal_queries(nodes, &mut out);
        }
        out
    }

    /// Expands the template for one alert.
    pub fn expand(&self, data: &AlertData<'_>) -> Result<String, TemplateError> {
        if self.literal {
            return Ok(self.text.clone());
        }
        let labels = label_map(data.labels);
        let external = label_map(data.external_labels);
        let root = Value::Struct(vec![
            ("Labels", labels.clone()),
            ("ExternalLabels", external.clone()),
            ("ExternalURL", Value::Str(data.external_url.to_string())),
            ("Value", Value::Float(data.value)),
        ]);
        let vars = vec![
            ("labels".to_string(), labels),
            ("externalLabels".to_string(), external),
            (
                "externalURL".to_string(),
                Value::Str(data.external_url.to_string()),
            ),
            ("value".to_string(), Value::Float(data.value)),
        ];
        let env = FuncEnv {
            external_url: data.external_url.to_string(),
            query: data.query,
        };
        let mut out = String::new();
        Exec::new(&root, vars, &env, &self.defines)
            .run(&self.nodes, &root, &mut out)
            .map_err(|e| {
                TemplateError::Exec(format!(
                    "error executing template {}: template: {}: {e}",
                    self.name, self.name
                ))
            })?;
        Ok(out)
    }

    /// [`Template::expand`], with a failure rendered the way Prometheus
    /// puts it into the alert: `<error expanding template: ...>`.
    pub fn expand_or_error_text(&self, data: &AlertData<'_>) -> String {
        self.expand(data)
            .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
    }
}

fn label_map(labels: &Labels) -> Value {
    Value::Map(
        labels
            .iter()
            .map(|l| (l.name.clone(), Value::Str(l.value.clone())))
            .collect::<BTreeMap<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str, value: f64) -> String {
        let labels = Labels::new([("__name__", "up"), ("instance", "node-1:9100"), ("job", "node")]);
        let ext = Labels::new([("cluster", "eu1")]);
        let t = Template::parse("__alert_Test", text).unwrap_or_else(|e| panic!("{text}: {e}"));
        t.expand_or_error_text(&AlertData {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://prom.example:9090/p",
            value,
            query: None,
        })
    }

    #[test]
    fn query_functions_and_named_templates_run() {
        let labels = Labels::new([("job", "node")]);
        let ext = Labels::default();
        let run = |q: &str| -> Result<Vec<(Labels, f64)>, String> {
            assert_eq!(q, "up{job='node'}");
            Ok(vec![
                (Labels::new([("__name__", "up"), ("id", "2")]), 0.0),
                (Labels::new([("__name__", "up"), ("id", "1")]), 1.0),
            ])
        };
        let data = AlertData {
            labels: &labels,
            external_labels: &ext,
            external_url: "",
            value: 0.0,
            query: Some(&run),
        };
        let text = r#"{{ define "t" }}{{ .arg0 }} {{ .arg1 }}. {{ with query "up{job='node'}" }}first:{{ . | sortByLabel "id" | first | label "id" }},{{ range $v := sortByLabel "id" . }}{{ . | label "id" }}={{ . | value }};{{ end }}{{ end }}{{ end }}{{ template "t" (args "a" 9) }}"#;
        let t = Template::parse("__alert_Q", text).unwrap();
        assert_eq!(t.expand(&data).unwrap(), "a 9. first:1,1=1;2=0;");
        let none = AlertData { query: None, ..data };
        assert!(
            t.expand_or_error_text(&none)
                .contains("query() is only available")
        );
        let empty = Template::parse("__alert_E", r#"{{ query "x" | first }}"#).unwrap();
        let no_rows = |_: &str| -> Result<Vec<(Labels, f64)>, String> { Ok(Vec::new()) };
        let e = empty
            .expand(&AlertData {
                query: Some(&no_rows),
                ..data
            })
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("first() called on vector with no elements"),
            "{e}"
        );
    }

    #[test]
    fn variables_fields_and_values() {
        assert_eq!(
            expand("{{ $labels.instance }} of {{ .Labels.job }}", 0.0),
            "node-1:9100 of node"
        );
        assert_eq!(
            expand("v={{ $value }} V={{ .Value }}", 1234567.0),
            "v=1.234567e+06 V=1.234567e+06"
        );
        assert_eq!(
            expand("{{ $externalLabels.cluster }}/{{ .ExternalURL }}", 0.0),
            "eu1/http://prom.example:9090/p"
        );
        assert_eq!(expand("[{{ $labels.missing }}]", 0.0), "[]");
        assert_eq!(expand("{{ $x := .Labels }}{{ $x.job }}", 0.0), "node");
    }

    #[test]
    fn pipelines_and_functions() {
        assert_eq!(expand("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(expand("{{ humanizePercentage $value }}", 0.256), "25.6%");
        assert_eq!(expand(r#"{{ printf "%.1f" $value }}"#, 2.25), "2.2");
        assert_eq!(
            expand("{{ .Labels.job | toUpper | printf \"<%s>\" }}", 0.0),
            "<NODE>"
        );
        assert_eq!(
            expand(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0),
            "node-1"
        );
        assert_eq!(expand("{{ (humanize1024 $value) }}B", 2048.0), "2kiB");
        assert_eq!(expand("{{ title \"disk full\" }}", 0.0), "Disk Full");
        assert_eq!(expand("{{ pathPrefix }}", 0.0), "/p");
    }

    #[test]
    fn control_flow() {
        let t = "{{ if gt $value 10.0 }}high{{ else if gt $value 5.0 }}mid{{ else }}low{{ end }}";
        assert_eq!(expand(t, 11.0), "high");
        assert_eq!(expand(t, 6.0), "mid");
        assert_eq!(expand(t, 1.0), "low");
        assert_eq!(
            expand("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0.0),
            "__name__=up;instance=node-1:9100;job=node;"
        );
        assert_eq!(
            expand(
                "{{ range $labels }}{{ if eq . \"up\" }}{{ continue }}{{ end }}{{ . }},{{ end }}",
                0.0
            ),
            "node-1:9100,node,"
        );
        assert_eq!(
            expand("{{ with $labels.job }}job {{ . }}{{ end }}", 0.0),
            "job node"
        );
        assert_eq!(
            expand("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
            "none"
        );
        assert_eq!(expand("a {{- /* c */ -}} b", 0.0), "ab");
        assert_eq!(
            expand(
                "{{ if and (eq $labels.job \"node\") (not false) }}ok{{ end }}",
                0.0
            ),
            "ok"
        );
    }

    #[test]
    fn execution_errors_render_like_prometheus() {
        let out = expand("{{ gt $value 1 }}", 2.0);
        assert!(
            out.starts_with("<error expanding template: error executing template __alert_Test:"),
            "{out}"
        );
        assert!(out.contains("incompatible types for comparison"), "{out}");
        assert!(expand("{{ query \"up\" }}", 0.0).contains("only available while rules are evaluated"));
    }

    #[test]
    fn parse_errors_name_the_template() {
        let e = Template::parse("__alert_X", "{{ $label.foo }}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: __alert_X: undefined variable \"$label\""
        );
        assert!(Template::parse("t", "{{ if }}").is_err());
        assert!(Template::parse("t", "{{ range $labels }}").is_err());
    }
}
