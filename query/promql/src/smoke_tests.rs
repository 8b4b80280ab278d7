//! End-to-end checks of the priority-1 subset through `MemorySource`.

use crate::{Engine, MemorySource, Value};
use sluice_model::{Labels, Sample, TimeSeries, stale_nan};

fn series(pairs: &[(&str, &str)], pts: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: Labels::new(pairs.iter().copied()),
        samples: pts.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    }
}

fn source() -> MemorySource {
    let pts: Vec<(i64, f64)> = (0..=10).map(|i| (i * 60_000, i as f64 * 60.0)).collect();
    let mut stale = pts[..3].to_vec();
    stale.push((180_000, stale_nan()));
    MemorySource::new(vec![
        series(&[("__name__", "req_total"), ("job", "a")], &pts),
        series(&[("__name__", "req_total"), ("job", "b")], &stale),
    ])
}

fn vector(v: &Value) -> Vec<(String, f64)> {
    let Value::Vector(v) = v else {
        panic!("not a vector: {v:?}")
    };
    let mut out: Vec<_> = v.iter().map(|s| (s.labels.to_string(), s.value)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn rate_sum_and_staleness() {
    let e = Engine::default();
    let src = source();
    let r = e
        .instant(&src, "rate(req_total{job=~\"a|b\"}[5m])", 600_000)
        .await
        .unwrap();
    assert_eq!(vector(&r.value), vec![("{job=\"a\"}".to_string(), 1.0)]);
    // job=b went stale at 3m: gone at 4m even within the lookback.
    let r = e
        .instant(&src, "sum by (job) (req_total)", 240_000)
        .await
        .unwrap();
    assert_eq!(vector(&r.value), vec![("{job=\"a\"}".to_string(), 240.0)]);
    let r = e.instant(&src, "req_total > bool 100", 120_000).await.unwrap();
    assert_eq!(
        vector(&r.value),
        vec![("{job=\"a\"}".to_string(), 1.0), ("{job=\"b\"}".to_string(), 1.0)]
    );
    let r = e
        .range(&src, "-(req_total offset 1m) * 2", 60_000, 180_000, 60_000)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[0].samples,
        vec![
            Sample::new(60_000, 0.0),
            Sample::new(120_000, -120.0),
            Sample::new(180_000, -240.0)
        ]
    );
}

#[tokio::test]
async fn errors_have_prometheus_classes() {
    let e = Engine::default();
    let src = source();
    let err = e.instant(&src, "sum(", 0).await.unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
    let err = e.range(&src, "req_total[5m]", 0, 60_000, 1000).await.unwrap_err();
    assert_eq!(err.http_status(), 400);
}

/// Counts `select` calls, to check each selector is fetched once.
struct Counting {
    inner: MemorySource,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl crate::SeriesSource for Counting {
    async fn select(
        &self,
        matchers: &[crate::Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, crate::SourceError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.select(matchers, start_ms, end_ms).await
    }
}

#[tokio::test]
async fn overlapping_selectors_are_fetched_once() {
    let src = Counting {
        inner: source(),
        calls: Default::default(),
    };
    let e = Engine::default();
    let r = e
        .range(
            &src,
            "rate(req_total[5m]) / rate(req_total[5m] offset 1m) + req_total * 0",
            300_000,
            600_000,
            60_000,
        )
        .await
        .unwrap();
    assert!(matches!(r.value, Value::Matrix(ref m) if !m.is_empty()));
    assert_eq!(src.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn max_samples_is_an_execution_error() {
    let e = Engine::new(crate::EngineOptions {
        max_samples: 10,
        ..Default::default()
    });
    let src = source();
    let err = e.range(&src, "req_total", 0, 600_000, 60_000).await.unwrap_err();
    assert_eq!(err.error_type(), "execution");
    assert_eq!(
        err.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // A query within the limit still works.
    assert!(e.instant(&src, "sum(req_total)", 600_000).await.is_ok());
}

#[tokio::test]
async fn subquery_grids_beyond_the_sample_limit_are_refused_before_allocating() {
    let src = source();
    // 290 years at 1 ms: 9e12 steps, whose window ends alone took 73 TB.
    for q in [
        "max_over_time(req_total[290y:1ms])",
        "rate(req_total[5m])[9223372036:1ms]",
    ] {
        let err = Engine::default().instant(&src, q, 600_000).await.unwrap_err();
        assert_eq!(err.error_type(), "execution", "{q}: {err}");
    }
    // Durations past Prometheus' 292 years are refused at parse time (they
    // overflowed the engine's millisecond arithmetic).
    let far = "max_over_time(req_total[290000000y:100000000y] offset 290000000y)";
    let err = Engine::default().instant(&src, far, 600_000).await.unwrap_err();
    assert_eq!(err.error_type(), "bad_data", "{err}");
}

#[tokio::test]
async fn go_style_regex_braces_are_accepted() {
    let e = Engine::default();
    let src = source();
    let r = e
        .instant(&src, r#"req_total{job=~"a{x}|a"}"#, 600_000)
        .await
        .unwrap();
    assert_eq!(
        vector(&r.value),
        vec![("req_total{job=\"a\"}".to_string(), 600.0)]
    );
}

/// The server runs queries inside axum handlers, so the futures must be
/// `Send` (this fails to compile otherwise).
#[test]
fn query_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let e = Engine::default();
    let src = source();
    let f = e.instant(&src, "up", 0);
    assert_send(&f);
    let g = e.range(&src, "up", 0, 1, 1);
    assert_send(&g);
    let h = crate::promqltest::run_script("x.test", "", &e, &crate::promqltest::memory_source_factory);
    assert_send(&h);
}

#[tokio::test]
async fn name_dropping_merges_disjoint_series_and_rejects_overlaps() {
    let a: Vec<(i64, f64)> = (0..=5).map(|i| (i * 60_000, i as f64)).collect();
    let b: Vec<(i64, f64)> = (20..=25).map(|i| (i * 60_000, i as f64)).collect();
    let src = MemorySource::new(vec![
        series(&[("__name__", "a_total"), ("job", "x")], &a),
        series(&[("__name__", "b_total"), ("job", "x")], &b),
    ]);
    let e = Engine::default();
    // a and b never overlap in time: after dropping names they form one series.
    let r = e
        .range(&src, "{job=\"x\"} * 1", 0, 1_500_000, 60_000)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].labels.to_string(), "{job=\"x\"}");
    // a is visible 0m..9m (5m lookback, left-open), b 20m..25m.
    assert_eq!(m[0].samples.len(), 10 + 6);
    // With a lookback long enough for a and b to meet, Prometheus fails.
    let long = Engine::new(crate::EngineOptions {
        lookback_delta_ms: 20 * 60_000,
        ..Default::default()
    });
    let err = long
        .instant(&src, "{job=\"x\"} * 1", 1_200_000)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "vector cannot contain metrics with the same labelset"
    );
}

#[tokio::test]
async fn timeout_is_reported_as_prometheus_does() {
    let e = Engine::new(crate::EngineOptions {
        timeout: std::time::Duration::ZERO,
        ..Default::default()
    });
    let src = source();
    let err = e.instant(&src, "sum(req_total)", 600_000).await.unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    assert_eq!(err.http_status(), 503);
    assert_eq!(err.to_string(), "query timed out in expression evaluation");
}

#[tokio::test]
async fn a_past_deadline_times_out_whatever_the_timeout() {
    // The default timeout (2 m) would let this run; the caller's deadline
    // (time already spent in its queue) does not.
    let e = Engine::default();
    let src = source();
    let opts = crate::QueryOptions {
        deadline: std::time::Instant::now().checked_sub(std::time::Duration::from_millis(1)),
        ..Default::default()
    };
    let err = e
        .instant_with(&src, "sum(req_total)", 600_000, opts)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "query timed out in expression evaluation");
    assert!(e.instant(&src, "sum(req_total)", 600_000).await.is_ok());
}

/// `stats`: Prometheus counts one queryable sample per series and step for
/// an instant selector, and every point of a range selector's window.
#[tokio::test]
async fn stats_count_queryable_samples_per_step() {
    let e = Engine::default();
    let src = source();
    // Steps 0, 60, 120, 180 s: job a has a value at each, job b at the first
    // three (its staleness marker at 180 s ends it).
    let r = e.range(&src, "req_total", 0, 180_000, 60_000).await.unwrap();
    let per_step = r.stats.total_queryable_samples_per_step.clone().unwrap();
    assert_eq!(per_step, vec![(0, 2), (60_000, 2), (120_000, 2), (180_000, 1)]);
    assert_eq!(r.stats.total_queryable_samples, 7);
    assert_eq!(r.stats.peak_samples, 7);
    // Read from storage: (-5 m, 180 s], job a's 4 samples and job b's 3
    // plus its marker.
    assert_eq!(r.stats.samples_fetched, 8);

    // A 2 m window at 120 s holds the samples at 60 and 120 s of both jobs.
    let r = e.instant(&src, "rate(req_total[2m])", 120_000).await.unwrap();
    assert_eq!(r.stats.total_queryable_samples_per_step, Some(vec![(120_000, 4)]));

    // A subquery's selectors run on the subquery's own steps: the total is
    // kept, the per-step split is not claimed.
    let r = e
        .instant(&src, "max_over_time(req_total[3m:1m])", 180_000)
        .await
        .unwrap();
    assert_eq!(r.stats.total_queryable_samples_per_step, None);
    assert_eq!(r.stats.total_queryable_samples, 5);
}

/// More raw samples than `max_fetched_samples` is a 422 `execution` error
/// in Prometheus' words; the limit counts every read of the query.
#[tokio::test]
async fn reading_more_samples_than_the_fetch_limit_is_an_execution_error() {
    let src = source();
    let limited = |n| {
        Engine::new(crate::EngineOptions {
            max_fetched_samples: n,
            ..Default::default()
        })
    };
    // `req_total[10m]` at 600 s reads job a's 11 samples and job b's 4.
    assert!(limited(15).instant(&src, "req_total[10m]", 600_000).await.is_ok());
    let err = limited(14)
        .instant(&src, "req_total[10m]", 600_000)
        .await
        .unwrap_err();
    assert_eq!((err.http_status(), err.error_type()), (422, "execution"));
    assert!(
        err.to_string()
            .starts_with("query processing would load too many samples into memory in query execution"),
        "{err}"
    );
    assert!(err.to_string().contains("query.max_fetched_samples"), "{err}");
}
