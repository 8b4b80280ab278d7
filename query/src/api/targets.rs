//! `/api/v1/targets`: scrape target health, from the scrape workers running
//! in the same process (`sluice all`). A query-only process has no scrape
//! workers and reports none.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_model::Labels;

use super::AppState;
use super::response::{labels_json, success};

/// One target as the targets page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetInfo {
    /// Labels before relabeling.
    pub discovered_labels: Labels,
    /// Labels its series get.
    pub labels: Labels,
    /// `job_name`.
    pub scrape_pool: String,
    /// URL scraped.
    pub scrape_url: String,
    /// Error of the last scrape, empty if it succeeded.
    pub last_error: String,
    /// Start of the last scrape, ms since the epoch (0 = never).
    pub last_scrape_ms: i64,
    /// Duration of the last scrape, seconds.
    pub last_scrape_duration_s: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    /// Scrape interval, Prometheus notation.
    pub scrape_interval: String,
    /// Scrape timeout, Prometheus notation.
    pub scrape_timeout: String,
}

/// Something that knows the scrape targets (the scrape manager).
pub trait TargetsView: Send + Sync {
    /// Current targets and their health.
    fn targets(&self) -> Vec<TargetInfo>;
}

/// Shared handle to a [`TargetsView`].
pub type SharedTargets = Arc<dyn TargetsView>;

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// `GET /api/v1/targets`
pub(super) async fn targets(State(st): State<AppState>) -> Response {
    let active: Vec<Value> = st
        .targets
        .as_ref()
        .map(|t| t.targets())
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            json!({
                "discoveredLabels": labels_json(&t.discovered_labels),
                "labels": labels_json(&t.labels),
                "scrapePool": t.scrape_pool,
                "scrapeUrl": t.scrape_url,
                "globalUrl": t.scrape_url,
                "lastError": t.last_error,
                "lastScrape": if t.last_scrape_ms > 0 { rfc3339(t.last_scrape_ms) } else { "0001-01-01T00:00:00Z".into() },
                "lastScrapeDuration": t.last_scrape_duration_s,
                "health": t.health,
                "scrapeInterval": t.scrape_interval,
                "scrapeTimeout": t.scrape_timeout,
            })
        })
        .collect();
    success(json!({"activeTargets": active, "droppedTargets": []}), &[], &[])
}
