//! The functions a rule template can call: Go's builtins (`eq`, `printf`,
//! `index`, ...) and Prometheus' (`humanize*`, `toUpper`, `reReplaceAll`,
//! ...). `query` and the helpers that work on its results parse (so rule
//! files using them load) but fail when executed: Sluice's templates do not
//! run PromQL.

use std::collections::BTreeMap;

use regex::Regex;

use super::eval::{Value, truth};
use super::gofmt::{format_g, sprint, sprint_all, sprintf};

/// What the functions may read besides their arguments.
#[derive(Clone, Default)]
pub(crate) struct FuncEnv<'q> {
    /// Prometheus' `--web.external-url`.
    pub(crate) external_url: String,
    /// Runs PromQL for `query`.
    pub(crate) query: Option<super::QueryFn<'q>>,
}

/// A query result sample as templates see it (Prometheus' `sample`
/// struct: `.Labels` and `.Value`).
fn sample(labels: &sluice_model::Labels, value: f64) -> Value {
    Value::Struct(vec![
        (
            "Labels",
            Value::Map(
                labels
                    .iter()
                    .map(|l| (l.name.clone(), Value::Str(l.value.clone())))
                    .collect(),
            ),
        ),
        ("Value", Value::Float(value)),
    ])
}

/// A sample's field (`Labels` or `Value`).
fn sample_field<'v>(name: &str, v: &'v Value, field: &str) -> Result<&'v Value, String> {
    match v {
        Value::Struct(fields) => fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("{name}: not a query sample")),
        other => Err(format!("{name}: not a query sample: {}", sprint(other))),
    }
}

/// The query functions: `query`, `first`, `label`, `value`, `strvalue`,
/// `sortByLabel` (Prometheus' `template.go`).
fn query_func(name: &str, args: Vec<Value>, env: &FuncEnv) -> Result<Value, String> {
    match name {
        "query" => {
            arity(name, &args, 1)?;
            let q = string_arg(name, &args[0])?;
            let run = env
                .query
                .ok_or("query() is only available while rules are evaluated")?;
            Ok(Value::List(run(&q)?.iter().map(|(l, v)| sample(l, *v)).collect()))
        }
        "first" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::List(l) => l
                    .first()
                    .cloned()
                    .ok_or_else(|| "first() called on vector with no elements".into()),
                other => Err(format!("first() called on {}", sprint(other))),
            }
        }
        "label" => {
            arity(name, &args, 2)?;
            let label = string_arg(name, &args[0])?;
            match sample_field(name, &args[1], "Labels")? {
                Value::Map(m) => Ok(m.get(&label).cloned().unwrap_or(Value::Str(String::new()))),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "value" => {
            arity(name, &args, 1)?;
            sample_field(name, &args[0], "Value").cloned()
        }
        "strvalue" => {
            arity(name, &args, 1)?;
            match sample_field(name, &args[0], "Labels")? {
                Value::Map(m) => Ok(m.get("__value__").cloned().unwrap_or(Value::Str(String::new()))),
                _ => Ok(Value::Str(String::new())),
            }
        }
        "sortByLabel" => {
            arity(name, &args, 2)?;
            let label = string_arg(name, &args[0])?;
            let Value::List(mut items) = args[1].clone() else {
                return Err(format!("sortByLabel() called on {}", sprint(&args[1])));
            };
            let key = |v: &Value| match sample_field(name, v, "Labels") {
                Ok(Value::Map(m)) => m.get(&label).map(sprint).unwrap_or_default(),
                _ => String::new(),
            };
            // Stable, as Go's sort.Stable.
            items.sort_by_key(key);
            Ok(Value::List(items))
        }
        other => Err(format!("function {other:?} not defined")),
    }
}

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "urlquery",
];

const PROMETHEUS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
    "parseDuration",
    "externalURL",
    "pathPrefix",
    "graphLink",
    "tableLink",
    "safeHtml",
    "args",
];

/// Known, but they need PromQL from inside a template.
const QUERY_FUNCS: &[&str] = &["query", "first", "label", "value", "strvalue", "sortByLabel"];

/// True if `name` is a function templates may use.
pub(crate) fn is_function(name: &str) -> bool {
    BUILTINS.contains(&name) || PROMETHEUS.contains(&name) || QUERY_FUNCS.contains(&name)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn string_arg(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        other => Err(format!(
            "wrong type for value in {name}; expected string; got {}",
            sprint(other)
        )),
    }
}

/// Prometheus' `convertToFloat`: floats, integers and numeric strings.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => {
            parse_go_float(s).ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))
        }
        other => Err(format!("can't convert {} to float", sprint(other))),
    }
}

/// Go's `strconv.ParseFloat` spellings (`Inf`, `+inf`, `NaN`, `1e3`, ...).
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match body.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        b if b
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-' | '_')) =>
        {
            body.replace('_', "").parse().ok()?
        }
        _ => return None,
    };
    Some(if neg { -v } else { v })
}

/// Which comparable kind a value is (Go's `basicKind`).
#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
}

fn kind(v: &Value) -> Result<Kind, String> {
    match v {
        Value::Bool(_) => Ok(Kind::Bool),
        Value::Int(_) => Ok(Kind::Int),
        Value::Float(_) => Ok(Kind::Float),
        Value::Str(_) => Ok(Kind::Str),
        _ => Err("invalid type for comparison".into()),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    if kind(a)? != kind(b)? {
        return Err("incompatible types for comparison".into());
    }
    Ok(a == b)
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    if kind(a)? != kind(b)? {
        return Err("incompatible types for comparison".into());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Calls function `name`.
pub(crate) fn call(name: &str, args: Vec<Value>, env: &FuncEnv) -> Result<Value, String> {
    match name {
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let stop_on = name == "or";
            for a in &args {
                if truth(a) == stop_on {
                    return Ok(a.clone());
                }
            }
            Ok(args.last().cloned().unwrap_or(Value::Missing))
        }
        "not" => {
            arity(name, &args, 1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "len" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                other => Err(format!("len of type {}", sprint(other))),
            }
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or("wrong number of args for index")?;
            let mut v = first.clone();
            for k in keys {
                v = match (v, k) {
                    (Value::Map(m), Value::Str(key)) => {
                        m.get(key).cloned().unwrap_or(Value::Str(String::new()))
                    }
                    (v, k) => {
                        return Err(format!(
                            "can't index item of type {} with {}",
                            sprint(&v),
                            sprint(k)
                        ));
                    }
                };
            }
            Ok(v)
        }
        "print" => Ok(Value::Str(sprint_all(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(sprint).collect();
            Ok(Value::Str(format!("{}\n", parts.join(" "))))
        }
        "printf" => {
            let (f, rest) = args.split_first().ok_or("wrong number of args for printf")?;
            Ok(Value::Str(sprintf(&string_arg(name, f)?, rest)))
        }
        "eq" => {
            let (a, rest) = args.split_first().ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            for b in rest {
                if equal(a, b)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" => {
            arity(name, &args, 2)?;
            Ok(Value::Bool(!equal(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let (a, b) = (&args[0], &args[1]);
            Ok(Value::Bool(match name {
                "lt" => less(a, b)?,
                "le" => less(a, b)? || equal(a, b)?,
                "gt" => !(less(a, b)? || equal(a, b)?),
                _ => !less(a, b)?,
            }))
        }
        "urlquery" => Ok(Value::Str(query_escape(&sprint_all(&args)))),
        "humanize" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize(to_float(&args[0])?)))
        }
        "humanize1024" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize1024(to_float(&args[0])?)))
        }
        "humanizeDuration" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(humanize_duration(to_float(&args[0])?)))
        }
        "humanizePercentage" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(format!(
                "{}%",
                format_g(to_float(&args[0])? * 100.0, Some(4), false)
            )))
        }
        "humanizeTimestamp" => {
            arity(name, &args, 1)?;
            humanize_timestamp(to_float(&args[0])?).map(Value::Str)
        }
        "toUpper" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(string_arg(name, &args[0])?.to_uppercase()))
        }
        "toLower" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(string_arg(name, &args[0])?.to_lowercase()))
        }
        "title" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(title(&string_arg(name, &args[0])?)))
        }
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            let pattern = string_arg(name, &args[0])?;
            let re = Regex::new(&pattern).map_err(|e| format!("regexp: Compile({pattern:?}): {e}"))?;
            let repl = string_arg(name, &args[1])?;
            Ok(Value::Str(
                re.replace_all(&string_arg(name, &args[2])?, repl.as_str())
                    .into_owned(),
            ))
        }
        "match" => {
            arity(name, &args, 2)?;
            let pattern = string_arg(name, &args[0])?;
            let re = Regex::new(&pattern).map_err(|e| format!("error parsing regexp: {e}"))?;
            Ok(Value::Bool(re.is_match(&string_arg(name, &args[1])?)))
        }
        "stripPort" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(strip_port(&string_arg(name, &args[0])?)))
        }
        "parseDuration" => {
            arity(name, &args, 1)?;
            let d = string_arg(name, &args[0])?;
            let ms = sluice_model::parse_duration(&d).map_err(|e| e.to_string())?;
            Ok(Value::Float(ms.as_secs_f64()))
        }
        "externalURL" => Ok(Value::Str(env.external_url.clone())),
        "pathPrefix" => Ok(Value::Str(url_path(&env.external_url))),
        "graphLink" | "tableLink" => {
            arity(name, &args, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab={tab}",
                query_escape(&string_arg(name, &args[0])?)
            )))
        }
        "safeHtml" => {
            arity(name, &args, 1)?;
            Ok(Value::Str(string_arg(name, &args[0])?))
        }
        "args" => Ok(Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect::<BTreeMap<_, _>>(),
        )),
        q if QUERY_FUNCS.contains(&q) => query_func(q, args, env),
        other => Err(format!("function {other:?} not defined")),
    }
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4), false);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4), false))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4), false);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4), false))
}

/// Prometheus' `humanizeDuration` (seconds in).
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return format_g(v, Some(4), false);
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4), false));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (seconds, minutes, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_g(v, Some(4), false))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4), false))
}

/// Prometheus' `humanizeTimestamp`: Go's `time.Time` string in UTC, at
/// millisecond precision (the value passes through `model.Time`).
fn humanize_timestamp(v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(format_g(v, Some(4), false));
    }
    let nanos = v * 1e9;
    if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_g(v, None, false)
        ));
    }
    let ms = (nanos as i64) / 1_000_000;
    let t = chrono::DateTime::from_timestamp_millis(ms).ok_or("timestamp out of range")?;
    let frac = ms.rem_euclid(1000);
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    if frac != 0 {
        let f = format!(".{frac:03}");
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

/// Go's (deprecated) `strings.Title`.
fn title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// `net.SplitHostPort`'s host, or the input when it has no port.
fn strip_port(hp: &str) -> String {
    if let Some(rest) = hp.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']')
            && after.starts_with(':')
        {
            return host.to_string();
        }
        return hp.to_string();
    }
    match hp.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host.to_string(),
        _ => hp.to_string(),
    }
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The path of a URL (`http://h:9090/prom` → `/prom`).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    after_scheme
        .find('/')
        .map_or(String::new(), |i| after_scheme[i..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_family_matches_prometheus() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.001234), "1.234m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(3600.5), "1h 0m 0s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.0015), "1.5ms");
        assert_eq!(humanize_duration(-61.0), "-1m 1s");
        assert_eq!(
            call(
                "humanizePercentage",
                vec![Value::Float(0.12345)],
                &FuncEnv::default()
            )
            .unwrap(),
            Value::Str("12.35%".into())
        );
        assert_eq!(
            humanize_timestamp(1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(humanize_timestamp(0.0).unwrap(), "1970-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn strings_regexes_and_comparisons() {
        let env = FuncEnv::default();
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(title("hello wORLD-x_y"), "Hello WORLD-X_y");
        assert_eq!(strip_port("host:9100"), "host");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(
            call("reReplaceAll", vec![s("(.*):.*"), s("$1"), s("node:9100")], &env).unwrap(),
            s("node")
        );
        assert_eq!(
            call("match", vec![s("^no"), s("node")], &env).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            call("gt", vec![Value::Float(2.0), Value::Float(1.0)], &env).unwrap(),
            Value::Bool(true)
        );
        // Go refuses to compare a float with an integer constant.
        assert!(call("gt", vec![Value::Float(2.0), Value::Int(1)], &env).is_err());
        assert!(call("query", vec![s("up")], &env).is_err());
        assert_eq!(query_escape("a b/c"), "a+b%2Fc");
    }
}
