//! The properties the PromQL fuzz target asserts (`fuzz/`), here so the
//! corpus replay test of the normal build (`tests/it/fuzz_corpus.rs`)
//! checks the same things. A failed property panics, which is what a fuzzer
//! reports as a crash.
//!
//! Queries are untrusted text from the HTTP API and from rule files, so the
//! whole front end is fuzzed: parsing, the planner's selector needs (what
//! the rule evaluator keeps in memory), and a real evaluation over a small
//! in-memory data set, instant and range, which must agree at their
//! common time.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use sluice_model::{Labels, Sample, TimeSeries, stale_nan};

use crate::{Engine, EngineOptions, MemorySource, QueryError, Value, selector_needs};

/// The evaluation time of the instant query and the end of the range query.
const T: i64 = 600_000;
/// Range query step; the range covers three steps.
const STEP: i64 = 60_000;

/// A query string: parsing never panics; `parse_check` and the planner's
/// `selector_needs` agree on what parses; evaluating over a small data set
/// never panics, never waits (the in-memory source is synchronous), and
/// returns the value type the parser announced, with unique label sets and
/// timestamps on the query's grid; and the range query's last step equals
/// the instant query.
pub fn promql(data: &[u8]) {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let kind = Engine::parse_check(query);
    let needs = selector_needs(query, 300_000);
    let Ok(kind) = kind else {
        assert!(
            needs.is_err(),
            "selector_needs accepts a query that does not parse"
        );
        return;
    };
    if let Ok(needs) = needs {
        for n in &needs {
            assert!(!n.matcher_sets.is_empty(), "a selector without matcher sets");
            assert!(n.reach_ahead_ms >= 0, "negative reach ahead {}", n.reach_ahead_ms);
        }
    }
    // Bounded like a query server: fuzzed queries may ask for absurd ranges
    // and steps, and must hit these limits rather than run away.
    let engine = Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: Duration::from_millis(500),
        ..EngineOptions::default()
    });
    let source = data_set();
    let instant = ready(engine.instant(&source, query, T));
    match &instant {
        Ok(r) => check_instant(&r.value, kind, query),
        Err(e) => check_error(e),
    }
    if !matches!(kind, "scalar" | "vector") {
        return;
    }
    let range = ready(engine.range(&source, query, T - 3 * STEP, T, STEP));
    match &range {
        Ok(r) => check_range(&r.value, query),
        Err(e) => check_error(e),
    }
    // `@ start()` means T in the instant query and T - 3 steps in the range
    // query, so only there may the two disagree.
    if let (Ok(i), Ok(r)) = (&instant, &range)
        && !query.contains("start()")
    {
        check_last_step(&i.value, &r.value, query);
    }
}

/// Prometheus' own promqltest harness re-runs every instant query as a range
/// query: the step at T sees the same data, so it must give the same series
/// and values (to rounding: aggregation order may differ).
fn check_last_step(instant: &Value, range: &Value, query: &str) {
    let no_labels = Labels::default();
    let mut at_t: Vec<(&Labels, f64)> = match instant {
        Value::Scalar { value, .. } => vec![(&no_labels, *value)],
        Value::Vector(v) => v.iter().map(|s| (&s.labels, s.value)).collect(),
        _ => return,
    };
    let Value::Matrix(m) = range else { return };
    let mut last: Vec<(&Labels, f64)> = m
        .iter()
        .filter_map(|s| {
            s.samples
                .last()
                .filter(|p| p.timestamp_ms == T)
                .map(|p| (&s.labels, p.value))
        })
        .collect();
    at_t.sort_by(|a, b| a.0.cmp(b.0));
    last.sort_by(|a, b| a.0.cmp(b.0));
    let same = at_t.len() == last.len()
        && at_t.iter().zip(&last).all(|((la, a), (lb, b))| {
            la == lb && (a == b || a.is_nan() && b.is_nan() || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()))
        });
    assert!(
        same,
        "{query}: instant at T {at_t:?}\nvs the range query's step at T {last:?}"
    );
}

fn check_instant(value: &Value, kind: &str, query: &str) {
    let got = match value {
        Value::Scalar { timestamp_ms, .. } | Value::String { timestamp_ms, .. } => {
            assert_eq!(*timestamp_ms, T, "{query}: timestamp");
            if matches!(value, Value::Scalar { .. }) {
                "scalar"
            } else {
                "string"
            }
        }
        Value::Vector(v) => {
            assert!(
                v.iter().all(|s| s.timestamp_ms == T),
                "{query}: vector timestamps"
            );
            assert_unique(v.iter().map(|s| &s.labels), query);
            "vector"
        }
        Value::Matrix(m) => {
            assert_unique(m.iter().map(|s| &s.labels), query);
            "matrix"
        }
    };
    assert_eq!(
        got, kind,
        "{query}: the parser announced {kind}, evaluation gave {got}"
    );
}

fn check_range(value: &Value, query: &str) {
    let Value::Matrix(m) = value else {
        panic!("{query}: a range query returned {value:?}");
    };
    assert_unique(m.iter().map(|s| &s.labels), query);
    for s in m {
        assert!(!s.samples.is_empty(), "{query}: empty series {}", s.labels);
        let grid = |t: i64| (T - 3 * STEP..=T).contains(&t) && (T - t) % STEP == 0;
        assert!(
            s.samples.iter().all(|p| grid(p.timestamp_ms))
                && s.samples
                    .windows(2)
                    .all(|w| w[0].timestamp_ms < w[1].timestamp_ms),
            "{query}: points of {} off the grid or out of order: {:?}",
            s.labels,
            s.samples
        );
    }
}

/// The in-memory source cannot fail, so a storage error is a bug.
fn check_error(e: &QueryError) {
    assert!(
        !matches!(e, QueryError::Source(_)),
        "in-memory source failed: {e}"
    );
}

fn assert_unique<'a>(labels: impl Iterator<Item = &'a Labels>, query: &str) {
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        assert!(seen.insert(l), "{query}: label set {l} twice in one result");
    }
}

/// Polls once: every await in an evaluation over a [`MemorySource`]
/// completes at once, so a pending future would be a bug (and waiting on
/// it would hang the fuzzer).
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("evaluation over an in-memory source did not complete"),
    }
}

/// A few series of each shape PromQL functions care about, named as in
/// Prometheus' own test files (which seed the corpus): a counter with a
/// reset, gauges with a gap and a staleness marker, histogram buckets.
fn data_set() -> MemorySource {
    let series = |labels: &[(&str, &str)], f: &dyn Fn(i64) -> Option<f64>| TimeSeries {
        labels: Labels::new(labels.iter().copied()),
        samples: (0..=T / 15_000)
            .filter_map(|i| f(i).map(|v| Sample::new(i * 15_000, v)))
            .collect(),
    };
    MemorySource::new(vec![
        series(
            &[
                ("__name__", "http_requests"),
                ("job", "api-server"),
                ("instance", "0"),
            ],
            &|i| Some(if i < 20 { i * 10 } else { (i - 20) * 10 } as f64),
        ),
        series(
            &[
                ("__name__", "http_requests"),
                ("job", "app-server"),
                ("instance", "1"),
            ],
            &|i| Some((i * 30) as f64),
        ),
        series(&[("__name__", "metric"), ("group", "a")], &|i| {
            (i % 7 != 3).then(|| (i as f64).sin())
        }),
        series(&[("__name__", "up"), ("job", "api-server")], &|i| {
            Some(if i == 30 { stale_nan() } else { 1.0 })
        }),
        series(&[("__name__", "testhistogram_bucket"), ("le", "0.1")], &|i| {
            Some(i as f64)
        }),
        series(&[("__name__", "testhistogram_bucket"), ("le", "+Inf")], &|i| {
            Some((i * 3) as f64)
        }),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_each_value_type() {
        for q in [
            "1",
            "\"s\"",
            "http_requests",
            "rate(http_requests[5m])[3m:1m]",
            "up[1m]",
        ] {
            promql(q.as_bytes());
        }
        let engine = Engine::default();
        let v = ready(engine.instant(&data_set(), "sum(http_requests)", T)).unwrap();
        assert!(matches!(v.value, Value::Vector(ref v) if v.len() == 1 && v[0].value == 200.0 + 1200.0));
    }

    #[test]
    #[should_panic(expected = "the range query's step at T")]
    fn instant_and_range_results_must_agree() {
        let labels = Labels::new([("a", "b")]);
        let instant = Value::Vector(vec![crate::InstantSample {
            labels: labels.clone(),
            timestamp_ms: T,
            value: 1.0,
        }]);
        let same = Value::Matrix(vec![crate::RangeSeries {
            labels: labels.clone(),
            samples: vec![Sample::new(T - STEP, 5.0), Sample::new(T, 1.0)],
        }]);
        check_last_step(&instant, &same, "q");
        let other = Value::Matrix(vec![crate::RangeSeries {
            labels,
            samples: vec![Sample::new(T, 2.0)],
        }]);
        check_last_step(&instant, &other, "q");
    }

    #[test]
    #[should_panic(expected = "twice in one result")]
    fn duplicate_label_sets_are_caught() {
        let l = Labels::new([("a", "b")]);
        assert_unique([&l, &l].into_iter(), "q");
    }
}
