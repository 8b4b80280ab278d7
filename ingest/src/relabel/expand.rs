//! `$1` / `${1}` / `${name}` template expansion with the exact rules of Go's
//! `regexp.Expand`, which Prometheus uses for `replacement` and
//! `target_label`. The rules differ from the `regex` crate's own expansion in
//! ways users notice (`$1x` names a group "1x", so it expands to nothing), so
//! they are reimplemented here rather than borrowed.

use regex::{Captures, Regex};

/// Appends `template` to `dst` with every `$ref` replaced by the capture it
/// names. Unknown or unmatched groups expand to nothing, `$$` is a literal
/// `$`, and a malformed reference (`$` followed by no name, `${` without `}`)
/// is kept as raw text.
pub(super) fn expand(dst: &mut String, re: &Regex, caps: &Captures<'_>, template: &str) {
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        dst.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            dst.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract(rest) else {
            dst.push('$');
            continue;
        };
        rest = after;
        match group_number(name) {
            Some(n) => {
                if let Some(m) = caps.get(n) {
                    dst.push_str(m.as_str());
                }
            }
            None => {
                // Go walks the group names in order and takes the first
                // name that matches *and* participated in the match.
                let hit = re
                    .capture_names()
                    .enumerate()
                    .filter(|(_, n)| *n == Some(name))
                    .find_map(|(i, _)| caps.get(i));
                if let Some(m) = hit {
                    dst.push_str(m.as_str());
                }
            }
        }
    }
    dst.push_str(rest);
}

/// Splits a reference off the text following a `$`: a non-empty run of
/// letters, digits and `_`, optionally wrapped in braces.
fn extract(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if len == 0 {
        return None;
    }
    let (name, mut rest) = body.split_at(len);
    if braced {
        rest = rest.strip_prefix('}')?;
    }
    Some((name, rest))
}

/// A group number as Go reads it: ASCII digits only, no leading zero,
/// below 10^8; anything else is a group *name*.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit()) || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if name.len() > 8 {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(re: &str, input: &str, template: &str) -> String {
        let re = Regex::new(re).unwrap();
        let caps = re.captures(input).unwrap();
        let mut out = String::new();
        expand(&mut out, &re, &caps, template);
        out
    }

    #[test]
    fn numbered_braced_and_named_references() {
        assert_eq!(run("(a)(b)", "ab", "$2-$1"), "b-a");
        assert_eq!(run("(a)(b)", "ab", "${1}x"), "ax");
        assert_eq!(run("(?P<first>a)(b)", "ab", "${first}:$first"), "a:a");
        assert_eq!(run("(a)", "a", "$0"), "a");
    }

    #[test]
    fn go_quirks() {
        // `$1x` is the (missing) group "1x", not group 1 followed by x.
        assert_eq!(run("(a)", "a", "$1x"), "");
        assert_eq!(run("(a)", "a", "$$1"), "$1");
        assert_eq!(run("(a)", "a", "cost: $"), "cost: $");
        assert_eq!(run("(a)", "a", "${1"), "${1");
        assert_eq!(run("(a)", "a", "$-"), "$-");
        // Out of range, unknown name, unmatched optional group: nothing.
        assert_eq!(run("(a)", "a", "[$7][$nope]"), "[][]");
        assert_eq!(run("(a)|(b)", "a", "[$2]"), "[]");
        // Leading zeros make it a name.
        assert_eq!(run("(a)", "a", "$01"), "");
    }
}
