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
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sluice_model::telemetry::{self, Counter, Gauge};
use sluice_promql::QueryError;
use tokio::runtime::Runtime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

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

/// The runtime queries run on, apart from the process' runtime that
/// serves HTTP (DataFusion's advice for CPU-bound work): the PromQL
/// evaluator runs a query's steps without yielding, which on the HTTP
/// workers would stall every other request of the process (`/-/healthy`,
/// and in `sluice all` remote_write and scrapes) for as long. As many
/// workers as cores, so that few threads allocate (each thread that
/// allocates under contention can get a glibc malloc arena of its own, and
/// arenas keep freed memory). Never dropped: a runtime cannot be dropped
/// from async code, and it is needed until the process exits.
fn query_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("sluice-query")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the query runtime: {e}"))
    })
}

/// Runs `task` on the query runtime, to its end. For the warm-up: what
/// warms the read path before the first query (the runtime's threads
/// themselves, their heaps, their thread-local state) has to be done where
/// queries run. Without it the first query also started the runtime: a
/// cold 1 h query paid about 1 ms more (thread starts, a third of its
/// ~740 page faults) on top of its reads.
pub async fn on_query_runtime<F>(task: F) -> Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    query_runtime()
        .spawn(task)
        .await
        .map_err(|e| format!("task on the query runtime: {e}"))
}

/// Aborts the task when dropped: when the client goes away, its query
/// stops at its next await instead of running to the deadline.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Admitted {
    /// Runs `query` on the query runtime until the deadline. The slot stays
    /// taken until the query has stopped. The evaluator checks the deadline
    /// itself between steps; the timeout here also ends what it awaits
    /// (segment reads) and SQL, neither of which checks it.
    pub async fn run<F>(self, query: F) -> Result<F::Output, ApiError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let deadline = self.deadline;
        let mut task = AbortOnDrop(query_runtime().spawn(async move {
            let _slot = self;
            tokio::time::timeout_at(deadline.into(), query).await
        }));
        (&mut task.0)
            .await
            .map_err(|e| ApiError::internal(format!("query task: {e}")))?
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_running_past_its_deadline_is_a_timeout() {
        let q = QueryQueue::new(1, Duration::from_millis(100));
        let a = q.admit().await.unwrap();
        let e = a
            .run(tokio::time::sleep(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.message, "query timed out in query execution");
        let a = q.admit().await.unwrap();
        assert_eq!(a.run(async { 7 }).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_whose_client_left_stops_at_its_next_await() {
        let q = QueryQueue::new(1, Duration::from_secs(10));
        let started = Instant::now();
        let client = tokio::spawn({
            let q = q.clone();
            async move {
                let a = q.admit().await.unwrap();
                a.run(tokio::time::sleep(Duration::from_secs(5))).await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.abort();
        let _next = q.admit().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_slot_is_held_until_the_query_stops_not_the_client() {
        let q = QueryQueue::new(1, Duration::from_secs(10));
        let client = tokio::spawn({
            let q = q.clone();
            async move {
                let a = q.admit().await.unwrap();
                // Evaluation: no await to stop at.
                a.run(async { std::thread::sleep(Duration::from_millis(500)) })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.abort();
        let t = Instant::now();
        let _next = q.admit().await.unwrap();
        assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_query_that_never_yields_leaves_the_async_workers_free() {
        let q = QueryQueue::new(1, Duration::from_secs(10));
        let a = q.admit().await.unwrap();
        let busy = tokio::spawn(a.run(async { std::thread::sleep(Duration::from_millis(500)) }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The one worker thread still runs other tasks meanwhile.
        let t = Instant::now();
        tokio::spawn(async {}).await.unwrap();
        assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
        busy.await.unwrap().unwrap();
    }
}
