//! `relabel_configs` entries, deserialised with Prometheus' field names,
//! defaults and validation messages.

use std::fmt;

use regex::Regex;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What a relabel step does (Prometheus' `action`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` if `regex` matches.
    #[default]
    Replace,
    /// Drops the series unless `regex` matches the joined source values.
    Keep,
    /// Drops the series if `regex` matches the joined source values.
    Drop,
    /// Drops the series unless the joined source values equal `target_label`'s value.
    KeepEqual,
    /// Drops the series if the joined source values equal `target_label`'s value.
    DropEqual,
    /// Sets `target_label` to `md5(joined) % modulus`.
    HashMod,
    /// Copies labels whose name matches `regex` to the expanded `replacement` name.
    LabelMap,
    /// Removes labels whose name matches `regex`.
    LabelDrop,
    /// Removes labels whose name does not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lower-cased joined source values.
    Lowercase,
    /// Sets `target_label` to the upper-cased joined source values.
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The YAML keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| de::Error::custom(format!("unknown relabel action {s:?}")))
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A relabel `regex`: kept as written, compiled fully anchored
/// (`^(?:re)$`) as Prometheus does. A pattern that does not compile is kept
/// too, so [`RelabelConfig::validate`] can report it together with every
/// other config error instead of failing deserialisation at the first one.
#[derive(Debug, Clone)]
pub struct RelabelRegex {
    original: String,
    compiled: Result<Regex, String>,
}

impl RelabelRegex {
    /// Compiles `pattern` anchored at both ends.
    pub fn new(pattern: &str) -> Self {
        RelabelRegex {
            original: pattern.to_string(),
            compiled: Regex::new(&format!("^(?:{})$", super::goregex::translate(pattern)))
                .map_err(|e| e.to_string()),
        }
    }

    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The anchored regex, or why it does not compile.
    pub fn regex(&self) -> Result<&Regex, &str> {
        self.compiled.as_ref().map_err(String::as_str)
    }

    /// True when the whole of `s` matches (false for an invalid pattern).
    pub fn is_match(&self, s: &str) -> bool {
        self.compiled.as_ref().is_ok_and(|re| re.is_match(s))
    }
}

impl Default for RelabelRegex {
    fn default() -> Self {
        RelabelRegex::new(DEFAULT_REGEX)
    }
}

impl PartialEq for RelabelRegex {
    fn eq(&self, other: &Self) -> bool {
        self.original == other.original
    }
}

impl<'de> Deserialize<'de> for RelabelRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `regex:` with no value is the empty pattern in Prometheus.
        let s = Option::<Scalar>::deserialize(d)?.map(|s| s.0).unwrap_or_default();
        Ok(RelabelRegex::new(&s))
    }
}

impl Serialize for RelabelRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}

/// Default `regex`: matches anything and captures it as `$1`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// Default `separator` between joined source label values.
pub const DEFAULT_SEPARATOR: &str = ";";
/// Default `replacement`.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One entry of `relabel_configs` / `metric_relabel_configs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins the source values (default `;`).
    #[serde(default = "default_separator", deserialize_with = "scalar_string")]
    pub separator: String,
    /// Label written by replace, hashmod, lowercase, uppercase; compared by
    /// keepequal/dropequal. May hold `$refs` for `replace`.
    #[serde(default, deserialize_with = "scalar_string")]
    pub target_label: String,
    /// Anchored regex (default `(.*)`).
    #[serde(default)]
    pub regex: RelabelRegex,
    /// Modulus for `hashmod` (required there, must be non-zero).
    #[serde(default)]
    pub modulus: u64,
    /// Template for `replace` values and `labelmap` names (default `$1`).
    #[serde(default = "default_replacement", deserialize_with = "scalar_string")]
    pub replacement: String,
    /// What to do (default `replace`).
    #[serde(default)]
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: default_separator(),
            target_label: String::new(),
            regex: RelabelRegex::default(),
            modulus: 0,
            replacement: default_replacement(),
            action: Action::Replace,
        }
    }
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

/// A YAML scalar read as a string, as Go's YAML decoder does for string
/// fields (`replacement: 1` is the string "1", not a type error).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Option::<Scalar>::deserialize(d).map(|s| s.map(|s| s.0).unwrap_or_default())
}

/// A valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus' `relabelTarget`: a label name in which `$ref`s may stand for
/// letters, e.g. `${1}_suffix` or `$name`.
fn is_valid_target_template(s: &str) -> bool {
    use std::sync::OnceLock;
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
            .expect("static regex")
    })
    .is_match(s)
}

impl RelabelConfig {
    /// Every problem with this entry, each prefixed with `path` (e.g.
    /// `scrape_configs[0].relabel_configs[2]`), in the words Prometheus uses.
    /// Empty when the entry is usable.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let mut err = |msg: String| errs.push(format!("{path}: {msg}"));
        let a = self.action;
        if let Err(e) = self.regex.regex() {
            err(format!("invalid regex {:?}: {e}", self.regex.as_str()));
        }
        for name in &self.source_labels {
            if !is_valid_label_name(name) {
                err(format!("{name:?} is not a valid label name"));
            }
        }
        if a == Action::HashMod && self.modulus == 0 {
            err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let writes_target = matches!(
            a,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        // hashmod's target is used verbatim, the others may hold `$refs`.
        let target_ok = if a == Action::HashMod {
            is_valid_label_name(&self.target_label)
        } else {
            is_valid_target_template(&self.target_label)
        };
        if writes_target && self.target_label.is_empty() {
            err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        } else if writes_target && !target_ok {
            err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        let no_replacement = matches!(
            a,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if no_replacement && self.replacement != DEFAULT_REPLACEMENT {
            err(format!("'replacement' can not be set for {a} action"));
        }
        if a == Action::LabelMap && !is_valid_target_template(&self.replacement) {
            err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                self.replacement
            ));
        }
        let defaults = RelabelConfig::default();
        if matches!(a, Action::KeepEqual | Action::DropEqual)
            && (self.regex != defaults.regex
                || self.modulus != defaults.modulus
                || self.separator != defaults.separator
                || self.replacement != defaults.replacement)
        {
            err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || self.target_label != defaults.target_label
                || self.modulus != defaults.modulus
                || self.separator != defaults.separator
                || self.replacement != defaults.replacement)
        {
            err(format!("{a} action requires only 'regex', and no other fields"));
        }
        errs
    }
}
