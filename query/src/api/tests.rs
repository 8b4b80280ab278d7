//! The router in process: which endpoints wait in the query queue, and
//! what a query that waited too long is answered.

use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use sluice_model::PromDuration;
use sluice_sink::store::SegmentStore;
use tower::ServiceExt;

use super::router;
use crate::QueryConfig;
use crate::server::{LocalViews, build_state};

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_beyond_max_concurrency_wait_then_get_503_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = QueryConfig {
        max_concurrency: 1,
        timeout: PromDuration(Duration::from_millis(300)),
        ..Default::default()
    };
    let store = SegmentStore::local(dir.path()).unwrap();
    let state = build_state(&cfg, store, &[], LocalViews::default());
    let app = router(state.clone());
    // The one slot is taken (as by a long query).
    let held = state.queue.admit().await.unwrap();
    let queued = [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=0&end=60&step=15",
        "/api/v1/sql?query=select%201",
    ];
    for uri in queued {
        let t = Instant::now();
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert_eq!(
            body, r#"{"error":"query timed out in query queue","errorType":"timeout","status":"error"}"#,
            "{uri}"
        );
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "{uri} waited {:?}",
            t.elapsed()
        );
    }
    // Not queued: a query that does not parse, metadata, health.
    let (status, _) = get(&app, "/api/v1/query?query=up(").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&app, "/api/v1/labels").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/-/healthy").await.0, StatusCode::OK);
    let (_, flags) = get(&app, "/api/v1/status/flags").await;
    assert!(flags.contains(r#""query.max-concurrency":"1""#), "{flags}");
    // With the slot free, the same queries run.
    drop(held);
    for uri in queued {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    }
}

#[tokio::test]
async fn metadata_answers_from_the_store_with_prometheus_params_and_errors() {
    use std::sync::Arc;

    use sluice_model::bus::PbMetricMetadata;
    use sluice_model::bus::metadata::key;
    use sluice_model::clock::{SystemClock, TimeProvider};

    use crate::metric_metadata::MetadataStore;

    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path()).unwrap();
    // Without a store (not followed): an empty map, as before.
    let app = router(build_state(
        &QueryConfig::default(),
        store.clone(),
        &[],
        LocalViews::default(),
    ));
    assert_eq!(
        get(&app, "/api/v1/metadata").await,
        (StatusCode::OK, r#"{"data":{},"status":"success"}"#.to_string())
    );

    let md = Arc::new(MetadataStore::new(60_000));
    let now = SystemClock.now_ms();
    for (name, t, help) in [("a_total", 1, "A."), ("a_total", 1, "A, v2."), ("b", 2, "B.")] {
        let m = PbMetricMetadata {
            r#type: t,
            metric_family_name: name.into(),
            help: help.into(),
            unit: String::new(),
        };
        md.apply(&key(&m), Some(m), now);
    }
    let views = LocalViews {
        metadata: Some(md),
        ..LocalViews::default()
    };
    let app = router(build_state(&QueryConfig::default(), store, &[], views));
    let (status, body) = get(&app, "/api/v1/metadata?metric=b").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"data":{"b":[{"help":"B.","type":"gauge","unit":""}]},"status":"success"}"#
    );
    let (_, body) = get(&app, "/api/v1/metadata?limit=1&limit_per_metric=1").await;
    assert_eq!(
        body,
        r#"{"data":{"a_total":[{"help":"A, v2.","type":"counter","unit":""}]},"status":"success"}"#
    );
    let (_, body) = get(&app, "/api/v1/metadata").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["a_total"].as_array().unwrap().len(), 2, "{body}");
    for (param, message) in [
        ("limit=x", "limit must be a number"),
        ("limit_per_metric=1.5", "limit_per_metric must be a number"),
    ] {
        let (status, body) = get(&app, &format!("/api/v1/metadata?{param}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{param}");
        assert_eq!(
            body,
            format!(r#"{{"error":"{message}","errorType":"bad_data","status":"error"}}"#)
        );
    }
}

/// `limitk`/`limit_ratio` answer through every query endpoint with
/// `query.experimental_functions` on, and get Prometheus' `bad_data` error
/// (before the queue) with it off, the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experimental_aggregations_follow_the_config_switch() {
    use sluice_model::{Labels, Sample, TimeSeries};
    use sluice_sink::segment::SAMPLES_TABLE;
    use sluice_sink::segment::layout::SegmentKey;
    use sluice_sink::segment::writer::{SegmentSpec, write_segment};

    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::local(dir.path()).unwrap();
    let series = ["a", "b", "c"].map(|job| TimeSeries {
        labels: Labels::new([("__name__", "up"), ("job", job)]),
        samples: (0..5).map(|i| Sample::new(i * 15_000, 1.0)).collect(),
    });
    let spec = SegmentSpec {
        table: SAMPLES_TABLE,
        key: SegmentKey::single(0, 0),
    };
    write_segment(&store, &spec, series.to_vec()).await.unwrap();
    let app = |experimental_functions: bool| {
        let cfg = QueryConfig {
            experimental_functions,
            ..Default::default()
        };
        router(build_state(&cfg, store.clone(), &[], LocalViews::default()))
    };

    let on = app(true);
    let (_, flags) = get(&on, "/api/v1/status/flags").await;
    assert!(
        flags.contains(r#""enable-feature":"promql-experimental-functions""#),
        "{flags}"
    );
    let (status, body) = get(&on, "/api/v1/query?query=limitk(2,up)&time=60").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"data":{"result":[{"metric":{"__name__":"up","job":"a"},"value":[60,"1"]},{"metric":{"__name__":"up","job":"b"},"value":[60,"1"]}],"resultType":"vector"},"status":"success"}"#
    );
    let (status, body) = get(
        &on,
        "/api/v1/query_range?query=count(limitk(2,up))&start=0&end=60&step=30",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""values":[[0,"2"],[30,"2"],[60,"2"]]"#), "{body}");
    // 1.5 is capped to 1 (all series), with Prometheus' warning.
    let (status, body) = get(&on, "/api/v1/query?query=count(limit_ratio(1.5,up))&time=60").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""value":[60,"3"]"#), "{body}");
    assert!(
        body.contains(r#""warnings":["PromQL warning: ratio value should be between -1 and 1, got 1.5, capping to 1 (1:19)"]"#),
        "{body}"
    );
    let (status, body) = get(
        &on,
        "/api/v1/sql?query=select%20count(*)%20as%20n%20from%20promql('limitk(1,up)',60)",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"data":[{"n":1}],"status":"success"}"#);

    let off = app(false);
    let (_, flags) = get(&off, "/api/v1/status/flags").await;
    assert!(flags.contains(r#""enable-feature":"""#), "{flags}");
    let refused =
        r#"limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions"#;
    for uri in [
        "/api/v1/query?query=limitk(2,up)&time=60",
        "/api/v1/query_range?query=count(limitk(2,up))&start=0&end=60&step=30",
    ] {
        let (status, body) = get(&off, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(
            body,
            format!(r#"{{"error":"{refused}","errorType":"bad_data","status":"error"}}"#),
            "{uri}"
        );
    }
    let (status, body) = get(&off, "/api/v1/parse_query?query=limit_ratio(0.5,up)").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains(r#"invalid parameter \"query\": limit_ratio() is experimental"#),
        "{body}"
    );
    let (status, body) = get(
        &off,
        "/api/v1/sql?query=select%20*%20from%20promql('limitk(1,up)',60)",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(refused), "{body}");
    // Everything else is unchanged.
    assert_eq!(
        get(&off, "/api/v1/query?query=topk(1,up)&time=60").await.0,
        StatusCode::OK
    );
}
