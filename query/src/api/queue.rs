//! `query.max_concurrency`: at most that many PromQL and SQL queries run at
//! once; the others wait for a slot, in arrival order.
//!
//! As Prometheus' `--query.max-concurrency` (default 20): a query's
//! `query.timeout` starts when its request arrives, so the wait counts, and
//! a query still waiting at its deadline is answered 503 `timeout`, "query
//! timed out in query queue". Without a queue an overload slows every query
//! (they share the cores) and holds every query's fetched samples at once;
//! with it, what runs is bounded and the excess waits, then fails clearly.
//! The metadata endpoints (`series`, `labels`, `label/<name>/values`) are
//! not queued, as in Prometheus.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_model::telemetry::{self, Counter, Gauge};
use sluice_promql::QueryError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::response::ApiError;

/// The slots and the timeout they are waited for.
#[derive(Debug, Clone)]
pub struct QueryQueue {
    slots: Arc<Semaphore>,
    max: usize,
    timeout: Duration,
    queries: Gauge,
    queue_timeouts: Counter,
}

/// A query allowed to run; its slot is free again when this is dropped
/// (also when the client goes away and the handler is dropped mid-query).
#[derive(Debug)]
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
    _counted: Counted,
    /// The request's arrival plus `query.timeout`.
    pub deadline: Instant,
}

/// One query in `sluice_query_queries` until dropped.
#[derive(Debug)]
struct Counted(Gauge);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.add(-1.0);
    }
}

impl QueryQueue {
    /// `max_concurrency` slots (at least one); queries time out `timeout`
    /// after they arrive.
    pub fn new(max_concurrency: usize, timeout: Duration) -> Self {
        let max = max_concurrency.max(1);
        let reg = telemetry::global();
        reg.gauge(
            "sluice_query_queries_concurrent_max",
            "query.max_concurrency: PromQL and SQL queries evaluated at once.",
            &[],
        )
        .set(max as f64);
        QueryQueue {
            slots: Arc::new(Semaphore::new(max)),
            max,
            timeout,
            queries: reg.gauge(
                "sluice_query_queries",
                "PromQL and SQL queries running or waiting for a slot.",
                &[],
            ),
            queue_timeouts: reg.counter(
                "sluice_query_queue_timeouts_total",
                "Queries answered 503 because query.timeout passed while they waited for a slot.",
                &[],
            ),
        }
    }

    /// `query.max_concurrency`.
    pub fn max_concurrency(&self) -> usize {
        self.max
    }

    /// Waits for a slot until the query's deadline.
    pub async fn admit(&self) -> Result<Admitted, ApiError> {
        let deadline = Instant::now() + self.timeout;
        self.queries.add(1.0);
        let counted = Counted(self.queries.clone());
        let slot = tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned()).await;
        match slot {
            Ok(Ok(slot)) => Ok(Admitted {
                _slot: slot,
                _counted: counted,
                deadline,
            }),
            // The semaphore is never closed.
            Ok(Err(closed)) => Err(ApiError::internal(closed.to_string())),
            Err(_) => {
                self.queue_timeouts.inc();
                Err(QueryError::Timeout("query queue".into()).into())
            }
        }
    }
}

impl Admitted {
    /// Runs `query` until the deadline. The PromQL evaluator checks the
    /// deadline itself between steps; this also bounds what it awaits
    /// (reading segments) and SQL, neither of which checks it.
    pub async fn within<F: Future>(&self, query: F) -> Result<F::Output, ApiError> {
        tokio::time::timeout_at(self.deadline.into(), query)
            .await
            .map_err(|_| QueryError::Timeout("query execution".into()).into())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[tokio::test]
    async fn queries_past_the_slots_wait_and_time_out_as_prometheus() {
        let q = QueryQueue::new(2, Duration::from_millis(300));
        let a = q.admit().await.unwrap();
        let _b = q.admit().await.unwrap();
        let t = Instant::now();
        let e = q.admit().await.unwrap_err();
        assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.error_type, "timeout");
        assert_eq!(e.message, "query timed out in query queue");
        // A freed slot goes to the next query.
        drop(a);
        assert!(q.admit().await.is_ok());
    }

    #[tokio::test]
    async fn the_wait_counts_toward_the_timeout() {
        let timeout = Duration::from_millis(1000);
        let q = QueryQueue::new(1, timeout);
        let held = q.admit().await.unwrap();
        let arrived = Instant::now();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.admit().await.map(|a| a.deadline) }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let released = Instant::now();
        drop(held);
        let deadline = waiter.await.unwrap().unwrap();
        // From its arrival, not from its admission 200 ms later.
        assert!(deadline >= arrived + timeout);
        assert!(deadline < released + timeout);
    }

    #[tokio::test]
    async fn a_query_running_past_its_deadline_is_a_timeout() {
        let q = QueryQueue::new(1, Duration::from_millis(100));
        let a = q.admit().await.unwrap();
        let e = a
            .within(tokio::time::sleep(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.message, "query timed out in query execution");
    }
}
