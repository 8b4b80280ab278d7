//! The remote_write 1.0 receiver: what a Prometheus server with
//! `remote_write: [{url: http://sluice:9465/api/v1/write}]` talks to.
//!
//! A request is a snappy *block*-compressed (not framed) protobuf
//! `prometheus.WriteRequest`. Status codes follow Prometheus' own receiver,
//! because the sender's retry logic is built around them:
//!
//! | outcome | status | sender |
//! |---|---|---|
//! | corrupt snappy / protobuf, invalid labels, out-of-order samples | 400 | drops the batch (retrying cannot help) |
//! | more series, labels or longer labels than the `receive:` limits ([`super::limits`]) | 400 | drops the batch |
//! | Content-Type or Content-Encoding not RW 1.0 | 415 | drops the batch |
//! | body over the limit | 413 | drops the batch |
//! | `max_concurrent_requests` busy for `ack_wait` | 503 | retries with backoff |
//! | queued and acknowledged by Kafka within `receive.ack_wait` | 204 | done |
//! | queued, no acknowledgement yet after `ack_wait` (broker slow or away) | 204 | done |
//! | the producer's buffer is full, or Kafka refused the write | 503 | retries with backoff |
//!
//! Back-pressure is a 503, not a 429: Prometheus 2.42 retries every 5xx
//! (backoff from `min_backoff` 30 ms doubling to `max_backoff` 5 s) but
//! retries a 429 only with `retry_on_http_429: true`, which is off by
//! default; otherwise a 429 drops the batch. Prometheus answers a storage
//! failure with 500; 503 says more precisely that the fault is a dependency
//! that may come back. Retrying is what keeps data through a Kafka outage:
//! the sender's WAL holds the samples meanwhile.
//!
//! While Kafka is away, requests keep being accepted into the producer's
//! memory budget (`kafka.producer_buffer_bytes`): a request waits
//! `ack_wait` for the acknowledgement, then gets 204 with its samples held
//! in the buffer, which librdkafka delivers once the broker is back (the
//! ingest publisher has no message timeout). So an answered request is
//! never retried while its first copy is still queued, and one refused for
//! a full buffer (503) queued nothing: retries do not duplicate. The price is that an
//! ingest process killed during an outage loses what its buffer held. A
//! sender that gives up before `ack_wait` (a `remote_timeout` below it)
//! does retry a queued batch, and so does one refused after part of its
//! records were taken; the sink drops such second copies.
//!
//! Content negotiation is that of the RW 2.0 spec (Prometheus 2.54+): no
//! Content-Type means RW 1.0; `application/x-protobuf` with no `proto`
//! parameter or `proto=prometheus.WriteRequest` is accepted;
//! `proto=io.prometheus.write.v2.Request` gets 415, which makes an RW 2.0
//! sender fall back to 1.0. Only `snappy` Content-Encoding is accepted.
//!
//! Unlike Prometheus 3, which skips series with invalid labels and stores
//! the rest, a request with one invalid series is rejected whole with 400
//! and the reason, so a misconfigured sender is loud rather than silently
//! lossy. Native histograms and exemplars are not part of the bus format and
//! are ignored. Metadata (`WriteRequest.metadata`, which Prometheus sends
//! every `metadata_config.send_interval`, 1m by default) is checked like
//! series (an invalid family name or type is a 400) and goes to the
//! metadata topic through [`SampleWriter::submit_metadata`], best effort: a
//! request is not refused because its metadata could not be queued (the
//! sender sends it again within a minute; its samples matter more).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prost::Message;
use sluice_model::bus::{self, PbMetricMetadata, PbTimeSeries, WriteRequest};
use sluice_model::{Label, Labels, METRIC_NAME, Sample, TimeSeries};

use super::limits::{WriteLimits, describe};
use super::{ReceiveLimits, Shared};
use crate::IngestError;
use crate::publish::SampleWriter;
use crate::relabel::is_valid_label_name;

/// The RW 1.0 media type.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The `proto` parameter value naming RW 1.0's message.
pub const PROTO_V1: &str = "prometheus.WriteRequest";
/// The `proto` parameter value naming RW 2.0's message (not supported).
pub const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// Why a write request was refused; [`RwError::status`] maps it to HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RwError {
    /// Content-Type or Content-Encoding this receiver does not speak (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is not snappy or not a `WriteRequest` (400).
    #[error("{0}")]
    Corrupt(String),
    /// A series breaks the label rules (400).
    #[error("{0}")]
    InvalidSeries(String),
    /// The request or a series is over a `receive:` limit (400).
    #[error("{0}")]
    OverLimit(String),
    /// The body could not be read: over `max_body_bytes` as sent (413),
    /// or the client went away.
    #[error("{1}")]
    Body(StatusCode, String),
    /// The decompressed body exceeds the limit (413).
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size announced by the snappy header.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Writing to the bus failed or the producer's buffer is full; the
    /// sender should retry (503).
    #[error("{0}")]
    Unavailable(String),
}

impl RwError {
    /// The HTTP status Prometheus' sender reacts to correctly.
    pub fn status(&self) -> StatusCode {
        match self {
            RwError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RwError::Corrupt(_) | RwError::InvalidSeries(_) | RwError::OverLimit(_) => {
                StatusCode::BAD_REQUEST
            }
            RwError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RwError::Body(status, _) => *status,
            RwError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Checks the Content-Type (absent means RW 1.0, as in Prometheus).
pub fn check_content_type(content_type: Option<&str>) -> Result<(), RwError> {
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case(CONTENT_TYPE) {
        return Err(RwError::UnsupportedMediaType(format!(
            "expected {CONTENT_TYPE} as the first (media) part, got {ct} content-type"
        )));
    }
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            return Err(RwError::UnsupportedMediaType(format!(
                "expected parameters to be key-values, got {param} in {ct} content-type"
            )));
        };
        if key.trim() == "proto" {
            let value = value.trim().trim_matches('"');
            if value == PROTO_V1 {
                return Ok(());
            }
            return Err(RwError::UnsupportedMediaType(format!(
                "{value} protobuf message is not accepted by this server; accepted [{PROTO_V1}]"
            )));
        }
    }
    Ok(())
}

/// Checks the Content-Encoding (absent means snappy, as in Prometheus).
pub fn check_content_encoding(encoding: Option<&str>) -> Result<(), RwError> {
    match encoding.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("snappy") => Ok(()),
        Some(e) => Err(RwError::UnsupportedMediaType(format!(
            "{e} encoding (compression) is not accepted by this server; only snappy is acceptable"
        ))),
    }
}

/// A decoded, validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Series with samples.
    pub series: Vec<TimeSeries>,
    /// Metric metadata entries.
    pub metadata: Vec<PbMetricMetadata>,
}

/// [`decode_request`]'s series.
pub fn decode(body: &[u8], limits: &ReceiveLimits) -> Result<Vec<TimeSeries>, RwError> {
    decode_request(body, limits).map(|d| d.series)
}

/// Decompresses and decodes a request body into validated series and
/// metadata. The decompressed size is checked against `max_body_bytes`
/// before any allocation, from the length snappy puts in front of the block.
pub fn decode_request(body: &[u8], limits: &ReceiveLimits) -> Result<Decoded, RwError> {
    let size = snap::raw::decompress_len(body).map_err(|e| RwError::Corrupt(format!("snappy: {e}")))?;
    if size > limits.max_body_bytes {
        return Err(RwError::TooLarge {
            size,
            limit: limits.max_body_bytes,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RwError::Corrupt(format!("snappy: {e}")))?;
    let req = WriteRequest::decode(raw.as_slice()).map_err(|e| RwError::Corrupt(format!("protobuf: {e}")))?;
    limits
        .write
        .check_series_count(req.timeseries.len())
        .map_err(RwError::OverLimit)?;
    let series = req
        .timeseries
        .into_iter()
        .filter(|ts| !ts.samples.is_empty())
        .map(|ts| validate_series(ts, &limits.write))
        .collect::<Result<_, _>>()?;
    for m in &req.metadata {
        bus::metadata::validate(m).map_err(|why| RwError::InvalidSeries(format!("metadata: {why}")))?;
    }
    Ok(Decoded {
        series,
        metadata: req.metadata,
    })
}

/// The RW 1.0 spec's label rules: names valid and sorted without duplicates,
/// a valid `__name__`; then the `receive:` label limits. Empty values mean
/// "no such label" and are dropped.
fn validate_series(ts: PbTimeSeries, limits: &WriteLimits) -> Result<TimeSeries, RwError> {
    let labels: Vec<Label> = bus::labels_from_pb(ts.labels);
    let in_series = |why: String| format!("{why} in series {}", describe(&labels));
    if let Err(why) = limits.check_labels(&labels) {
        return Err(RwError::OverLimit(in_series(why)));
    }
    let invalid = |why: String| Err(RwError::InvalidSeries(in_series(why)));
    if let Some(l) = labels.iter().find(|l| !is_valid_label_name(&l.name)) {
        return invalid(format!("invalid label name {:?}", l.name));
    }
    if let Some(w) = labels.windows(2).find(|w| w[0].name >= w[1].name) {
        return if w[0].name == w[1].name {
            invalid(format!("duplicate label name {:?}", w[0].name))
        } else {
            invalid(format!(
                "labels not sorted by name ({:?} before {:?})",
                w[0].name, w[1].name
            ))
        };
    }
    match labels.iter().find(|l| l.name == METRIC_NAME) {
        None => return invalid(format!("missing {METRIC_NAME} label")),
        Some(l) if !is_valid_metric_name(&l.value) => {
            return invalid(format!("invalid metric name {:?}", l.value));
        }
        Some(_) => {}
    }
    // The bus promises ascending samples per series; Prometheus' receiver
    // answers an out-of-order sample with 400 too (its TSDB refuses it).
    if let Some(w) = ts.samples.windows(2).find(|w| w[1].timestamp < w[0].timestamp) {
        return invalid(format!(
            "out of order sample (timestamp {} after {})",
            w[1].timestamp, w[0].timestamp
        ));
    }
    Ok(TimeSeries {
        labels: Labels::from_sorted(labels),
        samples: ts
            .samples
            .into_iter()
            .map(|s| Sample::new(s.timestamp, s.value))
            .collect(),
    })
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus' metric name rule.
fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `POST /api/v1/write`.
pub(super) async fn handle<W: SampleWriter>(State(shared): State<Arc<Shared<W>>>, req: Request) -> Response {
    match receive(&shared, req).await {
        Ok(samples) => {
            shared.metrics.rw_samples.inc_by(samples as u64);
            shared.metrics.request("remote_write", StatusCode::NO_CONTENT);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, status = e.status().as_u16(), "remote_write request refused");
            shared.metrics.request("remote_write", e.status());
            (e.status(), format!("{e}\n")).into_response()
        }
    }
}

/// Checks, decodes and writes one request; the number of samples written.
/// The body is read only once the request has a slot, and the slot is
/// given back once its samples are with the writer (their bytes are then
/// within `kafka.producer_buffer_bytes`), not after the wait for Kafka.
async fn receive<W: SampleWriter>(shared: &Shared<W>, req: Request) -> Result<usize, RwError> {
    let headers = req.headers();
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    check_content_type(header(header::CONTENT_TYPE))?;
    check_content_encoding(header(header::CONTENT_ENCODING))?;
    let slot = match &shared.rw_slots {
        None => None,
        Some(slots) => Some(
            tokio::time::timeout(shared.limits.ack_wait, slots.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(|| {
                    RwError::Unavailable(format!(
                        "{} requests in progress (receive.max_concurrent_requests) for receive.ack_wait ({:?}), retry later",
                        shared.limits.max_concurrent_requests, shared.limits.ack_wait
                    ))
                })?,
        ),
    };
    // As the `Bytes` extractor does, with `max_body_bytes` (DefaultBodyLimit).
    let body = Bytes::from_request(req, &())
        .await
        .map_err(|r| RwError::Body(r.status(), r.body_text()))?;
    let Decoded { series, metadata } = decode_request(&body, &shared.limits)?;
    drop(body);
    if !metadata.is_empty() {
        submit_metadata(shared, metadata);
    }
    let samples = series.iter().map(|s| s.samples.len()).sum();
    if series.is_empty() {
        return Ok(samples);
    }
    let delivery = shared.writer.submit(series).map_err(|e| match e {
        IngestError::Backpressure(why) => {
            RwError::Unavailable(format!("{why}; Kafka is slow or away, retry later"))
        }
        e => RwError::Unavailable(format!("writing to the bus failed, retry later: {e}")),
    })?;
    drop(slot);
    match tokio::time::timeout(shared.limits.ack_wait, delivery).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(RwError::Unavailable(format!(
                "writing to the bus failed, retry later: {e}"
            )));
        }
        // Queued within the budget; librdkafka delivers it when it can.
        Err(_) => shared.metrics.rw_unacked.inc_by(samples as u64),
    }
    Ok(samples)
}

/// Queues a request's metadata; failures are logged, not answered (see the
/// module documentation).
fn submit_metadata<W: SampleWriter>(shared: &Shared<W>, metadata: Vec<PbMetricMetadata>) {
    match shared.writer.submit_metadata(metadata) {
        Ok(delivery) => {
            tokio::spawn(async move {
                if let Err(e) = delivery.await {
                    tracing::warn!(error = %e, "remote_write metadata not written: Kafka did not take it");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "remote_write metadata not written: could not queue it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::bus::{PbLabel, PbSample};

    fn pb(labels: &[(&str, &str)]) -> PbTimeSeries {
        PbTimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| PbLabel {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![PbSample {
                value: 1.0,
                timestamp: 5,
            }],
        }
    }

    /// Default limits with `max_body_bytes` of 1 MiB.
    fn limits() -> ReceiveLimits {
        ReceiveLimits {
            max_body_bytes: 1 << 20,
            ..Default::default()
        }
    }

    fn body(series: Vec<PbTimeSeries>) -> Vec<u8> {
        let raw = WriteRequest {
            timeseries: series,
            metadata: vec![],
        }
        .encode_to_vec();
        snap::raw::Encoder::new().compress_vec(&raw).unwrap()
    }

    #[test]
    fn content_type_negotiation() {
        assert_eq!(check_content_type(None), Ok(()));
        assert_eq!(check_content_type(Some("application/x-protobuf")), Ok(()));
        assert_eq!(
            check_content_type(Some("application/x-protobuf;proto=prometheus.WriteRequest")),
            Ok(())
        );
        let v2 = check_content_type(Some(
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        ));
        assert!(matches!(v2, Err(RwError::UnsupportedMediaType(ref m)) if m.contains("v2.Request")));
        assert!(check_content_type(Some("application/json")).is_err());
        assert!(check_content_type(Some("application/x-protobuf;junk")).is_err());
        assert_eq!(check_content_encoding(Some("snappy")), Ok(()));
        assert!(check_content_encoding(Some("gzip")).is_err());
    }

    #[test]
    fn decodes_valid_series_and_drops_empty_values() {
        let b = body(vec![pb(&[("__name__", "up"), ("empty", ""), ("job", "x")])]);
        let series = decode(&b, &limits()).unwrap();
        assert_eq!(series[0].labels, Labels::new([("__name__", "up"), ("job", "x")]));
        assert_eq!(series[0].samples, vec![Sample::new(5, 1.0)]);
    }

    #[test]
    fn corrupt_bodies_are_400() {
        let e = decode(b"not snappy at all", &limits()).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{e}");
        // Valid snappy around bytes that are not a WriteRequest.
        let b = snap::raw::Encoder::new()
            .compress_vec(&[0x0a, 0xff, 0xff])
            .unwrap();
        let e = decode(&b, &limits()).unwrap_err();
        assert!(
            matches!(e, RwError::Corrupt(ref m) if m.starts_with("protobuf")),
            "{e}"
        );
    }

    #[test]
    fn oversized_bodies_are_413_before_decompressing() {
        let b = body(vec![pb(&[("__name__", "up"), ("job", &"x".repeat(1000))])]);
        let small = ReceiveLimits {
            max_body_bytes: 100,
            ..Default::default()
        };
        let e = decode(&b, &small).unwrap_err();
        assert!(matches!(e, RwError::TooLarge { limit: 100, .. }), "{e}");
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn label_rules() {
        let err = |labels: &[(&str, &str)]| {
            decode(&body(vec![pb(labels)]), &limits())
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[("job", "x")]).starts_with("missing __name__ label"));
        assert!(
            err(&[("__name__", "up"), ("job", "a"), ("job", "b")])
                .starts_with("duplicate label name \"job\"")
        );
        assert!(err(&[("job", "a"), ("__name__", "up")]).starts_with("labels not sorted"));
        assert!(err(&[("__name__", "up"), ("a-b", "1")]).starts_with("invalid label name \"a-b\""));
        assert!(err(&[("__name__", "1up")]).starts_with("invalid metric name \"1up\""));
        let mut backwards = pb(&[("__name__", "up")]);
        backwards.samples.insert(
            0,
            PbSample {
                value: 0.0,
                timestamp: 9,
            },
        );
        let e = decode(&body(vec![backwards]), &limits()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "out of order sample (timestamp 5 after 9) in series {__name__=\"up\"}"
        );
    }

    #[test]
    fn requests_over_the_content_limits_are_400_naming_limit_and_series() {
        let tight = ReceiveLimits {
            write: WriteLimits {
                max_series_per_request: 2,
                label_limit: 3,
                label_name_length_limit: 10,
                label_value_length_limit: 8,
            },
            ..limits()
        };
        let series = |n: usize| {
            (0..n)
                .map(|i| pb(&[("__name__", "up"), ("i", &i.to_string())]))
                .collect()
        };
        assert_eq!(decode(&body(series(2)), &tight).unwrap().len(), 2);
        let e = decode(&body(series(3)), &tight).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(
            e.to_string()
                .starts_with("receive.max_series_per_request exceeded (number of series: 3, limit: 2)"),
            "{e}"
        );
        let err = |labels: &[(&str, &str)]| {
            let e = decode(&body(vec![pb(labels)]), &tight).unwrap_err();
            assert!(matches!(e, RwError::OverLimit(_)), "{e:?}");
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            e.to_string()
        };
        assert_eq!(
            err(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "3")]),
            "receive.label_limit exceeded (number of labels: 4, limit: 3) in series {__name__=\"up\", a=\"1\", b=\"2\", c=\"3\"}"
        );
        assert_eq!(
            err(&[("__name__", "up"), ("much_too_long", "1")]),
            "receive.label_name_length_limit exceeded (label name: \"much_too_long\", length: 13, limit: 10) \
             in series {__name__=\"up\", much_too_long=\"1\"}"
        );
        assert_eq!(
            err(&[("__name__", "up"), ("job", "0123456789")]),
            "receive.label_value_length_limit exceeded (label name: \"job\", length: 10, limit: 8) \
             in series {__name__=\"up\", job=\"0123456789\"}"
        );
        // Empty values are no labels: they do not count.
        assert!(
            decode(
                &body(vec![pb(&[("__name__", "up"), ("a", "1"), ("b", "2"), ("c", "")])]),
                &tight
            )
            .is_ok()
        );
    }
}
