//! `/api/v1/targets`: scrape target health, from the scrape workers running
//! in the same process (`sluice all`). A query-only process has no scrape
//! workers and reports none.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_model::Labels;

use super::AppState;
use super::metadata::parse_selector;
use super::params::Params;
use super::response::{ApiError, labels_json, success};
use crate::metric_metadata::MetadataEntry;

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

    /// Per target, its labels and the metadata of its families (of its last
    /// successful scrape), only family `metric` when given.
    fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, Vec<(String, MetadataEntry)>)>;
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

/// `GET /api/v1/targets/metadata`: the metadata of each target's families,
/// as Prometheus 2.42 answers it: `match_target` (a selector on the
/// target's labels), `metric` (one family; the entries then have no
/// `metric` key) and `limit` (no further targets once that many entries are
/// listed, so a target's entries are never cut).
pub(super) async fn targets_metadata(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let limit: i64 = match p.get("limit").filter(|s| !s.is_empty()) {
        None => -1,
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_data("limit must be a number"))?,
    };
    let selector = match p.get("match_target").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            parse_selector(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match_target\": {e}")))?,
        ),
    };
    let metric = p.get("metric").filter(|m| !m.is_empty());
    let per_target = st
        .targets
        .as_ref()
        .map(|t| t.metadata(metric))
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    for (labels, entries) in per_target {
        if limit >= 0 && out.len() as i64 >= limit {
            break;
        }
        let wanted = selector.as_ref().is_none_or(|alternatives| {
            alternatives
                .iter()
                .any(|all| all.iter().all(|m| m.matches_labels(&labels)))
        });
        if !wanted {
            continue;
        }
        for (family, e) in entries {
            let mut v = json!({
                "target": labels_json(&labels),
                "type": e.kind,
                "help": e.help,
                "unit": e.unit,
            });
            if metric.is_none() {
                v["metric"] = json!(family);
            }
            out.push(v);
        }
    }
    Ok(success(json!(out), &[], &[]))
}
