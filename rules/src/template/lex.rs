//! Lexer for Go's `text/template` syntax: text, `{{ actions }}` with the
//! `{{- ` / ` -}}` trim markers, and `{{/* comments */}}`.
//!
//! Inside an action the tokens are those Go's lexer produces; whether a
//! token was preceded by a space is recorded because Go uses it to tell a
//! field chain (`$x.Field`) from two arguments (`$x .Field`).

use super::TemplateError;

/// One token inside an action.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: a function name or a keyword (`if`, `end`, `true`, ...).
    Ident(String),
    /// `.Name` (without the dot).
    Field(String),
    /// A lone `.`.
    Dot,
    /// `$name` (without the `$`), or `""` for `$` itself.
    Variable(String),
    /// A string constant, escapes already resolved.
    Str(String),
    /// A number constant as written.
    Number(String),
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `,`
    Comma,
}

/// A token and whether whitespace came before it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) space_before: bool,
}

/// The template split into text and actions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Text(String),
    /// The tokens of one `{{ ... }}` (comments produce no item).
    Action(Vec<Token>),
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

/// Splits template text into items, applying trim markers.
pub(crate) fn lex(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next_text = false;
    loop {
        let Some(open) = rest.find(OPEN) else {
            push_text(&mut items, rest, trim_next_text, false);
            return Ok(items);
        };
        let after_open = &rest[open + OPEN.len()..];
        // `{{- ` trims the whitespace before the action.
        let trim_left = after_open.starts_with("- ")
            || after_open.starts_with("-\t")
            || after_open.starts_with("-\n")
            || after_open.starts_with("-\r");
        push_text(&mut items, &rest[..open], trim_next_text, trim_left);
        let body = if trim_left { &after_open[1..] } else { after_open };
        let body_trimmed = body.trim_start();
        if let Some(comment) = body_trimmed.strip_prefix("/*") {
            let end = comment
                .find("*/")
                .ok_or_else(|| TemplateError::Parse("unclosed comment".into()))?;
            let after = comment[end + 2..].trim_start();
            let (trim_right, after) = match after.strip_prefix("-") {
                Some(a) if a.starts_with(CLOSE) => (true, a),
                _ => (false, after),
            };
            rest = after
                .strip_prefix(CLOSE)
                .ok_or_else(|| TemplateError::Parse("comment ends before closing delimiter".into()))?;
            trim_next_text = trim_right;
            continue;
        }
        let (tokens, consumed, trim_right) = lex_action(body)?;
        items.push(Item::Action(tokens));
        rest = &body[consumed..];
        trim_next_text = trim_right;
    }
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_string()));
    }
}

/// Lexes one action body up to and including its `}}`. Returns the tokens,
/// the bytes consumed, and whether the action ended with ` -}}`.
fn lex_action(body: &str) -> Result<(Vec<Token>, usize, bool), TemplateError> {
    let b = body.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut space = false;
    loop {
        if i >= b.len() {
            return Err(TemplateError::Parse("unclosed action".into()));
        }
        let c = b[i];
        if c.is_ascii_whitespace() {
            // ` -}}` closes with a right trim.
            let ws_end = i + body[i..].len() - body[i..].trim_start().len();
            if body[ws_end..].starts_with("-}}") {
                return Ok((out, ws_end + 3, true));
            }
            space = true;
            i = ws_end;
            continue;
        }
        if body[i..].starts_with(CLOSE) {
            return Ok((out, i + 2, false));
        }
        let start = i;
        let tok = match c {
            b'|' => {
                i += 1;
                Tok::Pipe
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'=' => {
                i += 1;
                Tok::Assign
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'"' => {
                let (s, used) = lex_quoted(&body[i..])?;
                i += used;
                Tok::Str(s)
            }
            b'`' => {
                let end = body[i + 1..]
                    .find('`')
                    .ok_or_else(|| TemplateError::Parse("unterminated raw quoted string".into()))?;
                let s = body[i + 1..i + 1 + end].to_string();
                i += end + 2;
                Tok::Str(s)
            }
            b'$' => {
                i += 1;
                let n = word_len(&body[i..]);
                let name = body[i..i + n].to_string();
                i += n;
                Tok::Variable(name)
            }
            b'.' => {
                let next = b.get(i + 1).copied();
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    let n = number_len(&body[i..]);
                    i += n;
                    Tok::Number(body[start..i].to_string())
                } else {
                    i += 1;
                    let n = word_len(&body[i..]);
                    if n == 0 {
                        Tok::Dot
                    } else {
                        let name = body[i..i + n].to_string();
                        i += n;
                        Tok::Field(name)
                    }
                }
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let n = number_len(&body[i..]);
                if n == 0 {
                    return Err(TemplateError::Parse(format!(
                        "bad character {:?} in action",
                        c as char
                    )));
                }
                i += n;
                Tok::Number(body[start..i].to_string())
            }
            _ if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let n = word_len(&body[i..]);
                i += n.max(1);
                Tok::Ident(body[start..i].to_string())
            }
            _ => {
                return Err(TemplateError::Parse(format!(
                    "unexpected {:?} in action",
                    body[i..].chars().next().unwrap_or('?')
                )));
            }
        };
        out.push(Token {
            tok,
            space_before: space,
        });
        space = false;
    }
}

/// Length of an identifier: letters, digits, `_`.
fn word_len(s: &str) -> usize {
    s.char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

/// Length of a number constant (sign, digits, `.`, exponent, hex, `_`).
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() {
        let c = b[i];
        let exp_sign = (c == b'+' || c == b'-') && i > 0 && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P');
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    if i == digits_start { 0 } else { i }
}

/// Reads a Go interpreted string literal; returns it and the bytes used.
fn lex_quoted(s: &str) -> Result<(String, usize), TemplateError> {
    let mut out = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => {
                let (_, e) = it
                    .next()
                    .ok_or_else(|| TemplateError::Parse("unterminated quoted string".into()))?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..len).filter_map(|_| it.next().map(|(_, h)| h)).collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| TemplateError::Parse(format!("invalid escape \\{e}{hex}")))?;
                        out.push(ch);
                    }
                    other => return Err(TemplateError::Parse(format!("unknown escape sequence \\{other}"))),
                }
            }
            c => out.push(c),
        }
    }
    Err(TemplateError::Parse("unterminated quoted string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(items: &[Item], n: usize) -> Vec<Tok> {
        match &items[n] {
            Item::Action(t) => t.iter().map(|t| t.tok.clone()).collect(),
            Item::Text(t) => panic!("text {t:?}"),
        }
    }

    #[test]
    fn splits_text_and_actions_with_trim_markers() {
        let items = lex("a  {{- $labels.job -}}  b{{/* gone */}}c").unwrap();
        assert_eq!(items[0], Item::Text("a".into()));
        assert_eq!(
            toks(&items, 1),
            vec![Tok::Variable("labels".into()), Tok::Field("job".into())]
        );
        assert_eq!(items[2], Item::Text("b".into()));
        assert_eq!(items[3], Item::Text("c".into()));
    }

    #[test]
    fn tokens_of_pipelines_and_literals() {
        let items = lex(r#"{{ printf "%.2f\n" .Value | toUpper }}{{ $x := -1.5e3 }}{{`raw}}`}}"#).unwrap();
        assert_eq!(
            toks(&items, 0),
            vec![
                Tok::Ident("printf".into()),
                Tok::Str("%.2f\n".into()),
                Tok::Field("Value".into()),
                Tok::Pipe,
                Tok::Ident("toUpper".into())
            ]
        );
        assert_eq!(
            toks(&items, 1),
            vec![
                Tok::Variable("x".into()),
                Tok::Declare,
                Tok::Number("-1.5e3".into())
            ]
        );
        assert_eq!(toks(&items, 2), vec![Tok::Str("raw}}".into())]);
    }

    #[test]
    fn unclosed_action_is_an_error() {
        assert!(lex("{{ $labels.x ").is_err());
        assert!(lex(r#"{{ "abc }}"#).is_err());
    }
}
