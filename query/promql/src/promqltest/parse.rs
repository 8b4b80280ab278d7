//! Parser of Prometheus' `.test` script format into [`Command`]s.

use sluice_model::{Labels, stale_nan};

/// One expanded value of series notation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SeqValue {
    /// `_`: no sample at this position.
    Omitted,
    /// A float (possibly the staleness marker).
    Value(f64),
}

/// A series line: labels and expanded values.
#[derive(Debug, Clone)]
pub(crate) struct SeriesLine {
    pub(crate) labels: Labels,
    pub(crate) values: Vec<SeqValue>,
    /// The line used `{{...}}` native-histogram notation (unsupported).
    pub(crate) histogram: bool,
}

/// An expectation on annotations or failures (`msg:` exact, `regex:`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Expect {
    pub(crate) msg: Option<String>,
    pub(crate) regex: Option<String>,
}

/// What one expected result line says.
#[derive(Debug, Clone)]
pub(crate) enum ExpectedLine {
    Scalar(f64),
    Series(SeriesLine),
}

#[derive(Debug, Clone)]
pub(crate) enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// An `eval` command with everything that follows it.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    pub(crate) line: usize,
    pub(crate) expr: String,
    pub(crate) kind: EvalKind,
    pub(crate) fail: Option<Expect>,
    pub(crate) warn: Vec<Expect>,
    pub(crate) info: Vec<Expect>,
    pub(crate) no_warn: bool,
    pub(crate) no_info: bool,
    pub(crate) ordered: bool,
    pub(crate) string: Option<String>,
    /// `expect range vector from .. to .. step ..` for a matrix result.
    pub(crate) range_vector: Option<(i64, i64, i64)>,
    pub(crate) expected: Vec<ExpectedLine>,
    /// Why the harness cannot run this eval, if it cannot.
    pub(crate) unsupported: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Command {
    Load {
        series: Vec<SeriesLine>,
        interval_ms: i64,
        /// `load_with_nhcb`: classic histograms also exist as native ones.
        nhcb: bool,
    },
    Clear,
    Eval(Box<Eval>),
}

/// Parses a PromQL-style duration (`1h30m`, `10s53ms`, `0`), or a plain
/// number of seconds, into milliseconds; a leading `-` negates.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return parse_duration(rest).map(|d| -d);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1000.0).round() as i64);
    }
    let mut total = 0i64;
    let b = s.as_bytes();
    let mut i = 0;
    if b.is_empty() {
        return None;
    }
    while i < b.len() {
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if st == i {
            return None;
        }
        let n: i64 = s[st..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let mult = match &s[us..i] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        total += n * mult;
    }
    Some(total)
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b.starts_with("0x") => i64::from_str_radix(&b[2..], 16).ok()? as f64,
        _ => body.parse::<f64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// Expands one token of series notation.
fn expand_token(tok: &str, out: &mut Vec<SeqValue>) -> Option<()> {
    if tok == "_" {
        out.push(SeqValue::Omitted);
        return Some(());
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().ok()?;
        out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
        return Some(());
    }
    if tok == "stale" {
        out.push(SeqValue::Value(stale_nan()));
        return Some(());
    }
    // `a`, `axn`, `a+bxn`, `a-bxn` (no hex in series notation, so `x` is
    // always the repetition marker).
    let (head, times) = match tok.rfind('x') {
        Some(p) if tok[p + 1..].chars().all(|c| c.is_ascii_digit()) && p + 1 < tok.len() => {
            (&tok[..p], Some(tok[p + 1..].parse::<u64>().ok()?))
        }
        _ => (tok, None),
    };
    let Some(times) = times else {
        out.push(SeqValue::Value(parse_float(head)?));
        return Some(());
    };
    // Split `a+b` / `a-b` at a sign that is not leading and not an exponent's.
    let hb = head.as_bytes();
    let split =
        (1..hb.len()).find(|&i| (hb[i] == b'+' || hb[i] == b'-') && !matches!(hb[i - 1], b'e' | b'E'));
    let (a, b) = match split {
        Some(i) => (parse_float(&head[..i])?, parse_float(&head[i..])?),
        None => (parse_float(head)?, 0.0),
    };
    // Iterative addition, as Prometheus' grammar does it (not a + i*b).
    let mut v = a;
    out.push(SeqValue::Value(v));
    for _ in 0..times {
        v += b;
        out.push(SeqValue::Value(v));
    }
    Some(())
}

/// Reads a quoted string (`"..."` with Go escapes, `'...'`, or a
/// backtick raw string) at the start of `s`; returns it and the rest.
pub(crate) fn read_quoted(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next()?;
    if q == '`' {
        let end = s[1..].find('`')? + 1;
        return Some((s[1..end].to_string(), &s[end + 1..]));
    }
    if q != '"' && q != '\'' {
        return None;
    }
    let mut out = String::new();
    let mut it = s[1..].char_indices();
    while let Some((i, c)) = it.next() {
        if c == q {
            return Some((out, &s[1 + i + 1..]));
        }
        if c == '\\' {
            let (_, e) = it.next()?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Parses `name{l="v", ...}` at the start of `s`; returns labels and rest.
fn parse_labels(s: &str) -> Option<(Labels, &str)> {
    let s = s.trim_start();
    let name_end = s.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(s.len());
    let mut pairs: Vec<(String, String)> = Vec::new();
    if name_end > 0 {
        pairs.push(("__name__".into(), s[..name_end].to_string()));
    }
    let mut rest = &s[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start().trim_start_matches(',').trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (name, r) = if rest.starts_with('"') {
                read_quoted(rest)?
            } else {
                let e = rest.find(|c: char| c == '=' || c == ',' || c == '}' || c.is_whitespace())?;
                (rest[..e].to_string(), &rest[e..])
            };
            let r = r.trim_start();
            if let Some(r) = r.strip_prefix('=') {
                let (val, r) = read_quoted(r.trim_start())?;
                pairs.push((name, val));
                rest = r;
            } else {
                // A bare quoted string inside braces is the metric name.
                pairs.push(("__name__".into(), name));
                rest = r;
            }
        }
    }
    Some((Labels::new(pairs), rest))
}

/// One line of series notation (`name{l="v"} 1+1x3 _ stale`), as a `load`
/// block and promtool's `input_series` write it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDesc {
    /// The series' labels, `__name__` included.
    pub labels: Labels,
    /// One entry per step: `None` for `_` (no sample), else the value
    /// (possibly the staleness marker).
    pub values: Vec<Option<f64>>,
}

/// Why a series-notation line was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesDescError {
    /// The line is not series notation.
    #[error("invalid series notation {0:?}")]
    Syntax(String),
    /// The values use native-histogram notation (`{{...}}`), which Sluice
    /// does not store.
    #[error("native histogram values are not supported (series {0})")]
    NativeHistogram(String),
}

/// Parses one line of series notation: labels, then values in the
/// expanding notation (`a+bxn`, `axn`, `_`, `_xn`, `stale`).
pub fn parse_series_desc(line: &str) -> Result<SeriesDesc, SeriesDescError> {
    let s = parse_series_line(line).ok_or_else(|| SeriesDescError::Syntax(line.to_string()))?;
    if s.histogram {
        return Err(SeriesDescError::NativeHistogram(s.labels.to_string()));
    }
    let values = s
        .values
        .into_iter()
        .map(|v| match v {
            SeqValue::Omitted => None,
            SeqValue::Value(f) => Some(f),
        })
        .collect();
    Ok(SeriesDesc {
        labels: s.labels,
        values,
    })
}

/// Parses a metric in Prometheus' notation (`name{l="v"}`, `{l="v"}`,
/// `name`, or an empty string for the empty label set) into labels.
pub fn parse_metric(text: &str) -> Result<Labels, SeriesDescError> {
    let bad = || SeriesDescError::Syntax(text.to_string());
    if text.trim().is_empty() {
        return Ok(Labels::default());
    }
    let (labels, rest) = parse_labels(text).ok_or_else(bad)?;
    if !rest.trim().is_empty() {
        return Err(bad());
    }
    Ok(labels)
}

/// Parses `labels values...`.
fn parse_series_line(s: &str) -> Option<SeriesLine> {
    let (labels, rest) = parse_labels(s)?;
    let mut values = Vec::new();
    if rest.contains("{{") {
        return Some(SeriesLine {
            labels,
            values,
            histogram: true,
        });
    }
    for tok in rest.split_whitespace() {
        expand_token(tok, &mut values)?;
    }
    Some(SeriesLine {
        labels,
        values,
        histogram: false,
    })
}

fn parse_expect(rest: &str) -> Expect {
    let rest = rest.trim();
    if let Some(m) = rest.strip_prefix("msg:") {
        Expect {
            msg: Some(m.trim().to_string()),
            regex: None,
        }
    } else if let Some(r) = rest.strip_prefix("regex:") {
        Expect {
            msg: None,
            regex: Some(r.trim().to_string()),
        }
    } else {
        Expect::default()
    }
}

fn strip_comment(l: &str) -> &str {
    if l.trim_start().starts_with('#') { "" } else { l }
}

/// Parses a whole script. Errors carry the 1-based line number.
pub(crate) fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = strip_comment(lines[i]).trim();
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        // The block that belongs to this command: every following line up
        // to a blank or comment line (as upstream, indentation is optional).
        let mut block: Vec<(usize, &str)> = Vec::new();
        while i < lines.len() && line != "clear" {
            let l = strip_comment(lines[i]).trim();
            if l.is_empty() {
                break;
            }
            block.push((i + 1, l));
            i += 1;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        match word {
            "clear" => cmds.push(Command::Clear),
            "load" | "load_with_nhcb" => {
                let d = line
                    .split_whitespace()
                    .nth(1)
                    .ok_or(format!("line {lineno}: load without interval"))?;
                let interval_ms = parse_duration(d).ok_or(format!("line {lineno}: bad interval {d}"))?;
                let mut series = Vec::new();
                for (n, l) in block {
                    series.push(parse_series_line(l).ok_or(format!("line {n}: bad series line {l:?}"))?);
                }
                cmds.push(Command::Load {
                    series,
                    interval_ms,
                    nhcb: word == "load_with_nhcb",
                });
            }
            w if w.starts_with("eval") => {
                cmds.push(Command::Eval(Box::new(parse_eval(lineno, line, &block)?)))
            }
            _ => return Err(format!("line {lineno}: unknown command {line:?}")),
        }
    }
    Ok(cmds)
}

fn parse_eval(lineno: usize, line: &str, block: &[(usize, &str)]) -> Result<Eval, String> {
    let bad = || format!("line {lineno}: bad eval line {line:?}");
    let (word, rest) = line.split_once(char::is_whitespace).ok_or_else(bad)?;
    let rest = rest.trim_start();
    let mut ev = Eval {
        line: lineno,
        expr: String::new(),
        kind: EvalKind::Instant { at_ms: 0 },
        fail: None,
        warn: vec![],
        info: vec![],
        no_warn: false,
        no_info: false,
        ordered: false,
        string: None,
        range_vector: None,
        expected: vec![],
        unsupported: None,
    };
    match word {
        "eval" => {}
        "eval_fail" => ev.fail = Some(Expect::default()),
        // The legacy forms also implied the absence of the other kind.
        "eval_warn" => {
            ev.warn.push(Expect::default());
            ev.no_info = true;
        }
        "eval_info" => {
            ev.info.push(Expect::default());
            ev.no_warn = true;
        }
        "eval_ordered" => ev.ordered = true,
        _ => return Err(bad()),
    }
    let take = |s: &str| -> Option<(String, String)> {
        let s = s.trim_start();
        let (a, b) = s.split_once(char::is_whitespace)?;
        Some((a.to_string(), b.trim_start().to_string()))
    };
    if let Some(r) = rest.strip_prefix("instant") {
        let (at, r) = take(r).ok_or_else(bad)?;
        if at != "at" {
            return Err(bad());
        }
        let (t, expr) = take(&r).ok_or_else(bad)?;
        ev.kind = EvalKind::Instant {
            at_ms: parse_duration(&t).ok_or_else(bad)?,
        };
        ev.expr = expr;
    } else if let Some(r) = rest.strip_prefix("range") {
        let (from, r) = take(r).ok_or_else(bad)?;
        let (s, r) = take(&r).ok_or_else(bad)?;
        let (to, r) = take(&r).ok_or_else(bad)?;
        let (e, r) = take(&r).ok_or_else(bad)?;
        let (step, r) = take(&r).ok_or_else(bad)?;
        let (st, expr) = take(&r).ok_or_else(bad)?;
        if from != "from" || to != "to" || step != "step" {
            return Err(bad());
        }
        ev.kind = EvalKind::Range {
            start_ms: parse_duration(&s).ok_or_else(bad)?,
            end_ms: parse_duration(&e).ok_or_else(bad)?,
            step_ms: parse_duration(&st).ok_or_else(bad)?,
        };
        ev.expr = expr;
    } else {
        return Err(bad());
    }
    for &(n, l) in block {
        if let Some(r) = l.strip_prefix("expected_fail_message") {
            ev.fail = Some(Expect {
                msg: Some(r.trim().to_string()),
                regex: None,
            });
        } else if let Some(r) = l.strip_prefix("expected_fail_regexp") {
            ev.fail = Some(Expect {
                msg: None,
                regex: Some(r.trim().to_string()),
            });
        } else if let Some(r) = l.strip_prefix("expect ") {
            let r = r.trim();
            let (kind, tail) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
            match kind {
                "fail" => ev.fail = Some(parse_expect(tail)),
                "warn" => ev.warn.push(parse_expect(tail)),
                "info" => ev.info.push(parse_expect(tail)),
                "no_warn" => ev.no_warn = true,
                "no_info" => ev.no_info = true,
                "ordered" => ev.ordered = true,
                "string" => {
                    let (s, _) = read_quoted(tail.trim()).ok_or(format!("line {n}: bad string {tail:?}"))?;
                    ev.string = Some(s);
                }
                "range" => {
                    // expect range vector from A to B step C
                    let w: Vec<&str> = tail.split_whitespace().collect();
                    if w.len() != 7 || w[0] != "vector" {
                        return Err(format!("line {n}: bad expect range {tail:?}"));
                    }
                    let p = |s: &str| parse_duration(s).ok_or(format!("line {n}: bad duration {s:?}"));
                    ev.range_vector = Some((p(w[2])?, p(w[4])?, p(w[6])?));
                }
                _ => ev.unsupported = Some(format!("unknown expectation `expect {kind}`")),
            }
        } else if !l.starts_with('{') && !l.contains(char::is_whitespace) && parse_float(l).is_some() {
            ev.expected
                .push(ExpectedLine::Scalar(parse_float(l).unwrap_or(f64::NAN)));
        } else {
            match parse_series_line(l) {
                Some(s) if s.histogram => {
                    ev.unsupported = Some("native histogram in expected result".into());
                }
                Some(s) => ev.expected.push(ExpectedLine::Series(s)),
                None => return Err(format!("line {n}: bad result line {l:?}")),
            }
        }
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_notation_expands_like_prometheus() {
        let s = parse_series_line(r#"foo{a="b"} 1+2x2 _ _x2 5x1 -1-1x1 stale"#).unwrap();
        let v: Vec<String> = s
            .values
            .iter()
            .map(|v| match v {
                SeqValue::Omitted => "_".to_string(),
                SeqValue::Value(f) if sluice_model::is_stale_nan(*f) => "stale".to_string(),
                SeqValue::Value(f) => f.to_string(),
            })
            .collect();
        assert_eq!(v, ["1", "3", "5", "_", "_", "_", "5", "5", "-1", "-2", "stale"]);
        assert_eq!(s.labels.get("a"), Some("b"));
        assert_eq!(s.labels.metric_name(), Some("foo"));
    }

    #[test]
    fn public_series_desc_and_metric() {
        let d = parse_series_desc(r#"up{job="a"} 1 _ 2x1"#).unwrap();
        assert_eq!(d.values, vec![Some(1.0), None, Some(2.0), Some(2.0)]);
        assert_eq!(d.labels.get("job"), Some("a"));
        assert!(matches!(
            parse_series_desc(r#"up{job="a" 1"#),
            Err(SeriesDescError::Syntax(_))
        ));
        assert!(matches!(
            parse_series_desc("h {{schema:1 sum:1 count:1}}"),
            Err(SeriesDescError::NativeHistogram(_))
        ));
        assert_eq!(
            parse_metric(r#"a:b{x="1"}"#).unwrap(),
            Labels::new([("__name__", "a:b"), ("x", "1")])
        );
        assert_eq!(parse_metric("").unwrap(), Labels::default());
        assert!(parse_metric("a b").is_err());
    }

    #[test]
    fn durations_and_eval_lines() {
        assert_eq!(parse_duration("10s53ms"), Some(10_053));
        assert_eq!(parse_duration("0"), Some(0));
        let cmds =
            parse_script("eval range from 0 to 1m step 30s foo\n  {} 1 2 _\n  expect warn msg: x\n").unwrap();
        let Command::Eval(e) = &cmds[0] else { panic!() };
        assert!(matches!(
            e.kind,
            EvalKind::Range {
                start_ms: 0,
                end_ms: 60_000,
                step_ms: 30_000
            }
        ));
        assert_eq!(e.expr, "foo");
        assert_eq!(e.warn[0].msg.as_deref(), Some("x"));
        assert_eq!(e.expected.len(), 1);
    }
}
