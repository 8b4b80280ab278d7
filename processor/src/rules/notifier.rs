//! Alertmanager delivery, as Prometheus' notifier does it: a bounded queue
//! (the oldest alerts are dropped when it overflows), batches of at most
//! 64 alerts POSTed as JSON to every configured Alertmanager's
//! `/api/v2/alerts`, external labels added to alerts that lack them. A
//! failed POST is counted and logged, not retried: the rule evaluator
//! resends firing alerts every `resend_delay` and resolutions stay in the
//! queue of later evaluations for 15 minutes, which is Prometheus'
//! recovery story too.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sluice_model::Labels;
use sluice_model::telemetry::{self, Counter};
use sluice_rules::Notification;
use tokio::sync::{Notify, watch};
use tracing::warn;

use super::alert_record::{label_map, rfc3339};

/// Prometheus' notifier queue capacity.
const QUEUE_CAPACITY: usize = 10_000;
/// Prometheus' `maxBatchSize`.
const MAX_BATCH: usize = 64;

/// Hands alerts to the delivery task.
#[derive(Clone)]
pub(crate) struct Notifier {
    queue: Arc<Mutex<VecDeque<Notification>>>,
    wake: Arc<Notify>,
    external_labels: Labels,
    dropped: Counter,
}

impl Notifier {
    /// Starts delivery to `endpoints` (full `/api/v2/alerts` URLs); `None`
    /// without any.
    pub(crate) fn start(
        endpoints: Vec<String>,
        timeout: Duration,
        external_labels: Labels,
        shutdown: watch::Receiver<bool>,
    ) -> Option<(Self, tokio::task::JoinHandle<()>)> {
        if endpoints.is_empty() {
            return None;
        }
        let reg = telemetry::global();
        let n = Notifier {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            wake: Arc::new(Notify::new()),
            external_labels,
            dropped: reg.counter(
                "sluice_notifications_dropped_total",
                "Alerts dropped because the notification queue was full.",
                &[],
            ),
        };
        let task = tokio::spawn(deliver(n.clone(), endpoints, timeout, shutdown));
        Some((n, task))
    }

    /// Queues alerts for delivery.
    pub(crate) fn send(&self, alerts: Vec<Notification>) {
        if alerts.is_empty() {
            return;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        for mut a in alerts {
            for l in &self.external_labels {
                if a.labels.get(&l.name).is_none() {
                    a.labels.set(&l.name, &l.value);
                }
            }
            q.push_back(a);
        }
        let over = q.len().saturating_sub(QUEUE_CAPACITY);
        if over > 0 {
            q.drain(..over);
            self.dropped.inc_by(over as u64);
        }
        drop(q);
        self.wake.notify_one();
    }

    fn next_batch(&self) -> Vec<Notification> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = q.len().min(MAX_BATCH);
        q.drain(..n).collect()
    }
}

/// The JSON Alertmanager's API v2 takes.
fn body(batch: &[Notification]) -> Vec<u8> {
    let alerts: Vec<_> = batch
        .iter()
        .map(|a| {
            json!({
                "labels": label_map(&a.labels),
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at_ms),
                "endsAt": rfc3339(a.ends_at_ms),
                "generatorURL": a.generator_url,
            })
        })
        .collect();
    serde_json::to_vec(&alerts).unwrap_or_default()
}

async fn deliver(
    n: Notifier,
    endpoints: Vec<String>,
    timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let reg = telemetry::global();
    let sent: Vec<(Counter, Counter)> = endpoints
        .iter()
        .map(|e| {
            (
                reg.counter(
                    "sluice_notifications_sent_total",
                    "Alerts sent to an Alertmanager.",
                    &[("alertmanager", e)],
                ),
                reg.counter(
                    "sluice_notifications_errors_total",
                    "Alerts whose POST to an Alertmanager failed.",
                    &[("alertmanager", e)],
                ),
            )
        })
        .collect();
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot build the Alertmanager client; alerts will not be delivered");
            return;
        }
    };
    loop {
        let stopping = *shutdown.borrow();
        loop {
            let batch = n.next_batch();
            if batch.is_empty() {
                break;
            }
            let payload = body(&batch);
            let count = batch.len() as u64;
            let posts = endpoints.iter().zip(&sent).map(|(url, (ok, failed))| {
                let req = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(payload.clone());
                async move {
                    match req.send().await.and_then(|r| r.error_for_status()) {
                        Ok(_) => ok.inc_by(count),
                        Err(e) => {
                            failed.inc_by(count);
                            warn!(alertmanager = %url, error = %e, alerts = count, "sending alerts failed");
                        }
                    }
                }
            });
            futures::future::join_all(posts).await;
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = n.wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}
