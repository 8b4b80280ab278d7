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
