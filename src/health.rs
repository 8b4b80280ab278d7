//! Health and readiness over HTTP for every role, and the probes behind
//! readiness.
//!
//! `/-/healthy` answers 200 while the process serves HTTP (liveness);
//! `/-/ready` answers 200 only when every check in
//! [`sluice_model::health`] passes: the broker answers a metadata request,
//! the segment store answers a listing, each consumer has its partitions
//! assigned. The query role serves them on `query.listen`, the scrape role
//! on `receive.listen`; the sink and process roles, which have no API of
//! their own, on `health.sink_listen` / `health.process_listen` (with `/metrics`).

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use object_store::ObjectStore;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};
use sluice_model::health;
use sluice_model::kafka::KafkaConfig;
use sluice_sink::store::SegmentStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The readiness check of the broker probe.
pub(crate) const KAFKA_CHECK: &str = "kafka";
/// The readiness check of the segment store probe.
pub(crate) const STORE_CHECK: &str = "segment store";
/// How often the probes run.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a probe waits for an answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `health:` — where the sink and process roles serve `/-/healthy`,
/// `/-/ready` and `/metrics` (one address each, so both roles can run on
/// one host with one config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HealthConfig {
    /// Listen address of the sink role (`host:port`).
    pub sink_listen: String,
    /// Listen address of the process role (`host:port`).
    pub process_listen: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            sink_listen: "127.0.0.1:9466".into(),
            process_listen: "127.0.0.1:9467".into(),
        }
    }
}

impl HealthConfig {
    /// Problems with the values, each with its config path.
    pub(crate) fn validate(&self, path: &str) -> Vec<String> {
        let check = |key: &str, listen: &str| {
            listen
                .parse::<std::net::SocketAddr>()
                .is_err()
                .then(|| format!("{path}.{key}: {listen:?} is not an ip:port address"))
        };
        check("sink_listen", &self.sink_listen)
            .into_iter()
            .chain(check("process_listen", &self.process_listen))
            .collect()
    }
}

/// `/-/healthy`, `/-/ready` and `/metrics`.
pub(crate) fn router() -> Router {
    Router::new()
        .route("/-/healthy", get(|| async { "Sluice is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/metrics", get(metrics))
}

async fn ready() -> Response {
    match health::global().report() {
        Ok(_) => (StatusCode::OK, "Sluice is Ready.\n").into_response(),
        Err(failing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Sluice is not ready:\n{}\n", failing.join("\n")),
        )
            .into_response(),
    }
}

async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        sluice_model::telemetry::global().render(),
    )
        .into_response()
}

/// Runs `role` with [`router`] served on `listen`; returns when the role
/// does (the listener stops with it).
pub(crate) async fn serve_with<F>(
    listen: &str,
    web: &sluice_web::WebSecurity,
    mut shutdown: watch::Receiver<bool>,
    role: F,
) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the health listener {listen}"))?;
    tracing::info!(listen, "health endpoints listening");
    let (stop, mut stopped) = watch::channel(false);
    let server = sluice_web::serve(listener, router(), web, async move {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
    });
    let role = async {
        let r = role.await;
        let _ = stop.send(true);
        r
    };
    let (r, served) = tokio::join!(role, server);
    r.and(served.context("health HTTP server"))
}

/// The probe client's context: librdkafka reports why a broker cannot be
/// used (refused connections, failed TLS handshakes, wrong SASL
/// credentials) only as error events; a metadata request just times out.
/// The probe keeps the latest so readiness and the log can say why.
#[derive(Default)]
struct ProbeContext {
    last_error: std::sync::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for ProbeContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{error}: {reason}"));
    }
}

impl rdkafka::consumer::ConsumerContext for ProbeContext {}

/// Why the broker cannot be used, from the error events since the last call.
fn take_broker_error(client: &BaseConsumer<ProbeContext>) -> Option<String> {
    // Polling dispatches queued error events to `ProbeContext::error`.
    let _ = client.poll(Duration::ZERO);
    client
        .context()
        .last_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// Keeps [`KAFKA_CHECK`] current: every 10 s, one metadata request for
/// `topic` on a long-lived client; a failure is logged with the broker's
/// reason when librdkafka gave one.
pub(crate) fn spawn_kafka_probe(kafka: &KafkaConfig, topic: String, mut shutdown: watch::Receiver<bool>) {
    health::global().expect(KAFKA_CHECK, "not probed yet");
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers);
    for (k, v) in &kafka.client {
        cfg.set(k, v);
    }
    tokio::spawn(async move {
        let client: Result<BaseConsumer<ProbeContext>, _> = cfg.create_with_context(ProbeContext::default());
        let client = match client {
            Ok(c) => std::sync::Arc::new(c),
            Err(e) => {
                health::global().set(KAFKA_CHECK, Err(format!("creating a client: {e}")));
                return;
            }
        };
        loop {
            let (c, t) = (client.clone(), topic.clone());
            let probe = tokio::task::spawn_blocking(move || {
                let r = c
                    .fetch_metadata(Some(&t), PROBE_TIMEOUT)
                    .map_err(|e| e.to_string())
                    .and_then(|md| match md.topics().iter().find(|x| x.name() == t) {
                        Some(x) if x.error().is_none() && !x.partitions().is_empty() => Ok(()),
                        _ => Err(format!("topic {t} has no partitions")),
                    });
                let reason = take_broker_error(&c);
                r.map_err(|e| match reason {
                    Some(why) => format!("{e} ({why})"),
                    None => e,
                })
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            if let Err(e) = &probe {
                tracing::warn!(error = %e, "Kafka is not usable");
            }
            health::global().set(KAFKA_CHECK, probe);
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}

/// Keeps [`STORE_CHECK`] current: every 10 s, one listing of the store's
/// top level.
pub(crate) fn spawn_store_probe(store: SegmentStore, mut shutdown: watch::Receiver<bool>) {
    health::global().expect(STORE_CHECK, "not probed yet");
    tokio::spawn(async move {
        let os = store.object_store();
        loop {
            let probe = match tokio::time::timeout(PROBE_TIMEOUT, os.list_with_delimiter(None)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("listing timed out".to_string()),
            };
            health::global().set(STORE_CHECK, probe);
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}
