//! HTTP on loopback: a scrape target whose exposition the test controls,
//! and a client for Sluice's Prometheus API.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use serde_json::Value;

/// An exporter serving whatever body the test sets.
pub(crate) struct Exporter {
    pub port: u16,
    body: Arc<Mutex<String>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    /// Serves `body` at `/metrics` as text format 0.0.4.
    pub(crate) async fn start(body: &str) -> Exporter {
        Self::start_as(body, "text/plain; version=0.0.4").await
    }

    /// Serves `body` at `/metrics` with this Content-Type (e.g. OpenMetrics).
    pub(crate) async fn start_as(body: &str, content_type: &'static str) -> Exporter {
        let body = Arc::new(Mutex::new(body.to_string()));
        let app = Router::new()
            .route(
                "/metrics",
                get(move |State(b): State<Arc<Mutex<String>>>| async move {
                    let text = b.lock().unwrap().clone();
                    ([(CONTENT_TYPE, content_type)], text)
                }),
            )
            .with_state(body.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Exporter {
            port,
            body,
            _task: task,
        }
    }

    /// Replaces the exposition.
    pub(crate) fn set(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_string();
    }

    pub(crate) fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// GET `url` and parse JSON; returns (status, body), or status 0 when the
/// server cannot be reached (yet).
pub(crate) async fn get_json(url: &str) -> (u16, Value) {
    sluice_ingest::http_client::install_crypto_provider();
    let r = match reqwest::get(url).await {
        Ok(r) => r,
        Err(e) => return (0, Value::String(e.to_string())),
    };
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// POST a form and parse JSON; returns (status, body).
pub(crate) async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    sluice_ingest::http_client::install_crypto_provider();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = reqwest::Client::new()
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("HTTP request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The first column of the first row of a `/api/v1/sql` answer.
pub(crate) async fn sql_scalar(api: &str, sql: &str) -> String {
    let (status, v) = post_form(&format!("{api}/api/v1/sql"), &[("query", sql)]).await;
    assert_eq!(status, 200, "{v}");
    let row = &v["data"][0];
    let val = row
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    match val {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The value of a metric in a text exposition, summed over the label sets
/// that contain every one of `labels` (`name="value"` fragments).
pub(crate) fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
