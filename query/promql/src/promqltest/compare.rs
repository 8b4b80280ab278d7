//! Comparing a query's outcome with an eval's expectations, following the
//! rules of upstream's `compareResult` / `checkAnnotations`.

use std::collections::HashMap;

use regex::Regex;
use sluice_model::{Labels, is_stale_nan};

use super::parse::{Eval, Expect, ExpectedLine, SeqValue, SeriesLine};
use crate::{QueryError, QueryResult, Value};

/// Relative tolerance of value comparisons (upstream `defaultEpsilon`).
const EPSILON: f64 = 1e-6;

/// Upstream's `almost.Equal`, with NaN equal to NaN and a staleness marker
/// equal only to a staleness marker.
pub(crate) fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn matches(e: &Expect, actual: &str) -> bool {
    match (&e.msg, &e.regex) {
        (Some(m), _) => m == actual,
        (None, Some(r)) => Regex::new(r).is_ok_and(|r| r.is_match(actual)),
        (None, None) => true,
    }
}

fn check_annotations(kind: &str, expected: &[Expect], none: bool, actual: &[String]) -> Result<(), String> {
    if none && !actual.is_empty() {
        return Err(format!("expected no {kind} annotations, got {actual:?}"));
    }
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!("expected {kind} annotations but none were found"));
    }
    for e in expected {
        if !actual.iter().any(|a| matches(e, a)) {
            return Err(format!("expected {kind} annotation {e:?}, got {actual:?}"));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| matches(e, a)) {
            return Err(format!("unexpected {kind} annotation {a:?}"));
        }
    }
    Ok(())
}

/// Checks error and annotation expectations; yields the result to compare
/// values of, or `None` when the expected failure happened.
pub(crate) fn check_outcome<'r>(
    ev: &Eval,
    r: &'r Result<QueryResult, QueryError>,
) -> Result<Option<&'r QueryResult>, String> {
    match (r, &ev.fail) {
        (Err(e), Some(exp)) => {
            if matches(exp, &e.to_string()) {
                Ok(None)
            } else {
                Err(format!("expected error {exp:?}, got {:?}", e.to_string()))
            }
        }
        (Err(e), None) => Err(format!("unexpected error: {e}")),
        (Ok(_), Some(_)) => Err("expected an error, but the query succeeded".into()),
        (Ok(res), None) => {
            check_annotations("warn", &ev.warn, ev.no_warn, &res.warnings)?;
            check_annotations("info", &ev.info, ev.no_info, &res.infos)?;
            Ok(Some(res))
        }
    }
}

fn series_expected(ev: &Eval) -> Result<Vec<&SeriesLine>, String> {
    ev.expected
        .iter()
        .map(|e| match e {
            ExpectedLine::Series(s) => Ok(s),
            ExpectedLine::Scalar(v) => Err(format!("expected scalar {v}, but query returned series")),
        })
        .collect()
}

fn index(expected: &[&SeriesLine]) -> Result<HashMap<Labels, usize>, String> {
    let mut m = HashMap::new();
    for (i, s) in expected.iter().enumerate() {
        if m.insert(s.labels.clone(), i).is_some() {
            return Err(format!("expected series {} listed twice", s.labels));
        }
    }
    Ok(m)
}

/// Compares a value with the expected lines. `range` is the range query's
/// `(start, end, step)` (for instant evals, timestamps are checked only if
/// an `expect range vector` line gives them).
pub(crate) fn check_values(ev: &Eval, v: &Value, range: Option<(i64, i64, i64)>) -> Result<(), String> {
    match v {
        Value::String { value, .. } => match &ev.string {
            Some(s) if s == value => Ok(()),
            Some(s) => Err(format!("expected string {s:?}, got {value:?}")),
            None => Err(format!("unexpected string result {value:?}")),
        },
        Value::Scalar { value, .. } => {
            if ev.string.is_some() {
                return Err(format!("expected a string, got scalar {value}"));
            }
            match ev.expected.as_slice() {
                [ExpectedLine::Scalar(e)] if almost_equal(*e, *value) => Ok(()),
                [ExpectedLine::Scalar(e)] => Err(format!("expected scalar {e}, got {value}")),
                _ => Err(format!(
                    "expected vector or matrix result, but got scalar {value}"
                )),
            }
        }
        Value::Vector(samples) => {
            if ev.string.is_some() {
                return Err("expected a string, got a vector".into());
            }
            let expected = series_expected(ev)?;
            let idx = index(&expected)?;
            let mut seen = vec![false; expected.len()];
            for (pos, s) in samples.iter().enumerate() {
                let Some(&i) = idx.get(&s.labels) else {
                    return Err(format!(
                        "unexpected metric {} in result, has value {}",
                        s.labels, s.value
                    ));
                };
                if seen[i] {
                    return Err(format!("metric {} returned twice", s.labels));
                }
                seen[i] = true;
                if ev.ordered && i != pos {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.labels,
                        i + 1,
                        pos + 1
                    ));
                }
                let exp = match expected[i].values.as_slice() {
                    [SeqValue::Value(x)] => *x,
                    other => {
                        return Err(format!(
                            "expected {} values for {}, want 1",
                            other.len(),
                            s.labels
                        ));
                    }
                };
                if !almost_equal(exp, s.value) {
                    return Err(format!("expected {} for {} but got {}", exp, s.labels, s.value));
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {} not found", expected[i].labels));
            }
            Ok(())
        }
        Value::Matrix(series) => {
            if ev.string.is_some() {
                return Err("expected a string, got a matrix".into());
            }
            if ev.ordered {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            let expected = series_expected(ev)?;
            let idx = index(&expected)?;
            let mut seen = vec![false; expected.len()];
            let grid = range.or(ev.range_vector);
            for s in series {
                let Some(&i) = idx.get(&s.labels) else {
                    return Err(format!("unexpected metric {} in result", s.labels));
                };
                seen[i] = true;
                let want: Vec<(Option<i64>, f64)> = expected[i]
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| match v {
                        SeqValue::Omitted => None,
                        SeqValue::Value(x) => Some((grid.map(|(st, _, step)| st + k as i64 * step), *x)),
                    })
                    .collect();
                if let Some((_, end, _)) = grid
                    && want.iter().any(|(t, _)| t.is_some_and(|t| t > end))
                {
                    return Err(format!(
                        "expected more points for {} than the time range has",
                        s.labels
                    ));
                }
                if want.len() != s.samples.len() {
                    return Err(format!(
                        "expected {} points for {}, got {}: {:?}",
                        want.len(),
                        s.labels,
                        s.samples.len(),
                        s.samples
                            .iter()
                            .map(|p| (p.timestamp_ms, p.value))
                            .collect::<Vec<_>>()
                    ));
                }
                for ((t, x), p) in want.iter().zip(&s.samples) {
                    if t.is_some_and(|t| t != p.timestamp_ms) || !almost_equal(*x, p.value) {
                        return Err(format!(
                            "expected {x} at {t:?} for {}, got {} at {}",
                            s.labels, p.value, p.timestamp_ms
                        ));
                    }
                }
            }
            if let Some(i) = seen.iter().position(|s| !s) {
                return Err(format!("expected metric {} not found", expected[i].labels));
            }
            Ok(())
        }
    }
}
