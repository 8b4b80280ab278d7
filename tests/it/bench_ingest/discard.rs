//! A remote_write endpoint that takes every request and keeps nothing:
//! Prometheus in agent mode must write somewhere, and the benchmark wants
//! the agent's cost without a receiver's. It runs in the test process, so
//! its CPU is not counted as Prometheus'. It counts requests and bytes so
//! the benchmark can tell the agent really forwarded what it scraped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    bytes: AtomicU64,
}

/// The endpoint; stops when dropped.
pub(crate) struct Discard {
    pub(crate) url: String,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Discard {
    pub(crate) async fn start() -> Discard {
        let counts = Arc::new(Counts::default());
        let app = Router::new()
            .route(
                "/api/v1/write",
                post(|State(c): State<Arc<Counts>>, body: Bytes| async move {
                    c.requests.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                    StatusCode::NO_CONTENT
                }),
            )
            .with_state(counts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Discard { url, counts, task }
    }

    /// (requests, compressed bytes) received so far.
    pub(crate) fn received(&self) -> (u64, u64) {
        (
            self.counts.requests.load(Ordering::Relaxed),
            self.counts.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        self.task.abort();
    }
}
