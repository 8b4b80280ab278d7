//! Parsing PromQL text: promql-parser, behind a guard for input it panics on.
//!
//! promql-parser 0.11 turns a plain number written where a duration goes
//! (`x[1e30]`, `x[5m:NaN]`, `x offset Inf`) into a `Duration` with
//! `Duration::from_secs_f64`, which panics for NaN, infinities and values
//! past `u64::MAX` seconds (found by fuzzing, see docs/reliability.md). A
//! query is user input, so every parse in Sluice goes through [`parse_expr`],
//! which finds those numbers with the parser's own lexer first and rejects
//! the ones Prometheus rejects: "duration out of range" beyond what an int64
//! count of nanoseconds holds (about 292 years). The same bound applies to
//! durations with units (`1000000000y`), as in Prometheus; it keeps the
//! engine's millisecond span arithmetic far from overflowing.

use lrpar::{Lexeme, Lexer, NonStreamingLexer};
use promql_parser::parser::token::{
    T_ADD, T_COLON, T_DURATION, T_LEFT_BRACKET, T_NUMBER, T_OFFSET, T_SUB, TokenId,
};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{parse_duration, parse_str_radix};

/// Prometheus' bound on a number used as a duration, in seconds.
const MAX_DURATION_SECS: f64 = (1u64 << 63) as f64 / 1e9;

/// Parses a PromQL expression; the error is the parser's message (or
/// "duration out of range"), as Prometheus words it for `bad_data`.
pub fn parse_expr(query: &str) -> Result<Expr, String> {
    check_number_durations(query)?;
    let mut expr = parser::parse(query)?;
    let non_utf8 = crate::go_strings::non_utf8_literals(query);
    if !non_utf8.is_empty() {
        crate::go_strings::mark_invalid_destinations(&mut expr, &non_utf8);
    }
    Ok(expr)
}

/// Rejects a number in a duration position (after `[`, a subquery's `:`,
/// or `offset` with an optional sign) that is not a finite duration within
/// Prometheus' range. Lexer errors are left to the parser to report.
fn check_number_durations(query: &str) -> Result<(), String> {
    let Ok(lexer) = parser::lexer(query) else {
        return Ok(());
    };
    let mut before: [Option<TokenId>; 2] = [None, None];
    for lexeme in lexer.iter().flatten() {
        let tok = lexeme.tok_id();
        let duration_position = matches!(
            before,
            [_, Some(T_LEFT_BRACKET | T_COLON | T_OFFSET)] | [Some(T_OFFSET), Some(T_ADD | T_SUB)]
        );
        if tok == T_DURATION {
            let text = lexer.span_str(lexeme.span());
            if parse_duration(text).is_ok_and(|d| d.as_secs_f64() > MAX_DURATION_SECS) {
                return Err(format!("duration out of range: {text}"));
            }
        }
        if tok == T_NUMBER && duration_position {
            let text = lexer.span_str(lexeme.span());
            let secs = parse_str_radix(text)?;
            if !(0.0..=MAX_DURATION_SECS).contains(&secs) {
                return Err(format!("duration out of range: {text}"));
            }
        }
        before = [before[1], Some(tok)];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_duration_range_are_errors_not_panics() {
        // The fuzzer's input, trimmed (a 25-digit subquery range), and its
        // relatives; each panicked inside promql-parser.
        for q in [
            "count_over_time(x[2222222222222222222222222:2222m])",
            "x[1e30]",
            "x offset Inf",
            "x offset -1e300",
            "x[293y]",
            "x offset 100000000y",
        ] {
            let e = parse_expr(q).unwrap_err();
            assert!(e.starts_with("duration out of range"), "{q}: {e}");
        }
        // The lexer refuses these before a duration is made.
        for q in ["x[Inf]", "rate(x[5m:NaN])", "x[0x7fffffffffffffffff]"] {
            assert!(parse_expr(q).is_err(), "{q}");
        }
    }

    #[test]
    fn numbers_in_range_and_elsewhere_parse_as_before() {
        for q in [
            "x[300]",
            "x[5m:30]",
            "x offset 60",
            "x offset -1.5",
            "1e30 + x",
            "x[9223372036]",
            "x[292y]",
        ] {
            assert!(parse_expr(q).is_ok(), "{q}");
        }
        // Labels and strings with brackets are not durations.
        assert!(parse_expr(r#"x{a="[1e30]"}"#).is_ok());
        assert!(parse_expr("x[1e30").is_err());
    }
}
