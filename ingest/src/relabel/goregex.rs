//! Go's regexp flavour on top of the `regex` crate.
//!
//! Both are RE2 syntax, but Go's Perl classes (`\d \w \s`) and word
//! boundaries (`\b \B`) are ASCII-only while the `regex` crate's are
//! Unicode-aware: `^\w+$` matches "café" here and not in Prometheus. Inside
//! a character class Go reads `[` and `&&`/`~~` as literal characters, the
//! `regex` crate as nested classes and set operations; and Go has
//! `\Q...\E` literal quoting, the `regex` crate does not. [`translate`]
//! rewrites a pattern so that it means what it means to Prometheus.

/// `\d`, `\w`, `\s` as Go defines them (class bodies, without brackets).
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0C\r ";

/// The Go meaning of `pattern` in `regex` crate syntax. Patterns Go would
/// reject may come out still invalid, and the `regex` crate then reports
/// them.
pub(super) fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match (e, in_class) {
                    ('Q', _) => {
                        let mut lit = String::new();
                        while let Some(c) = chars.next() {
                            if c == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(c);
                        }
                        if in_class {
                            for c in lit.chars() {
                                // Quoted, `-` is a character, not a range.
                                if c == '-' {
                                    out.push('\\');
                                }
                                push_class_literal(&mut out, c);
                            }
                        } else {
                            out.push_str(&regex::escape(&lit));
                        }
                    }
                    ('d', false) => out.push_str(&format!("[{DIGIT}]")),
                    ('D', false) => out.push_str(&format!("[^{DIGIT}]")),
                    ('w', false) => out.push_str(&format!("[{WORD}]")),
                    ('W', false) => out.push_str(&format!("[^{WORD}]")),
                    ('s', false) => out.push_str(&format!("[{SPACE}]")),
                    ('S', false) => out.push_str(&format!("[^{SPACE}]")),
                    ('b', false) => out.push_str(r"(?-u:\b)"),
                    ('B', false) => out.push_str(r"(?-u:\B)"),
                    ('d', true) => out.push_str(DIGIT),
                    ('w', true) => out.push_str(WORD),
                    ('s', true) => out.push_str(SPACE),
                    // Negated classes nest: `[a\D]` becomes `[a[^0-9]]`.
                    ('D', true) => out.push_str(&format!("[^{DIGIT}]")),
                    ('W', true) => out.push_str(&format!("[^{WORD}]")),
                    ('S', true) => out.push_str(&format!("[^{SPACE}]")),
                    (e, _) => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                // A `]` right after the opening is a literal in both flavours.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str(r"\]");
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // `[:alpha:]` inside a class: the same (ASCII) in both.
                out.push('[');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c if in_class => push_class_literal(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A character inside a class, escaped where the `regex` crate would read
/// it as syntax that Go does not have (nested classes, set operations).
fn push_class_literal(out: &mut String, c: char) {
    if matches!(c, '[' | ']' | '\\' | '&' | '~') {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn go_match(pattern: &str, s: &str) -> bool {
        Regex::new(&format!("^(?:{})$", translate(pattern)))
            .unwrap()
            .is_match(s)
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(go_match(r"\w+", "cafe_1"));
        assert!(!go_match(r"\w+", "café"));
        assert!(go_match(r"\W", "é"));
        assert!(go_match(r"\d+", "0123"));
        assert!(!go_match(r"\d", "٣"));
        assert!(go_match(r"\D", "٣"));
        assert!(go_match(r"a\sb", "a\tb"));
        assert!(!go_match(r"a\sb", "a\u{a0}b"));
        assert!(!go_match(r"a\sb", "a\x0Bb"));
        assert!(go_match(r"[\w.-]+", "a.b-c"));
        assert!(!go_match(r"[\w]+", "é"));
        assert!(go_match(r"[^\D]", "7"));
        assert!(!go_match(r"[^\D]", "x"));
    }

    #[test]
    fn word_boundaries_are_ascii() {
        // Go sees a boundary between "é" (not a word char) and "x".
        assert!(Regex::new(&translate(r"\bx")).unwrap().is_match("éx"));
        assert!(!Regex::new(&translate(r"\Bx")).unwrap().is_match("éx"));
    }

    #[test]
    fn class_literals_and_quoting() {
        assert!(go_match(r"[[]", "["));
        assert!(go_match(r"[a&&b]+", "a&b"));
        assert!(go_match(r"[~~]", "~"));
        assert!(go_match(r"[]a]+", "]a"));
        assert!(go_match(r"[[:digit:]x]+", "1x2"));
        assert!(go_match(r"\Q.*+\E+", ".*++"));
        assert!(!go_match(r"\Q.*\E", "ab"));
        assert!(go_match(r"[\Q]\E]", "]"));
        assert!(go_match(r"[\Qa-c\E]+", "a-c"));
        assert!(!go_match(r"[\Qa-c\E]", "b"));
        // Escapes that mean the same in both pass through.
        assert!(go_match(r"\.\\\x41\pL", r".\AZ"));
    }
}
