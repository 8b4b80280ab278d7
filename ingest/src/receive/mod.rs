//! HTTP receivers: samples pushed *to* Sluice instead of scraped by it.
//!
//! - `POST /api/v1/write` — Prometheus remote_write 1.0 ([`remote_write`]).
//! - `PUT|POST|DELETE /metrics/job/<job>{/<label>/<value>}` — the
//!   Pushgateway API ([`push`]); pushed groups are re-emitted on an
//!   interval by [`push::run_push_emitter`].
//!
//! Every receiver hands its series to the same [`SampleWriter`] as the
//! scrape loops (in production the Kafka publisher), so received samples
//! travel the bus exactly like scraped ones.

mod config;
pub mod fuzz_check;
pub mod limits;
pub mod push;
pub mod remote_write;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use config::ReceiveConfig;
pub use limits::WriteLimits;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{MethodFilter, on, post};
use sluice_model::telemetry::{self, Counter};
use tokio::sync::Semaphore;

use crate::publish::SampleWriter;
use push::PushStore;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveLimits {
    /// Largest accepted body, compressed as sent and (remote_write)
    /// decompressed; larger requests get 413.
    pub max_body_bytes: usize,
    /// How long a remote_write request waits for Kafka's acknowledgement
    /// before it is answered with its samples held in the producer buffer.
    pub ack_wait: Duration,
    /// What one remote_write request may contain.
    pub write: WriteLimits,
    /// remote_write requests read, decoded and handed to the writer at
    /// once (0: no limit); more wait for a slot up to `ack_wait`, then get
    /// 503. What bounds the memory of request bodies.
    pub max_concurrent_requests: usize,
}

/// 8: decoding is CPU work (more at once than cores gains nothing), and a
/// request holds its slot for milliseconds (not while it waits for Kafka).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 8;

/// 32 MiB: Prometheus' sender caps a batch at `max_samples_per_send` (2000
/// by default), far below this even with long label sets.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// 5 s: far above a healthy broker's acknowledgement (milliseconds), far
/// below Prometheus' default `remote_timeout` (30 s), so the sender never
/// times out on a request that was in fact queued.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(5);

impl Default for ReceiveLimits {
    fn default() -> Self {
        ReceiveLimits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ack_wait: DEFAULT_ACK_WAIT,
            write: WriteLimits::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }
}

/// What every handler needs, behind one `Arc`.
struct Shared<W> {
    writer: Arc<W>,
    push: Arc<PushStore>,
    limits: ReceiveLimits,
    /// `max_concurrent_requests` slots of remote_write; `None`: no limit.
    rw_slots: Option<Arc<Semaphore>>,
    metrics: Metrics,
}

/// Self-metrics of the receivers (bounded labels: handler and status code).
struct Metrics {
    rw_samples: Counter,
    rw_unacked: Counter,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            rw_samples: telemetry::global().counter(
                "sluice_receive_remote_write_samples_total",
                "Samples accepted through remote_write.",
                &[],
            ),
            rw_unacked: telemetry::global().counter(
                "sluice_receive_remote_write_unacked_samples_total",
                "Samples answered 204 while still waiting in the producer buffer for Kafka (after receive.ack_wait).",
                &[],
            ),
        }
    }

    /// Counts one answered request.
    fn request(&self, handler: &str, status: StatusCode) {
        telemetry::global()
            .counter(
                "sluice_receive_requests_total",
                "Requests answered by the receivers, by handler and HTTP status.",
                &[("handler", handler), ("code", status.as_str())],
            )
            .inc();
    }
}

/// The receivers' routes, ready to be served (or merged into a larger router).
/// Remote-write series go to `writer` at once; pushed groups go to `push`,
/// whose emitter writes them on its own interval.
pub fn router<W: SampleWriter>(writer: Arc<W>, push: Arc<PushStore>, limits: ReceiveLimits) -> Router {
    let shared = Arc::new(Shared {
        writer,
        push,
        limits,
        rw_slots: (limits.max_concurrent_requests > 0)
            .then(|| Arc::new(Semaphore::new(limits.max_concurrent_requests))),
        metrics: Metrics::new(),
    });
    Router::new()
        .route("/api/v1/write", post(remote_write::handle::<W>))
        // One wildcard route: the grouping key is parsed by hand because
        // `job@base64`, label pairs and a trailing slash do not fit a pattern.
        .route(
            "/metrics/{*rest}",
            on(
                MethodFilter::PUT.or(MethodFilter::POST).or(MethodFilter::DELETE),
                push::handle::<W>,
            ),
        )
        // axum's default limit is 2 MB; ours is the configured one.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(shared)
}
