//! Runs Prometheus' promqltest scripts through the real storage path: every
//! loaded data set is written by the sink's segment writer and read back
//! through the catalog and `SegmentTable`, so the conformance figures are
//! those of the server, not of an in-memory shortcut. Two ways to evaluate
//! ([`EvalPath`]): the engine reading through [`SegmentSource`] (the HTTP
//! API's path), or each query run as the DataFusion plan of the SQL
//! `promql()` function (leaf nodes, `PromEval`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use promql_parser::parser::Expr;
use sluice_model::TimeSeries;
use sluice_promql::promqltest::{SourceFuture, SourceTarget, Target};
use sluice_promql::{Engine, QueryError, QueryResult, SeriesSource};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::SegmentKey;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

use crate::promql_plan::nodes::EvalSpec;
use crate::promql_plan::run::run_plan;
use crate::promql_plan::session_state;
use crate::segments::index::SegmentIndex;
use crate::segments::source::SegmentSource;
use crate::segments::table::SegmentTable;
use crate::sql::session_config;

/// How the harness evaluates queries over the written segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalPath {
    /// The engine reading through [`SegmentSource`] (the HTTP API's path).
    Source,
    /// The DataFusion plan the SQL `promql()` function builds.
    Plan,
}

/// Builds targets by writing segments under `base/load-<n>`.
#[derive(Debug)]
pub struct SegmentFactory {
    base: PathBuf,
    path: EvalPath,
    loads: AtomicUsize,
}

impl SegmentFactory {
    /// A factory writing below `base` (which the caller cleans up),
    /// evaluating through `path`.
    pub fn new(base: PathBuf, path: EvalPath) -> Self {
        SegmentFactory {
            base,
            path,
            loads: AtomicUsize::new(0),
        }
    }

    /// Writes `series` as one segment and returns a target over it.
    pub fn source(&self, series: Vec<TimeSeries>) -> SourceFuture<'static> {
        let root = self
            .base
            .join(format!("load-{}", self.loads.fetch_add(1, Ordering::Relaxed)));
        let path = self.path;
        Box::pin(async move {
            let store = SegmentStore::local(&root).map_err(|e| e.to_string())?;
            let spec = SegmentSpec {
                table: SAMPLES_TABLE,
                key: SegmentKey::single(0, 0),
            };
            write_segment(&store, &spec, series)
                .await
                .map_err(|e| e.to_string())?;
            let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
            let target: Arc<dyn Target> = match path {
                EvalPath::Source => {
                    // With the series cache as the server has it: a load's
                    // evals read its segments over and over, so most of
                    // them are answered from decoded series.
                    let cache_bytes = crate::config::QueryConfig::default().series_cache_bytes();
                    let src: Arc<dyn SeriesSource> = Arc::new(
                        SegmentSource::new(index, SessionContext::new_with_config(session_config()))
                            .with_series_cache(cache_bytes),
                    );
                    Arc::new(SourceTarget(src))
                }
                EvalPath::Plan => {
                    let ctx =
                        SessionContext::new_with_state(session_state(session_config(), Default::default()));
                    index.register_store(&ctx);
                    let segments = index.refresh().await.map_err(|e| e.to_string())?;
                    let table = Arc::new(SegmentTable::new(segments, index.store()));
                    Arc::new(PlanTarget { ctx, table })
                }
            };
            Ok(target)
        })
    }
}

/// Each query planned and executed as the `promql()` plan.
struct PlanTarget {
    ctx: SessionContext,
    table: Arc<SegmentTable>,
}

#[async_trait]
impl Target for PlanTarget {
    async fn instant(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        t_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let spec = EvalSpec::new(text, expr.clone(), (t_ms, t_ms, 0), &engine.options);
        run_plan(&self.ctx, SAMPLES_TABLE, &self.table, engine, spec).await
    }

    async fn range(
        &self,
        engine: &Engine,
        expr: &Expr,
        text: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        let spec = EvalSpec::new(text, expr.clone(), (start_ms, end_ms, step_ms), &engine.options);
        run_plan(&self.ctx, SAMPLES_TABLE, &self.table, engine, spec).await
    }
}
