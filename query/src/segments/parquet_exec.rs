//! Execution plans over segment files, built without the planners.
//!
//! Every segment is an immutable Parquet file whose footer the catalog has
//! already read, so the listing, object-metadata requests and statistics
//! collection that DataFusion's `ListingTable` does per query are known
//! answers here: the scan is a [`DataSourceExec`] over the catalog's files,
//! with the session's Parquet options and its footer cache.
//!
//! [`read_exec`] goes one step further for PromQL's reads, whose shape is
//! always one filter and one projection over one table: it compiles the
//! filter straight into the Parquet reader's predicate (row-group and page
//! pruning, then row filtering while decoding), skipping the logical
//! optimiser and the physical planner. On a 1 h dashboard query those
//! were about a fifth of the CPU, spent on a plan that has nothing to
//! optimise.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use chrono::{TimeZone, Utc};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter_pushdown::PushedDown;
use object_store::ObjectMeta;
use sluice_sink::segment::meta::SegmentMeta;
use sluice_sink::store::SegmentStore;

/// The Parquet source for `schema` with the session's options and its
/// footer cache.
fn parquet_source(state: &dyn Session, store: &SegmentStore, schema: SchemaRef) -> DfResult<ParquetSource> {
    let runtime = state.runtime_env();
    let object_store = runtime.object_store(object_store_url(store)?)?;
    let cache = runtime.cache_manager.get_file_metadata_cache();
    Ok(ParquetSource::new(schema)
        .with_table_parquet_options(state.table_options().parquet.clone())
        .with_parquet_file_reader_factory(Arc::new(CachedParquetFileReaderFactory::new(object_store, cache))))
}

fn object_store_url(store: &SegmentStore) -> DfResult<ObjectStoreUrl> {
    ObjectStoreUrl::parse(store.store_url().as_str())
}

/// A segment's file as the scan describes it to the Parquet reader. The
/// reader's footer cache checks its entries against this (size and
/// modification time), so the warm-up (`warm.rs`) fills the cache with the
/// same description. Segments are immutable and the catalog keeps no
/// modification time: it is fixed at the epoch, as DataFusion's
/// `PartitionedFile::new` does.
pub(super) fn object_meta(segment: &SegmentMeta) -> ObjectMeta {
    ObjectMeta {
        location: segment.location.clone(),
        last_modified: Utc.timestamp_nanos(0),
        size: segment.bytes,
        e_tag: None,
        version: None,
    }
}

/// `files` spread over at most `target_partitions` groups, largest first
/// onto the lightest group, so each partition reads a similar share.
fn file_groups(files: &[&Arc<SegmentMeta>], target_partitions: usize) -> Vec<FileGroup> {
    let n = target_partitions.clamp(1, files.len().max(1));
    let mut by_size: Vec<&&Arc<SegmentMeta>> = files.iter().collect();
    by_size.sort_by_key(|s| std::cmp::Reverse(s.bytes));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for s in by_size {
        let lightest = groups
            .iter_mut()
            .min_by_key(|(bytes, _)| *bytes)
            .expect("at least one group");
        lightest.0 += s.bytes;
        // The catalog's footer is of this exact immutable file: see
        // `object_meta`.
        lightest.1.push(PartitionedFile::new_from_meta(object_meta(s)));
    }
    groups
        .into_iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(_, f)| FileGroup::new(f))
        .collect()
}

/// A scan of `files` (of `store`, registered with the session) read as
/// `schema`, projected to `projection`. Filters are left to the caller's
/// plan: DataFusion's filter pushdown moves them into the reader.
pub(crate) fn scan_exec(
    state: &dyn Session,
    store: &SegmentStore,
    schema: SchemaRef,
    files: &[&Arc<SegmentMeta>],
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let source = parquet_source(state, store, schema)?;
    let config = FileScanConfigBuilder::new(object_store_url(store)?, Arc::new(source))
        .with_file_groups(file_groups(files, state.config().target_partitions()))
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// The rows of `files` matching `filter`, projected to `projection`, as one
/// Parquet scan with the filter as its predicate. `None` when some part of
/// the filter cannot be evaluated inside the reader (the caller then plans
/// it the general way, where a `FilterExec` takes that part).
pub(crate) fn read_exec(
    state: &dyn Session,
    store: &SegmentStore,
    schema: SchemaRef,
    files: &[&Arc<SegmentMeta>],
    filter: Expr,
    projection: Vec<usize>,
) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let df_schema = DFSchema::try_from(Arc::clone(&schema))?;
    // What the analyser and optimiser would do to the filter: coerce types
    // (dictionary columns against string literals) and simplify (unwrap
    // casts in comparisons, so statistics can prune).
    let simplify = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(Arc::new(df_schema.clone()))
            .with_config_options(Arc::new(state.config_options().clone()))
            .build(),
    );
    let filter = simplify.simplify(simplify.coerce(filter, &df_schema)?)?;
    let predicates = split_conjunction_owned(filter)
        .into_iter()
        .map(|e| {
            create_physical_expr(
                &e,
                &df_schema,
                state.execution_props(),
                &PhysicalPlanningContext::default(),
            )
        })
        .collect::<DfResult<Vec<_>>>()?;
    let source: Arc<dyn FileSource> = Arc::new(parquet_source(state, store, Arc::clone(&schema))?);
    let pushed = source.try_pushdown_filters(predicates, state.config_options())?;
    let Some(source) = pushed.updated_node else {
        return Ok(None);
    };
    if pushed.filters.iter().any(|p| matches!(p, PushedDown::No)) {
        return Ok(None);
    }
    let config = FileScanConfigBuilder::new(object_store_url(store)?, source)
        .with_file_groups(file_groups(files, state.config().target_partitions()))
        .with_projection_indices(Some(projection))?
        .build();
    Ok(Some(DataSourceExec::from_data_source(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql_plan::scan::selector_scan;
    use crate::segments::table::SegmentTable;
    use crate::sql::session_config;
    use datafusion::datasource::TableProvider;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;
    use sluice_model::{Labels, Sample, TimeSeries};
    use sluice_promql::{MatchOp, Matcher};
    use sluice_sink::segment::SAMPLES_TABLE;
    use sluice_sink::segment::catalog::Catalog;
    use sluice_sink::segment::layout::SegmentKey;
    use sluice_sink::segment::writer::{SegmentSpec, write_segment};

    /// Every matcher kind goes into the reader, and the plan keeps what
    /// prunes: the metric name and time range as a pruning predicate.
    #[tokio::test]
    async fn every_matcher_kind_is_pushed_into_the_parquet_reader() {
        let dir = tempfile::tempdir().unwrap();
        let store = SegmentStore::local(dir.path()).unwrap();
        let series = TimeSeries {
            labels: Labels::new([("__name__", "x"), ("a", "bc"), ("job", "j")]),
            samples: vec![Sample::new(1000, 1.0)],
        };
        let key = SegmentKey {
            partition: 0,
            first_offset: 0,
            last_offset: 0,
        };
        let spec = SegmentSpec {
            table: SAMPLES_TABLE,
            key,
        };
        write_segment(&store, &spec, vec![series]).await.unwrap();
        let segments = Catalog::new(store.clone(), SAMPLES_TABLE)
            .refresh()
            .await
            .unwrap()
            .visible;
        let table = Arc::new(SegmentTable::new(segments, &store));
        let ctx = SessionContext::new_with_config(session_config());
        ctx.register_object_store(store.store_url(), store.object_store());
        let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
        let matchers = [
            m("__name__", MatchOp::Equal, "x"),
            m("a", MatchOp::Regex, "b.*"),
            m("a", MatchOp::NotRegex, "z"),
            m("job", MatchOp::NotEqual, "k"),
            m("job", MatchOp::Equal, "j"),
        ];
        let scan = selector_scan(SAMPLES_TABLE, Arc::clone(&table), &matchers, 0, 5000)
            .unwrap()
            .unwrap();
        let files: Vec<&Arc<SegmentMeta>> = table.segments().iter().collect();
        let state = ctx.state();
        let exec = read_exec(
            &state,
            &store,
            table.schema(),
            &files,
            scan.filter,
            scan.projection,
        )
        .unwrap()
        .expect("all matchers pushed down");
        let shown = displayable(exec.as_ref()).indent(true).to_string();
        assert!(shown.contains("pruning_predicate="), "{shown}");
        assert!(shown.contains("required_guarantees=[__name__ in (x)"), "{shown}");
        let rows: usize = datafusion::physical_plan::collect(exec, state.task_ctx())
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 1);
    }
}
