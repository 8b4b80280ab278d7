//! Builds the query role and serves it.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use sluice_promql::{Engine, EngineOptions, MaxSourceResolution};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::store::SegmentStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::api::{AppState, QueryQueue, SharedTargets, router};
use crate::metric_metadata::MetadataStore as MetricMetadataStore;
use crate::pg::PgServer;
use crate::rules_status::RulesView;
use crate::segments::index::SegmentIndex;
use crate::segments::source::SegmentSource;
use crate::sql::{SqlService, session_config};
use crate::{QueryConfig, QueryLayerError};

/// What other roles in the same process share with the API.
#[derive(Clone, Default)]
pub struct LocalViews {
    /// The scrape workers' targets.
    pub targets: Option<SharedTargets>,
    /// Rule groups and alerts: the evaluator in this process, or the
    /// rules-status topic followed ([`crate::rules_status`]).
    pub rules: Option<Arc<dyn RulesView>>,
    /// Metric metadata followed from the bus ([`crate::metric_metadata`]).
    pub metadata: Option<Arc<MetricMetadataStore>>,
    /// The process' effective config, secrets hidden (`status/config`).
    pub config_yaml: Option<Arc<String>>,
}

/// A downsampled tier's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierTable {
    /// Window size.
    pub resolution_ms: i64,
    /// Table name, e.g. `samples_5m`.
    pub table: String,
}

/// Wires the engine, the segment source and SQL over the segments in
/// `store`; PromQL (when `max_source_resolution` allows) and SQL also read
/// the downsampled `tiers`.
pub fn build_state(
    cfg: &QueryConfig,
    store: SegmentStore,
    tiers: &[TierTable],
    views: LocalViews,
) -> AppState {
    let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
    // One runtime, so PromQL reads and SQL statements share the footer
    // cache the warm-up fills.
    let runtime = Arc::new(RuntimeEnv::default());
    let ctx = SessionContext::new_with_config_rt(session_config(), Arc::clone(&runtime));
    let source = tiers
        .iter()
        .fold(SegmentSource::new(index.clone(), ctx), |s, t| {
            s.with_tier(t.resolution_ms, &t.table)
        })
        .with_max_rows(cfg.max_fetched_samples)
        .with_series_cache(cfg.series_cache_bytes());
    let engine_options = EngineOptions {
        lookback_delta_ms: cfg.lookback_delta.as_millis(),
        max_samples: cfg.max_samples,
        max_fetched_samples: cfg.max_fetched_samples,
        timeout: cfg.timeout.0,
        experimental_functions: cfg.experimental_functions,
    };
    AppState {
        engine: Arc::new(Engine::new(engine_options.clone())),
        queue: QueryQueue::new(cfg.max_concurrency, cfg.timeout.0),
        source: Arc::new(source),
        sql: tiers
            .iter()
            .fold(SqlService::new(index.clone()), |sql, t| sql.with_table(&t.table))
            .with_runtime(runtime)
            .with_engine_options(engine_options),
        tier_tables: tiers.to_vec(),
        // Validated with the config; an invalid value cannot get here.
        max_source_resolution: MaxSourceResolution::parse(&cfg.max_source_resolution).unwrap_or_default(),
        index,
        targets: views.targets,
        rules: views.rules,
        metadata: views.metadata,
        config_yaml: views.config_yaml,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// Serves the API on `cfg.listen`, and SQL on `cfg.postgres_listen` when
/// set, with `web`'s TLS and auth, until `shutdown` turns true.
pub async fn serve(
    cfg: &QueryConfig,
    store: SegmentStore,
    tiers: &[TierTable],
    views: LocalViews,
    web: &sluice_web::WebSecurity,
    shutdown: watch::Receiver<bool>,
) -> Result<(), QueryLayerError> {
    let listener = bind(&cfg.listen).await?;
    // Bound before serving anything: a taken port fails the start.
    let pg_listener = match cfg.postgres_listen.as_str() {
        "" => None,
        addr => Some(bind(addr).await?),
    };
    info!(listen = %cfg.listen, scheme = web.scheme(), "query API listening");
    let state = build_state(cfg, store, tiers, views);
    spawn_warm_up(state.source.clone());
    // The Postgres listener shares the SQL service and the query queue
    // with `/api/v1/sql`: one `query.max_concurrency` for both.
    let pg = pg_listener.map(|l| PgServer::new(l, state.sql.clone(), state.queue.clone(), web));
    let app = router(state);
    let mut http_shutdown = shutdown.clone();
    let http = sluice_web::serve(listener, app, web, async move {
        let _ = http_shutdown.wait_for(|s| *s).await;
    });
    let pg = async move {
        if let Some(pg) = pg {
            pg.serve(shutdown).await;
        }
    };
    let (http, ()) = tokio::join!(http, pg);
    http.map_err(|e| QueryLayerError::Internal(format!("HTTP server: {e}")))
}

/// The readiness check the warm-up holds until it is done.
const WARM_CHECK: &str = "segments opened";

/// Opens the segments in the background: `/-/healthy` answers at once,
/// `/-/ready` once the catalog and the newest footers are loaded. A failed
/// warm-up is logged and the role becomes ready anyway: queries then read
/// what they need themselves, as they would have without it.
fn spawn_warm_up(source: Arc<SegmentSource>) {
    sluice_model::health::global().expect(WARM_CHECK, "loading the segment catalog");
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let warm_up = crate::api::queue::on_query_runtime(async move { source.warm_up().await });
        match warm_up.await.and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(w) => info!(
                segments = w.segments,
                footers = w.footers,
                ms = started.elapsed().as_millis() as u64,
                "segments opened"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "opening the segments failed; queries will read footers themselves")
            }
        }
        sluice_model::health::global().ready(WARM_CHECK);
    });
}

async fn bind(addr: &str) -> Result<TcpListener, QueryLayerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| QueryLayerError::Storage(format!("binding {addr}: {e}")))
}
