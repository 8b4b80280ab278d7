//! Byte-level scanning shared by both text formats: line splitting, metric and
//! label names, quoted label values and label sets.
//!
//! Everything borrows from the (already UTF-8 validated) input: a label set
//! is a reused `Vec` of [`RawLabel`]s pointing into the line (a value is
//! copied only when it has escapes), so checking a line allocates nothing.
//! Owned strings are made only for the samples a caller keeps
//! ([`with_metric_name`]).

use std::borrow::Cow;

use sluice_model::{Label, Labels, METRIC_NAME};

/// One `name="value"` pair as written in the line, the value unescaped
/// (borrowed unless it had escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawLabel<'a> {
    pub(super) name: &'a str,
    pub(super) value: Cow<'a, str>,
}

/// Byte classes for names: bit 0 may start a label name, bit 1 may follow
/// in one, bit 2 `:` (metric names only). A table lookup per byte instead
/// of four comparisons.
const NAME_START: u8 = 1;
const NAME_REST: u8 = 2;
const COLON: u8 = 4;
static NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = NAME_START | NAME_REST;
        } else if b.is_ascii_digit() {
            t[c] = NAME_REST;
        } else if b == b':' {
            t[c] = COLON;
        }
        c += 1;
    }
    t
};

/// One input line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    /// 1-based line number, as reported in errors.
    pub(super) number: usize,
    /// The line without its `\n`.
    pub(super) text: &'a str,
}

/// Splits input into `\n`-terminated lines. A final `\n` does not start an
/// empty line, so "a\n" is one line and "a\n\n" is two (the second empty),
/// which is what OpenMetrics' "nothing after `# EOF`" rule needs.
pub(super) fn lines(input: &str) -> impl Iterator<Item = Line<'_>> {
    let mut rest = input;
    let mut number = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        number += 1;
        // `str::find(char)` is memchr-accelerated for ASCII needles.
        let text = match rest.find('\n') {
            Some(i) => {
                let t = &rest[..i];
                rest = &rest[i + 1..];
                t
            }
            None => std::mem::take(&mut rest),
        };
        Some(Line { number, text })
    })
}

/// The two grammars differ only in whitespace tolerance: text 0.0.4 allows
/// blanks (spaces, tabs) around label tokens and a trailing comma, as
/// Prometheus' own lexer does; OpenMetrics allows neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Text,
    OpenMetrics,
}

/// A position in one line.
pub(super) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Consumes `c` if it is next.
    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `c` or fails with `what`.
    pub(super) fn expect(&mut self, c: u8, what: &str) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("{what}, found {}", self.describe_next()))
        }
    }

    /// Skips spaces and tabs; returns how many were skipped.
    pub(super) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The text up to the next byte in `stops` (or the end), consumed.
    pub(super) fn token_until(&mut self, stops: &[u8]) -> &'a str {
        let start = self.pos;
        let rest = &self.bytes()[start..];
        let len = rest.iter().position(|b| stops.contains(b)).unwrap_or(rest.len());
        self.pos += len;
        &self.s[start..self.pos]
    }

    /// A human-readable description of what comes next, for error messages.
    pub(super) fn describe_next(&self) -> String {
        match self.s[self.pos..].chars().next() {
            None => "end of line".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Result<&'a str, String> {
        let name = self.ident(true);
        if name.is_empty() {
            Err(format!("expected a metric name, found {}", self.describe_next()))
        } else {
            Ok(name)
        }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub(super) fn label_name(&mut self) -> Result<&'a str, String> {
        let name = self.ident(false);
        if name.is_empty() {
            Err(format!("expected a label name, found {}", self.describe_next()))
        } else {
            Ok(name)
        }
    }

    fn ident(&mut self, colons: bool) -> &'a str {
        let start = self.pos;
        let b = self.bytes();
        let extra = if colons { COLON } else { 0 };
        let mut i = start;
        if i < b.len() && NAME_CLASS[b[i] as usize] & (NAME_START | extra) != 0 {
            i += 1;
            while i < b.len() && NAME_CLASS[b[i] as usize] & (NAME_REST | extra) != 0 {
                i += 1;
            }
        }
        self.pos = i;
        &self.s[start..i]
    }

    /// A `"`-quoted label value, unescaped. `\\`, `\"` and `\n` are
    /// escapes; any other backslash is kept literally, which is what
    /// Prometheus and the OpenMetrics reference parser do (the suite's
    /// `label_escaping` case has `"\foo"`). Borrowed unless it had escapes.
    pub(super) fn quoted_value(&mut self) -> Result<Cow<'a, str>, String> {
        self.expect(b'"', "expected '\"' to open the label value")?;
        let b = self.bytes();
        let start = self.pos;
        let Some(i) = memchr::memchr2(b'"', b'\\', &b[start..]) else {
            return Err("unterminated label value".to_string());
        };
        if b[start + i] == b'"' {
            self.pos = start + i + 1;
            return Ok(Cow::Borrowed(&self.s[start..start + i]));
        }
        let mut out = String::with_capacity(i + 16);
        loop {
            let rest = &b[self.pos..];
            let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err("unterminated label value".to_string());
            };
            let j = self.pos + i;
            out.push_str(&self.s[self.pos..j]);
            if b[j] == b'"' {
                self.pos = j + 1;
                return Ok(Cow::Owned(out));
            }
            match b.get(j + 1) {
                Some(b'\\') => out.push('\\'),
                Some(b'"') => out.push('"'),
                Some(b'n') => out.push('\n'),
                Some(_) => {
                    // Unknown escape: keep the backslash, rescan from the
                    // next character (which may itself be a quote).
                    out.push('\\');
                    self.pos = j + 1;
                    continue;
                }
                None => return Err("unterminated label value".to_string()),
            }
            self.pos = j + 2;
        }
    }

    /// A `{name="value",...}` set starting at `{`, appended to `out` in input
    /// order (the caller sorts and checks duplicates).
    pub(super) fn label_set(&mut self, dialect: Dialect, out: &mut Vec<RawLabel<'a>>) -> Result<(), String> {
        let blanks = dialect == Dialect::Text;
        self.expect(b'{', "expected '{'")?;
        if blanks {
            self.skip_blanks();
        }
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let name = self.label_name()?;
            if blanks {
                self.skip_blanks();
            }
            self.expect(b'=', "expected '=' after the label name")?;
            if blanks {
                self.skip_blanks();
            }
            let value = self.quoted_value()?;
            out.push(RawLabel { name, value });
            if blanks {
                self.skip_blanks();
            }
            if self.eat(b'}') {
                return Ok(());
            }
            self.expect(b',', "expected ',' or '}' after the label value")?;
            if blanks {
                self.skip_blanks();
                // Text 0.0.4 tolerates a trailing comma; OpenMetrics does not
                // (suite case bad_missing_or_extra_commas_2).
                if self.eat(b'}') {
                    return Ok(());
                }
            }
        }
    }
}

/// Sorts labels by name, rejects duplicate names and an explicit
/// `__name__`, and drops empty values (Prometheus: `l=""` means "no label").
/// Validation of the sample's labels happens on the result.
pub(super) fn normalize_labels(labels: &mut Vec<RawLabel<'_>>) -> Result<(), String> {
    // Exporters nearly always write labels sorted: check before sorting.
    if !labels.is_sorted_by(|a, b| a.name < b.name) {
        labels.sort_unstable_by(|a, b| a.name.cmp(b.name));
        if let Some(w) = labels.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(format!("duplicate label name {:?}", w[0].name));
        }
    }
    if labels.binary_search_by(|l| l.name.cmp(METRIC_NAME)).is_ok() {
        return Err(format!("label {METRIC_NAME:?} is reserved for the metric name"));
    }
    if labels.iter().any(|l| l.value.is_empty()) {
        labels.retain(|l| !l.value.is_empty());
    }
    Ok(())
}

/// Copies normalized labels plus `__name__` into an exactly sized, sorted,
/// owned label set. `labels` is left empty with its capacity, so callers
/// reuse it as scratch.
pub(super) fn with_metric_name(name: &str, labels: &mut Vec<RawLabel<'_>>) -> Labels {
    let owned = owned_with_metric_name(name, labels);
    labels.clear();
    owned
}

/// [`with_metric_name`] without consuming the borrowed labels.
pub(super) fn owned_with_metric_name(name: &str, labels: &[RawLabel<'_>]) -> Labels {
    let at = labels.partition_point(|l| l.name < METRIC_NAME);
    let owned = |l: &RawLabel<'_>| Label {
        name: l.name.to_owned(),
        value: l.value.clone().into_owned(),
    };
    let mut out = Vec::with_capacity(labels.len() + 1);
    out.extend(labels[..at].iter().map(owned));
    out.push(Label {
        name: METRIC_NAME.to_string(),
        value: name.to_string(),
    });
    out.extend(labels[at..].iter().map(owned));
    Labels::from_sorted(out)
}

/// Unescapes HELP text. Both formats know `\\` and `\n`; OpenMetrics also
/// `\"`. Unknown escapes stay literal, as in label values.
pub(super) fn unescape_help(text: &str, dialect: Dialect) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if dialect == Dialect::OpenMetrics => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

/// True for a complete metric name.
pub(super) fn is_metric_name(s: &str) -> bool {
    let mut c = Cursor::new(s);
    c.metric_name().is_ok() && c.at_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str, d: Dialect) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        let mut c = Cursor::new(s);
        c.label_set(d, &mut out)?;
        if !c.at_end() {
            return Err("trailing".into());
        }
        Ok(out
            .into_iter()
            .map(|l| (l.name.to_string(), l.value.into_owned()))
            .collect())
    }

    #[test]
    fn lines_split_on_newline_without_phantom_last_line() {
        let v: Vec<_> = lines("a\nb\n").map(|l| (l.number, l.text)).collect();
        assert_eq!(v, vec![(1, "a"), (2, "b")]);
        let v: Vec<_> = lines("a\n\nb").map(|l| l.text).collect();
        assert_eq!(v, vec!["a", "", "b"]);
        assert_eq!(lines("").count(), 0);
    }

    #[test]
    fn label_values_unescape_known_escapes_and_keep_unknown_ones() {
        let v = set(r#"{a="x\"y\\z\nw",b="\q",c="\\"}"#, Dialect::OpenMetrics).unwrap();
        assert_eq!(v[0].1, "x\"y\\z\nw");
        assert_eq!(v[1].1, "\\q");
        assert_eq!(v[2].1, "\\");
    }

    #[test]
    fn whitespace_and_trailing_comma_only_in_text_dialect() {
        assert!(set(r#"{ a = "1" , b="2", }"#, Dialect::Text).is_ok());
        assert!(set(r#"{a="1",}"#, Dialect::OpenMetrics).is_err());
        assert!(set(r#"{a= "1"}"#, Dialect::OpenMetrics).is_err());
        assert!(set(r#"{1a="1"}"#, Dialect::Text).is_err());
        assert!(set(r#"{a="1}"#, Dialect::Text).is_err());
    }

    #[test]
    fn normalize_sorts_rejects_duplicates_and_drops_empty() {
        let mk = |v: &[(&'static str, &'static str)]| -> Vec<RawLabel<'static>> {
            v.iter()
                .map(|(n, v)| RawLabel {
                    name: n,
                    value: Cow::Borrowed(*v),
                })
                .collect()
        };
        let mut l = mk(&[("b", "1"), ("a", ""), ("c", "2")]);
        normalize_labels(&mut l).unwrap();
        let labels = with_metric_name("m", &mut l);
        assert_eq!(labels.to_string(), r#"m{b="1", c="2"}"#);
        assert!(normalize_labels(&mut mk(&[("a", "1"), ("a", "2")])).is_err());
        assert!(normalize_labels(&mut mk(&[("__name__", "x")])).is_err());
    }

    #[test]
    fn help_escapes_depend_on_dialect() {
        assert_eq!(unescape_help(r#"a\\b\nc\"d\x"#, Dialect::Text), "a\\b\nc\\\"d\\x");
        assert_eq!(
            unescape_help(r#"a\\b\nc\"d\x"#, Dialect::OpenMetrics),
            "a\\b\nc\"d\\x"
        );
        assert_eq!(unescape_help(r"end\", Dialect::OpenMetrics), "end\\");
    }
}
