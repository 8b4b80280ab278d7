//! Go's `fmt` number formatting, which alert texts depend on: `%v` of a
//! float (`1e+06`, `0.1`, `+Inf`), `%.4g` (used by every `humanize*`), and
//! a `printf` covering the verbs rule templates use.

use super::eval::Value;

/// Decimal digits (no trailing zeros) and the decimal point position:
/// value = 0.d1d2d3... × 10^dp.
struct Digits {
    digits: Vec<u8>,
    dp: i32,
}

/// Digits of `|v|`: shortest round-trip when `sig` is `None`, else rounded
/// (half to even on the exact binary value, as Go) to `sig` significant digits.
fn digits(v: f64, sig: Option<usize>) -> Digits {
    let s = match sig {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == [b'0'] {
        return Digits { digits, dp: 1 };
    }
    Digits { digits, dp: exp + 1 }
}

/// `%e` layout of `d` with `prec` digits after the point.
fn layout_e(d: &Digits, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(d.digits[0] as char);
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(*d.digits.get(i).unwrap_or(&b'0') as char);
        }
    }
    let exp = if d.digits == [b'0'] { 0 } else { d.dp - 1 };
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

/// `%f` layout of `d` with `prec` digits after the point.
fn layout_f(d: &Digits, prec: usize) -> String {
    let digit = |i: i32| -> char {
        if i >= 0 && (i as usize) < d.digits.len() {
            d.digits[i as usize] as char
        } else {
            '0'
        }
    };
    let mut s = String::new();
    if d.dp <= 0 {
        s.push('0');
    } else {
        for i in 0..d.dp {
            s.push(digit(i));
        }
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec as i32 {
            s.push(digit(d.dp + i));
        }
    }
    s
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

fn sign(v: f64) -> &'static str {
    if v.is_sign_negative() { "-" } else { "" }
}

/// Go's `%g` with precision `prec` (`None`: shortest, as `%v` prints floats).
pub(crate) fn format_g(v: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let prec = prec.map(|p| p.max(1));
    let d = digits(v, prec);
    let nd = d.digits.len() as i32;
    let mut eprec = match prec {
        Some(p) => p as i32,
        None => 6,
    };
    if prec.is_some() && eprec > nd && nd >= d.dp {
        eprec = nd;
    }
    let exp = d.dp - 1;
    let body = if exp < -4 || exp >= eprec {
        layout_e(&d, (nd - 1) as usize, upper)
    } else {
        layout_f(&d, (nd - d.dp).max(0) as usize)
    };
    format!("{}{body}", sign(v))
}

/// Go's `%e` with precision `prec`.
pub(crate) fn format_e(v: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let d = digits(v, Some(prec + 1));
    format!("{}{}", sign(v), layout_e(&d, prec, upper))
}

/// Go's `%f` with precision `prec`.
pub(crate) fn format_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let s = format!("{:.*}", prec, v.abs());
    format!("{}{s}", sign(v))
}

/// `fmt.Sprint` of one value (what `{{ x }}` prints).
pub(crate) fn sprint(v: &Value) -> String {
    match v {
        Value::Missing => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_g(*f, None, false),
        Value::Str(s) => s.clone(),
        Value::Map(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{}", sprint(v))).collect();
            format!("map[{}]", inner.join(" "))
        }
        Value::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|(_, v)| sprint(v)).collect();
            format!("{{{}}}", inner.join(" "))
        }
        Value::List(items) => {
            let inner: Vec<String> = items.iter().map(sprint).collect();
            format!("[{}]", inner.join(" "))
        }
    }
}

/// `fmt.Sprint(a, b, ...)`: a space between operands when neither is a string.
pub(crate) fn sprint_all(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&sprint(a));
    }
    out
}

/// Go's type name of a value, as `%!verb(type=value)` shows it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Missing | Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Map(_) => "map[string]string",
        Value::Struct(_) => "struct",
        Value::List(_) => "[]*template.sample",
    }
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
}

fn pad(s: String, width: Option<usize>, flags: Flags, numeric: bool) -> String {
    let Some(w) = width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if flags.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if flags.zero && numeric {
        // Zeros go after the sign.
        let (sign, rest) = match s.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (c.to_string(), &s[1..]),
            _ => (String::new(), &s[..]),
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn with_plus(s: String, v_nonneg: bool, flags: Flags) -> String {
    if v_nonneg && flags.plus && !s.starts_with('+') {
        format!("+{s}")
    } else if v_nonneg && flags.space && !s.starts_with('+') {
        format!(" {s}")
    } else {
        s
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn format_one(verb: char, flags: Flags, width: Option<usize>, prec: Option<usize>, arg: &Value) -> String {
    let bad = || format!("%!{verb}({}={})", go_type(arg), sprint(arg));
    let (s, numeric) = match (verb, arg) {
        ('v', Value::Float(f)) => (with_plus(format_g(*f, prec, false), *f >= 0.0, flags), true),
        ('v', Value::Int(i)) => (with_plus(i.to_string(), *i >= 0, flags), true),
        ('v', Value::Str(s)) if flags.sharp => (quote(s), false),
        ('v', v) => (sprint(v), false),
        ('s', Value::Str(s)) => (
            match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            false,
        ),
        ('s', Value::Map(_) | Value::Struct(_) | Value::List(_) | Value::Missing | Value::Nil) => {
            (sprint(arg), false)
        }
        ('q', Value::Str(s)) => (quote(s), false),
        ('t', Value::Bool(b)) => (b.to_string(), false),
        ('d', Value::Int(i)) => (with_plus(i.to_string(), *i >= 0, flags), true),
        ('x' | 'X', Value::Int(i)) => {
            let s = if verb == 'x' {
                format!("{:x}", i.unsigned_abs())
            } else {
                format!("{:X}", i.unsigned_abs())
            };
            (if *i < 0 { format!("-{s}") } else { s }, true)
        }
        ('x' | 'X', Value::Str(s)) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            (if verb == 'X' { hex.to_uppercase() } else { hex }, false)
        }
        ('f' | 'F', Value::Float(f)) => (with_plus(format_f(*f, prec.unwrap_or(6)), *f >= 0.0, flags), true),
        ('e' | 'E', Value::Float(f)) => (
            with_plus(format_e(*f, prec.unwrap_or(6), verb == 'E'), *f >= 0.0, flags),
            true,
        ),
        ('g' | 'G', Value::Float(f)) => (with_plus(format_g(*f, prec, verb == 'G'), *f >= 0.0, flags), true),
        _ => (bad(), false),
    };
    pad(s, width, flags, numeric)
}

/// `fmt.Sprintf` for the verbs `v s q t d x X f F e E g G %`, with flags
/// `- + 0 space #`, width and precision (`*` is not supported). Wrong
/// types and missing or extra operands print as Go prints them
/// (`%!d(float64=1.5)`, `%!s(MISSING)`, `%!(EXTRA int=1)`).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => flags.minus = true,
                '+' => flags.plus = true,
                '0' => flags.zero = true,
                ' ' => flags.space = true,
                '#' => flags.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<usize> {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        let width = num(&mut chars);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(num(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(a) => out.push_str(&format_one(verb, flags, width, prec, a)),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        next += 1;
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), sprint(a)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_of_floats_matches_go() {
        for (v, want) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.0, "0"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(format_g(v, None, false), want, "{v}");
        }
    }

    #[test]
    fn g4_matches_go() {
        for (v, want) in [
            (1234.5, "1234"),
            (12345.0, "1.234e+04"),
            (1.5, "1.5"),
            (100.0, "100"),
            (0.000123456, "0.0001235"),
            (1.0 / 3.0, "0.3333"),
            (999.99, "1000"),
            (9999.9, "1e+04"),
        ] {
            assert_eq!(format_g(v, Some(4), false), want, "{v}");
        }
    }

    #[test]
    fn printf_verbs_flags_and_mistakes() {
        let f = |fmt: &str, a: Vec<Value>| sprintf(fmt, &a);
        assert_eq!(f("%.2f%%", vec![Value::Float(12.3456)]), "12.35%");
        assert_eq!(
            f(
                "%5.1f|%-4d|%04d",
                vec![Value::Float(4.44), Value::Int(7), Value::Int(-7)]
            ),
            "  4.4|7   |-007"
        );
        assert_eq!(
            f("%s=%q", vec![Value::Str("a".into()), Value::Str("b\"c".into())]),
            "a=\"b\\\"c\""
        );
        assert_eq!(f("%e", vec![Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%g %v", vec![Value::Float(1e-7), Value::Int(3)]), "1e-07 3");
        assert_eq!(f("%d", vec![Value::Float(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("%s %s", vec![Value::Str("x".into())]), "x %!s(MISSING)");
        assert_eq!(f("x", vec![Value::Int(1)]), "x%!(EXTRA int=1)");
        assert_eq!(f("%x %+d", vec![Value::Int(255), Value::Int(5)]), "ff +5");
    }
}
