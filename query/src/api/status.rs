//! Build info, health, and Sluice's own `/metrics`.

use axum::http::{StatusCode, header::CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::response::success;

/// The Prometheus API level Sluice implements (PromQL semantics of 3.5),
/// with Sluice's own version as the pre-release tag so clients that parse
/// semver (Grafana) see a 3.x server and people see what it is.
pub const PROMETHEUS_COMPAT_VERSION: &str = concat!("3.5.0-sluice.", env!("CARGO_PKG_VERSION"));

/// `/api/v1/status/buildinfo`
pub(super) async fn buildinfo() -> Response {
    success(
        json!({
            "version": PROMETHEUS_COMPAT_VERSION,
            "revision": env!("CARGO_PKG_VERSION"),
            "branch": "sluice",
            "buildUser": "sluice",
            "buildDate": "",
            "goVersion": "rust",
        }),
        &[],
        &[],
    )
}

/// `/metrics`: Sluice's self-telemetry in the text format.
pub(super) async fn metrics() -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        sluice_model::telemetry::global().render(),
    )
        .into_response()
}

/// `/-/healthy`: the process serves HTTP.
pub(super) async fn healthy() -> &'static str {
    "Sluice is Healthy.\n"
}

/// `/-/ready`: 200 when every readiness check of the process passes
/// (`sluice_model::health`: segment store reachable, and in `sluice all`
/// the broker and the consumers), else 503 with the failing checks.
pub(super) async fn ready() -> Response {
    match sluice_model::health::global().report() {
        Ok(_) => (StatusCode::OK, "Sluice is Ready.\n").into_response(),
        Err(failing) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Sluice is not ready:\n{}\n", failing.join("\n")),
        )
            .into_response(),
    }
}
