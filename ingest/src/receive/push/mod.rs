//! The Pushgateway API: batch jobs push their metrics to Sluice, which keeps
//! them per group and re-emits them on an interval, as a Prometheus
//! scraping a Pushgateway with `honor_labels: true` would have stored them.
//!
//! - `PUT /metrics/job/<job>{/<label>/<value>}` replaces the group (an empty
//!   body empties it but keeps `push_time_seconds`),
//! - `POST` replaces only the metric families it carries,
//! - `DELETE` removes the group.
//!
//! Bodies are the text format 0.0.4 (the Pushgateway's fallback for every
//! Content-Type but its delimited protobuf, which is refused here with 415).
//! Answers are the Pushgateway's with its consistency check on: 200 for a
//! push, 202 for a delete, 400 with the reason for a bad path or body.

mod emitter;
mod grouping;
mod store;

#[cfg(test)]
mod tests;

pub use emitter::{PushEmitter, run_push_emitter};
pub use grouping::{GroupingError, parse_grouping_key};
pub use store::{PUSH_TIME_METRIC, PushError, PushMode, PushStore};

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::exposition::{self, Format};
use crate::publish::SampleWriter;

/// `PUT`, `POST`, `DELETE /metrics/{*rest}`.
pub(super) async fn handle<W: SampleWriter>(
    State(shared): State<Arc<Shared<W>>>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, message) = apply(&shared.push, &method, &rest, &headers, &body);
    shared.metrics.request("push", status);
    if status.is_client_error() {
        tracing::info!(path = %rest, status = status.as_u16(), error = %message, "push refused");
        (status, format!("{message}\n")).into_response()
    } else {
        status.into_response()
    }
}

/// The request's effect on the store and the status to answer.
fn apply(
    store: &PushStore,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, String) {
    let key = match parse_grouping_key(path) {
        Ok(k) => k,
        Err(e @ GroupingError::NotFound) => return (StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mode = match *method {
        Method::DELETE => {
            store.delete(&key);
            return (StatusCode::ACCEPTED, String::new());
        }
        Method::PUT => PushMode::Replace,
        _ => PushMode::Merge,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type
        .trim_start()
        .starts_with("application/vnd.google.protobuf")
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "protobuf pushes are not supported; push the text format 0.0.4".into(),
        );
    }
    let expo = match exposition::parse(body, Format::PrometheusText) {
        Ok(e) => e,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("text format parsing error in {e}"),
            );
        }
    };
    match store.push(&key, expo, mode) {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
    }
}
