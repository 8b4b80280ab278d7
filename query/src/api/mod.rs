//! The Prometheus HTTP API (`/api/v1/*`), the SQL endpoint, `/metrics` and
//! the expression browser (`/`, `/graph`, `/alerts`, `/targets`).

mod metadata;
mod misc;
pub(crate) mod params;
mod parse_query;
mod query;
pub mod queue;
pub mod response;
mod rules;
mod sql;
mod status;
mod targets;
#[cfg(test)]
mod tests;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use sluice_promql::{Engine, MaxSourceResolution};

use crate::metric_metadata::MetadataStore;
use crate::rules_status::RulesView;
use crate::segments::index::SegmentIndex;
use crate::segments::source::SegmentSource;
use crate::server::TierTable;
use crate::sql::SqlService;

pub use metadata::parse_selector;
pub use params::{parse_duration_param, parse_time};
pub use queue::QueryQueue;
pub use status::PROMETHEUS_COMPAT_VERSION;
pub use targets::{SharedTargets, TargetInfo, TargetsView};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// The PromQL engine.
    pub engine: Arc<Engine>,
    /// `query.max_concurrency`: PromQL and SQL queries wait here for a slot.
    pub queue: QueryQueue,
    /// Segment-backed series source.
    pub source: Arc<SegmentSource>,
    /// Segment catalog.
    pub index: Arc<SegmentIndex>,
    /// SQL over the segments.
    pub sql: SqlService,
    /// The downsampled tiers' tables.
    pub tier_tables: Vec<TierTable>,
    /// `max_source_resolution` when a query does not give one.
    pub max_source_resolution: MaxSourceResolution,
    /// Scrape targets of the scrape workers in this process, if any.
    pub targets: Option<SharedTargets>,
    /// Rule groups and alerts: of the evaluator in this process, or
    /// followed from the rules-status topic; `None`: none (answers empty).
    pub rules: Option<Arc<dyn RulesView>>,
    /// Metric metadata from the bus; `None`: not followed (answers empty).
    pub metadata: Option<Arc<MetadataStore>>,
    /// The effective config as YAML, secrets hidden (`status/config`).
    pub config_yaml: Option<Arc<String>>,
    /// Process start, RFC 3339 (for `status/runtimeinfo`).
    pub started_at: String,
}

/// The routes, GET and form POST alike where Prometheus accepts both.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/series", get(metadata::series).post(metadata::series))
        .route("/api/v1/labels", get(metadata::labels).post(metadata::labels))
        .route("/api/v1/label/{name}/values", get(metadata::label_values))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route(
            "/api/v1/format_query",
            get(misc::format_query).post(misc::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(parse_query::parse_query).post(parse_query::parse_query),
        )
        .route("/api/v1/metadata", get(misc::metadata))
        .route(
            "/api/v1/query_exemplars",
            get(misc::query_exemplars).post(misc::query_exemplars),
        )
        .route("/api/v1/status/runtimeinfo", get(misc::runtimeinfo))
        .route("/api/v1/status/flags", get(misc::flags))
        .route("/api/v1/status/config", get(misc::config))
        .route("/api/v1/sql", get(sql::sql).post(sql::sql))
        .route("/metrics", get(status::metrics))
        .route("/-/healthy", get(status::healthy))
        .route("/-/ready", get(status::ready))
        .merge(ui::routes())
        .with_state(state)
}
