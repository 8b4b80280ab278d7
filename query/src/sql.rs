//! SQL over the segments: the `samples` table, read-only.
//!
//! Each statement runs in a fresh `SessionContext` whose `samples` table is
//! a snapshot of the published segments; DDL, DML and other statements are
//! refused, so the endpoint cannot read or write anything but the segments.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use datafusion::common::ScalarValue;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{cast, lit};
use datafusion::prelude::{SessionConfig, SessionContext, col, ident};
use sluice_sink::segment::{COL_TIMESTAMP, SAMPLES_TABLE};

use sluice_promql::EngineOptions;

use crate::QueryLayerError;
use crate::promql_plan::annotations::{Annotations, PromqlAnnotations};
use crate::promql_plan::{PromqlFunction, session_state};
use crate::segments::index::SegmentIndex;
use crate::segments::table::SegmentTable;

/// Runs SQL against the segments.
#[derive(Debug, Clone)]
pub struct SqlService {
    /// The raw samples (`samples`).
    index: Arc<SegmentIndex>,
    /// Further tables of the same store (the downsampled tiers).
    others: Vec<(String, Arc<SegmentIndex>)>,
    /// Limits of the `promql()` table function's engine.
    engine: EngineOptions,
    /// Shared by every statement's session: its footer cache (Parquet
    /// metadata and page indexes) outlives one statement, as the PromQL
    /// source's does.
    runtime: Arc<RuntimeEnv>,
}

/// The DataFusion settings every Sluice session uses.
pub fn session_config() -> SessionConfig {
    let mut cfg = SessionConfig::new().with_information_schema(true);
    // Evaluate label filters while decoding Parquet pages instead of after:
    // most rows of a metric are usually filtered out by label matchers.
    let opts = cfg.options_mut();
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    cfg
}

/// The annotations the `promql()` calls of `ctx`'s statement produced
/// (none for a session without the collector).
pub fn annotations(ctx: &SessionContext) -> Annotations {
    // Read in place: `ctx.state()` would clone the whole session state.
    let collector = PromqlAnnotations::of(ctx.state_ref().read().config());
    collector.map(|a| a.take()).unwrap_or_default()
}

/// What a statement may do: read. DDL (`CREATE TABLE ... LOCATION`), DML
/// and other statements (`SET`, transactions) are refused while planning,
/// so no client can reach a file or object beyond the segments.
pub fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

impl SqlService {
    /// A service over the segments `index` catalogs.
    pub fn new(index: Arc<SegmentIndex>) -> Self {
        SqlService {
            index,
            others: Vec::new(),
            engine: EngineOptions::default(),
            runtime: Arc::new(RuntimeEnv::default()),
        }
    }

    /// Runs statements in `runtime` (the server shares the PromQL
    /// source's, so both use one footer cache).
    pub fn with_runtime(mut self, runtime: Arc<RuntimeEnv>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Evaluates `promql()` with these limits (the server's PromQL ones).
    pub fn with_engine_options(mut self, options: EngineOptions) -> Self {
        self.engine = options;
        self
    }

    /// Also serves `table` (e.g. `samples_5m`) from the same store.
    pub fn with_table(mut self, table: &str) -> Self {
        let index = Arc::new(SegmentIndex::new(self.index.store().clone(), table));
        self.others.push((table.to_string(), index));
        self
    }

    /// A session with `samples` (and any further tables) registered, each a
    /// snapshot of its published segments, and the `promql()` table
    /// function over the same `samples` snapshot.
    pub async fn session(&self) -> Result<SessionContext, QueryLayerError> {
        let config = PromqlAnnotations::attach(session_config());
        let ctx = SessionContext::new_with_state(session_state(config, Arc::clone(&self.runtime)));
        self.index.register_store(&ctx);
        let internal = |e: datafusion::error::DataFusionError| QueryLayerError::Internal(e.to_string());
        let samples = Arc::new(SegmentTable::new(self.index.refresh().await?, self.index.store()));
        ctx.register_table(SAMPLES_TABLE, samples.clone())
            .map_err(internal)?;
        ctx.register_udtf(
            PromqlFunction::NAME,
            Arc::new(PromqlFunction::new(samples, self.engine.clone())),
        );
        for (name, index) in &self.others {
            let table = SegmentTable::new(index.refresh().await?, index.store());
            ctx.register_table(name.as_str(), Arc::new(table))
                .map_err(internal)?;
        }
        Ok(ctx)
    }

    /// Runs one read-only statement.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryLayerError> {
        Ok(self.query_annotated(sql).await?.0)
    }

    /// Runs one read-only statement; also returns the annotations of its
    /// `promql()` calls.
    pub async fn query_annotated(
        &self,
        sql: &str,
    ) -> Result<(Vec<RecordBatch>, Annotations), QueryLayerError> {
        let ctx = self.session().await?;
        let df = ctx
            .sql_with_options(sql, read_only())
            .await
            .map_err(|e| QueryLayerError::BadQuery(e.to_string()))?;
        let batches = df
            .collect()
            .await
            .map_err(|e| QueryLayerError::Execution(e.to_string()))?;
        Ok((batches, annotations(&ctx)))
    }

    /// Distinct values of one label column within a time window.
    pub async fn distinct_label_values(
        &self,
        label: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<BTreeSet<String>, QueryLayerError> {
        let ctx = self.session().await?;
        let df = ctx
            .table(SAMPLES_TABLE)
            .await
            .map_err(|e| QueryLayerError::Internal(e.to_string()))?;
        if df.schema().field_with_unqualified_name(label).is_err() {
            return Ok(BTreeSet::new());
        }
        let ts = |ms| lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())));
        let batches = df
            .filter(
                col(COL_TIMESTAMP)
                    .gt_eq(ts(start_ms))
                    .and(col(COL_TIMESTAMP).lt_eq(ts(end_ms)))
                    .and(ident(label).is_not_null()),
            )
            .and_then(|df| {
                df.select(vec![
                    cast(ident(label), arrow::datatypes::DataType::Utf8).alias("v"),
                ])
            })
            .and_then(|df| df.distinct())
            .map_err(|e| QueryLayerError::Internal(e.to_string()))?
            .collect()
            .await
            .map_err(|e| QueryLayerError::Execution(e.to_string()))?;
        let mut out = BTreeSet::new();
        for b in &batches {
            let a = b.column(0);
            let s = a.as_any().downcast_ref::<arrow::array::StringArray>();
            if let Some(s) = s {
                out.extend(s.iter().flatten().map(str::to_string));
            }
        }
        Ok(out)
    }
}
