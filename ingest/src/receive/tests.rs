//! The router end to end, in process: requests through axum into a
//! recording writer and the push store.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use prost::Message;
use sluice_model::bus::{PbLabel, PbSample, PbTimeSeries, WriteRequest};
use sluice_model::clock::MockClock;
use sluice_model::{Labels, Sample};
use tower::ServiceExt;

use super::test_support::{Ack, RecordingWriter};
use super::*;

struct Fixture {
    writer: Arc<RecordingWriter>,
    push: Arc<PushStore>,
    app: Router,
}

fn fixture(limits: ReceiveLimits) -> Fixture {
    let writer = Arc::new(RecordingWriter::default());
    let push = Arc::new(PushStore::new(Arc::new(MockClock::at(7_000))));
    let app = router(writer.clone(), push.clone(), limits);
    Fixture { writer, push, app }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn rw_body(labels: &[(&str, &str)]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: vec![PbTimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| PbLabel {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![
                PbSample {
                    value: 1.5,
                    timestamp: 1000,
                },
                PbSample {
                    value: 2.5,
                    timestamp: 2000,
                },
            ],
        }],
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn rw_request(content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-type", content_type)
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(Body::from(body))
        .unwrap()
}

fn push_request(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "text/plain; version=0.0.4")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn remote_write_delivers_series_with_204() {
    let f = fixture(ReceiveLimits::default());
    let body = rw_body(&[
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("job", "api"),
    ]);
    let (status, text) = call(&f.app, rw_request("application/x-protobuf", body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let batches = f.writer.take();
    assert_eq!(batches.len(), 1);
    let s = &batches[0][0];
    assert_eq!(
        s.labels,
        Labels::new([
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("job", "api")
        ])
    );
    assert_eq!(s.samples, vec![Sample::new(1000, 1.5), Sample::new(2000, 2.5)]);
}

#[tokio::test]
async fn remote_write_refusals() {
    let f = fixture(ReceiveLimits::default());
    let good = || rw_body(&[("__name__", "up")]);

    let (status, text) = call(&f.app, rw_request("application/x-protobuf", b"garbage".to_vec())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.starts_with("snappy:"), "{text}");

    let (status, _) = call(&f.app, rw_request("application/json", good())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (status, text) = call(&f.app, rw_request(v2, good())).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(text.contains("not accepted by this server"), "{text}");
    let v1 = "application/x-protobuf;proto=prometheus.WriteRequest";
    assert_eq!(
        call(&f.app, rw_request(v1, good())).await.0,
        StatusCode::NO_CONTENT
    );

    let bad = rw_body(&[("job", "x")]);
    let (status, text) = call(&f.app, rw_request("application/x-protobuf", bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "missing __name__ label in series {job=\"x\"}\n");

    let req = Request::get("/api/v1/write").body(Body::empty()).unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::METHOD_NOT_ALLOWED);
    // Only the one accepted request reached the writer.
    assert_eq!(f.writer.take().len(), 1);
}

#[tokio::test]
async fn remote_write_answers_503_while_the_writer_fails() {
    let f = fixture(ReceiveLimits::default());
    f.writer.set_failing(true);
    let (status, text) = call(
        &f.app,
        rw_request("application/x-protobuf", rw_body(&[("__name__", "up")])),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("retry later"), "{text}");
    f.writer.set_failing(false);
    let (status, _) = call(
        &f.app,
        rw_request("application/x-protobuf", rw_body(&[("__name__", "up")])),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn remote_write_holds_unacknowledged_samples_and_refuses_failed_ones() {
    let f = fixture(ReceiveLimits {
        ack_wait: std::time::Duration::from_millis(50),
        ..Default::default()
    });
    let send = || {
        call(
            &f.app,
            rw_request("application/x-protobuf", rw_body(&[("__name__", "up")])),
        )
    };
    // Queued, never acknowledged (broker away): accepted after ack_wait,
    // since the producer still holds the samples.
    f.writer.set_ack(Ack::Never);
    assert_eq!(send().await.0, StatusCode::NO_CONTENT);
    // Kafka refused the records: the sender must retry.
    f.writer.set_ack(Ack::Fail);
    let (status, text) = send().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("retry later"), "{text}");
    assert_eq!(f.writer.take().len(), 2);
}

#[tokio::test]
async fn series_over_the_label_limits_are_400_and_nothing_is_written() {
    let f = fixture(ReceiveLimits {
        write: WriteLimits {
            label_value_length_limit: 16,
            ..Default::default()
        },
        ..Default::default()
    });
    let long = rw_body(&[("__name__", "up"), ("path", "/a/very/long/request/path")]);
    let (status, text) = call(&f.app, rw_request("application/x-protobuf", long)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        text,
        "receive.label_value_length_limit exceeded (label name: \"path\", length: 25, limit: 16) \
         in series {__name__=\"up\", path=\"/a/very/long/request/path\"}\n"
    );
    assert!(f.writer.take().is_empty());
}

#[tokio::test]
async fn remote_write_beyond_max_concurrent_requests_waits_then_gets_503() {
    let f = fixture(ReceiveLimits {
        max_concurrent_requests: 1,
        ack_wait: std::time::Duration::from_millis(200),
        ..Default::default()
    });
    // A sender whose body is slow to arrive holds the only slot.
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = tokio::spawn({
        let app = f.app.clone();
        async move {
            let req = Request::post("/api/v1/write")
                .header("content-type", "application/x-protobuf")
                .body(Body::from_stream(rx))
                .unwrap();
            call(&app, req).await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let send = || {
        call(
            &f.app,
            rw_request("application/x-protobuf", rw_body(&[("__name__", "up")])),
        )
    };
    let t = std::time::Instant::now();
    let (status, text) = send().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("receive.max_concurrent_requests"), "{text}");
    assert!(t.elapsed() >= std::time::Duration::from_millis(200));
    // The slow body arrives: its request is served and frees the slot.
    use futures::SinkExt as _;
    tx.send(Ok(rw_body(&[("__name__", "slow")]))).await.unwrap();
    drop(tx);
    assert_eq!(slow.await.unwrap().0, StatusCode::NO_CONTENT);
    assert_eq!(send().await.0, StatusCode::NO_CONTENT);
    assert_eq!(f.writer.take().len(), 2);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let f = fixture(ReceiveLimits {
        max_body_bytes: 200,
        ..Default::default()
    });
    // Compresses to well under 200 bytes but decompresses to over 1000.
    let big = rw_body(&[("__name__", "up"), ("x", &"a".repeat(1000))]);
    assert!(big.len() < 200);
    let (status, text) = call(&f.app, rw_request("application/x-protobuf", big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    // Over the limit before decompression: refused while reading the body.
    let (status, _) = call(&f.app, rw_request("application/x-protobuf", vec![0u8; 1000])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = call(
        &f.app,
        push_request("PUT", "/metrics/job/j", &"m 1\n".repeat(100)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(f.writer.take().is_empty());
}

#[tokio::test]
async fn push_put_post_delete() {
    let f = fixture(ReceiveLimits::default());
    let lines = |f: &Fixture| {
        let mut v: Vec<String> = f
            .push
            .snapshot(9_000)
            .iter()
            .map(|s| format!("{} {}", s.labels, s.samples[0].value))
            .collect();
        v.sort();
        v
    };
    let (status, text) = call(
        &f.app,
        push_request("PUT", "/metrics/job/batch/instance/h1", "a 1\nb 2\n"),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, ""));
    let (status, _) = call(
        &f.app,
        push_request("POST", "/metrics/job/batch/instance/h1", "b 3\nc 4\n"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        lines(&f),
        [
            "a{instance=\"h1\", job=\"batch\"} 1",
            "b{instance=\"h1\", job=\"batch\"} 3",
            "c{instance=\"h1\", job=\"batch\"} 4",
            "push_time_seconds{instance=\"h1\", job=\"batch\"} 7",
        ]
    );
    let (status, _) = call(
        &f.app,
        push_request("PUT", "/metrics/job/batch/instance/h1", "c 5\n"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        lines(&f),
        [
            "c{instance=\"h1\", job=\"batch\"} 5",
            "push_time_seconds{instance=\"h1\", job=\"batch\"} 7",
        ]
    );
    // The same group, spelled with base64 ("batch" = YmF0Y2g, "h1" = aDE=).
    let (status, _) = call(
        &f.app,
        push_request("DELETE", "/metrics/job@base64/YmF0Y2g/instance@base64/aDE=", ""),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(f.push.is_empty());
    // Pushes never write directly; the emitter does.
    assert!(f.writer.take().is_empty());
}

#[tokio::test]
async fn push_refusals() {
    let f = fixture(ReceiveLimits::default());
    let (status, text) = call(&f.app, push_request("PUT", "/metrics/job/j", "m{a=\"1\" 1\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.starts_with("text format parsing error in line 1:"), "{text}");
    let (status, text) = call(&f.app, push_request("PUT", "/metrics/job/j/x", "m 1\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.starts_with("odd number of components"), "{text}");
    let (status, text) = call(&f.app, push_request("PUT", "/metrics/job/j", "m 1 1000\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("must not have timestamps"), "{text}");
    let (status, _) = call(&f.app, push_request("PUT", "/metrics/nojob/j", "m 1\n")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&f.app, push_request("GET", "/metrics/job/j", "")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let proto = Request::put("/metrics/job/j")
        .header(
            "content-type",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        )
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(call(&f.app, proto).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(f.push.is_empty());
}

fn metadata_body(metadata: Vec<sluice_model::bus::PbMetricMetadata>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: vec![],
        metadata,
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

#[tokio::test]
async fn remote_write_metadata_goes_to_the_writer_and_bad_metadata_is_400() {
    use sluice_model::bus::PbMetricMetadata;
    let f = fixture(ReceiveLimits::default());
    // What Prometheus sends every metadata_config.send_interval: no series.
    let entry = PbMetricMetadata {
        r#type: 1,
        metric_family_name: "node_cpu_seconds_total".into(),
        help: "Seconds the CPUs spent in each mode.".into(),
        unit: String::new(),
    };
    let (status, body) = call(
        &f.app,
        rw_request("application/x-protobuf", metadata_body(vec![entry.clone()])),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(f.writer.take_metadata(), vec![entry.clone()]);
    assert!(f.writer.take().is_empty());

    let bad = PbMetricMetadata {
        r#type: 42,
        ..entry.clone()
    };
    let (status, body) = call(
        &f.app,
        rw_request("application/x-protobuf", metadata_body(vec![bad])),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "metadata: unknown metric type 42 for node_cpu_seconds_total\n"
    );
    assert!(f.writer.take_metadata().is_empty());

    // A full buffer refuses the metadata, yet the request is answered by
    // its samples' fate alone (none here): 204.
    f.writer.set_failing(true);
    let (status, _) = call(
        &f.app,
        rw_request("application/x-protobuf", metadata_body(vec![entry])),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
