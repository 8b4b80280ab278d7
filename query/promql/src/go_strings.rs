//! String literals that are not UTF-8 in Prometheus.
//!
//! Prometheus unquotes a PromQL string as Go does, into bytes: `"\xff"` is
//! the single byte 0xff, which is not UTF-8, so `label_replace(x, "\xff",
//! ...)` fails with "invalid destination label name". promql-parser
//! decodes the same escape to the character U+00FF ("ÿ"), a valid label
//! name, and the error never came (Prometheus' own test `functions.test`
//! expects it). This module finds the literals whose Go bytes are not
//! UTF-8, by the parser's own lexer over the query text, and marks them
//! where Prometheus rejects them: the destination label of `label_replace`
//! and `label_join`.

use std::collections::HashSet;

use lrpar::{Lexeme, Lexer, NonStreamingLexer};
use promql_parser::parser::token::T_STRING;
use promql_parser::parser::{self, Expr};
use promql_parser::util::unquote_string;

/// The values (as promql-parser decodes them) of the string literals of
/// `query` that are not UTF-8 once unquoted as Go unquotes them.
pub(crate) fn non_utf8_literals(query: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    // Only escapes make a literal of a `&str` non-UTF-8.
    if !query.contains('\\') {
        return found;
    }
    let Ok(lexer) = parser::lexer(query) else {
        return found;
    };
    for lexeme in lexer.iter().flatten() {
        if lexeme.tok_id() != T_STRING {
            continue;
        }
        let text = lexer.span_str(lexeme.span());
        let not_utf8 = go_unquote(text).is_some_and(|b| std::str::from_utf8(&b).is_err());
        if not_utf8 && let Ok(decoded) = unquote_string(text) {
            found.insert(decoded);
        }
    }
    found
}

/// Empties the destination label of every `label_replace`/`label_join`
/// whose destination literal is in `non_utf8`: the evaluator rejects an
/// empty destination with Prometheus' "invalid destination label name"
/// execution error, which is what Prometheus answers for a non-UTF-8 one.
pub(crate) fn mark_invalid_destinations(expr: &mut Expr, non_utf8: &HashSet<String>) {
    match expr {
        Expr::Call(call) => {
            if matches!(call.func.name, "label_replace" | "label_join")
                && let Some(dst) = call.args.args.get_mut(1)
                && let Expr::StringLiteral(lit) = dst.as_mut()
                && non_utf8.contains(&lit.val)
            {
                lit.val.clear();
            }
            for arg in &mut call.args.args {
                mark_invalid_destinations(arg, non_utf8);
            }
        }
        Expr::Aggregate(a) => {
            mark_invalid_destinations(&mut a.expr, non_utf8);
            if let Some(p) = &mut a.param {
                mark_invalid_destinations(p, non_utf8);
            }
        }
        Expr::Unary(u) => mark_invalid_destinations(&mut u.expr, non_utf8),
        Expr::Binary(b) => {
            mark_invalid_destinations(&mut b.lhs, non_utf8);
            mark_invalid_destinations(&mut b.rhs, non_utf8);
        }
        Expr::Paren(p) => mark_invalid_destinations(&mut p.expr, non_utf8),
        Expr::Subquery(s) => mark_invalid_destinations(&mut s.expr, non_utf8),
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
}

/// Go's `strconv.Unquote` of a quoted literal, as bytes; `None` when it is
/// not a literal Go would accept (the parser reports those).
fn go_unquote(text: &str) -> Option<Vec<u8>> {
    let quote = *text.as_bytes().first()?;
    let inner = text.get(1..text.len().checked_sub(1)?)?;
    if quote == b'`' {
        return Some(inner.as_bytes().to_vec());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let esc = chars.next()?;
        let simple = match esc {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' | '\'' | '"' => Some(esc as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        match esc {
            'x' => out.push(u8::from_str_radix(&take(&mut chars, 2)?, 16).ok()?),
            '0'..='7' => {
                let rest = take(&mut chars, 2)?;
                let v = u32::from_str_radix(&format!("{esc}{rest}"), 8).ok()?;
                out.push(u8::try_from(v).ok()?);
            }
            'u' | 'U' => {
                let n = if esc == 'u' { 4 } else { 8 };
                let c = char::from_u32(u32::from_str_radix(&take(&mut chars, n)?, 16).ok()?)?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The next `n` characters, or `None` if there are fewer.
fn take(chars: &mut std::str::Chars<'_>, n: usize) -> Option<String> {
    let s: String = chars.by_ref().take(n).collect();
    (s.chars().count() == n).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_as_go() {
        assert_eq!(go_unquote(r#""\xff""#), Some(vec![0xff]));
        assert_eq!(go_unquote(r#""\377a""#), Some(vec![0xff, b'a']));
        assert_eq!(go_unquote(r#""\u00ff""#), Some("ÿ".as_bytes().to_vec()));
        assert_eq!(go_unquote(r#"'a\tb'"#), Some(b"a\tb".to_vec()));
        assert_eq!(go_unquote(r"`\xff`"), Some(br"\xff".to_vec()));
        // UTF-8 spelled out byte by byte is UTF-8 again.
        assert_eq!(go_unquote(r#""\xc3\xbf""#), Some("ÿ".as_bytes().to_vec()));
        assert_eq!(go_unquote(r#""\q""#), None);
    }

    #[test]
    fn finds_only_the_literals_go_reads_as_non_utf8() {
        let q = r#"label_replace(x, "\xff", "\xc3\xbf", "ÿ", "\u00ff")"#;
        assert_eq!(non_utf8_literals(q), HashSet::from(["ÿ".to_string()]));
        assert!(non_utf8_literals(r#"label_replace(x, "ÿ", "", "src", "(.*)")"#).is_empty());
    }

    #[test]
    fn empties_only_a_non_utf8_destination() {
        let dst = |q: &str| {
            let mut e = parser::parse(q).unwrap();
            mark_invalid_destinations(&mut e, &non_utf8_literals(q));
            let Expr::Call(c) = e else { panic!("{e:?}") };
            let Expr::StringLiteral(l) = c.args.args[1].as_ref() else {
                panic!()
            };
            l.val.clone()
        };
        assert_eq!(dst(r#"label_replace(x, "\xff", "", "src", "(.*)")"#), "");
        assert_eq!(dst(r#"label_join(x, "\xff", ",", "a")"#), "");
        assert_eq!(dst(r#"label_replace(x, "\u00ff", "", "src", "(.*)")"#), "ÿ");
        // The same bytes as a replacement, not a destination, stay.
        assert_eq!(dst(r#"label_replace(x, "dst", "\xff", "src", "(.*)")"#), "dst");
    }
}
