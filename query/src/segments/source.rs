//! PromQL's view of the segments: a selector becomes one DataFusion scan.
//!
//! Metric-name matchers are resolved against the segment catalog first
//! (which metric names exist), so the scan filters on an exact name list
//! that prunes files and row groups; the other matchers become filter
//! expressions pushed into the Parquet reader; rows come back grouped into
//! series by their `__series_id__`.
//!
//! The downsampled tiers (`samples_5m`, `samples_1h`, ...) are further
//! tables of the same store, read the same way with an `__aggr__` matcher
//! added; the engine decides when to read them (`sluice_promql::resolution`).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::datasource::TableProvider;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use sluice_model::{AGGR_LABEL, METRIC_NAME, TimeSeries};
use sluice_promql::{Aggregate, MatchOp, Matcher, SeriesSource, SourceError, Tier};
use sluice_sink::segment::meta::SegmentMeta;

use super::index::SegmentIndex;
use super::parquet_exec::read_exec;
use super::rows::{join_parts, rows_to_identified_series};
use super::series_cache::{DecodedPair, Lookup, PairKey, SeriesCache};
use super::table::SegmentTable;
use crate::promql_plan::scan::selector_scan;

/// Series from the Parquet segments.
#[derive(Clone)]
pub struct SegmentSource {
    index: Arc<SegmentIndex>,
    /// Downsampled tiers: resolution (ms) and the catalog of its table.
    tiers: Vec<(i64, Arc<SegmentIndex>)>,
    ctx: SessionContext,
    /// Rows one read may return; more stops the scan with
    /// [`SourceError::sample_limit`] before it is all in memory.
    max_rows: usize,
    /// Decoded series of segments read repeatedly; `None` when off.
    cache: Option<Arc<SeriesCache>>,
}

impl std::fmt::Debug for SegmentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentSource")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl SegmentSource {
    /// A source over the segments `index` catalogs, planned in `ctx`.
    pub fn new(index: Arc<SegmentIndex>, ctx: SessionContext) -> Self {
        index.register_store(&ctx);
        SegmentSource {
            index,
            tiers: Vec::new(),
            ctx,
            max_rows: usize::MAX,
            cache: None,
        }
    }

    /// Keeps up to `budget_bytes` of decoded series of segments read more
    /// than once (`query.series_cache_mib`; [`super::series_cache`]).
    pub fn with_series_cache(mut self, budget_bytes: usize) -> Self {
        self.cache = (budget_bytes > 0).then(|| Arc::new(SeriesCache::new(budget_bytes)));
        self
    }

    /// Stops any read past `max_rows` rows (`query.max_fetched_samples`).
    pub fn with_max_rows(mut self, max_rows: usize) -> Self {
        self.max_rows = max_rows;
        self
    }

    /// Also reads the tier with this resolution from `table` of the same
    /// store.
    pub fn with_tier(mut self, resolution_ms: i64, table: &str) -> Self {
        let index = Arc::new(SegmentIndex::new(self.index.store().clone(), table));
        self.tiers.push((resolution_ms, index));
        self
    }

    /// Loads the catalogs and the newest footers before the first query
    /// ([`super::warm`]), then rehearses a read ([`super::rehearsal`]) in
    /// as many tasks at once as there are cores, so that each worker of
    /// the runtime it is called on is likely to have run one.
    pub async fn warm_up(&self) -> Result<super::warm::Warmed, crate::QueryLayerError> {
        let mut indexes: Vec<&SegmentIndex> = vec![&self.index];
        indexes.extend(self.tiers.iter().map(|(_, i)| i.as_ref()));
        let warmed = super::warm::warm_up(&self.ctx, &indexes).await?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A failed rehearsal costs only the first query's warmth.
        match super::rehearsal::rehearse(&self.ctx, workers).await {
            Ok(samples) => tracing::debug!(samples, "read path rehearsed"),
            Err(e) => tracing::warn!(error = %e, "warm-up: the read path's rehearsal failed"),
        }
        Ok(warmed)
    }

    /// Every series of `index` matching `matchers` in `[start_ms, end_ms]`.
    async fn select_in(
        &self,
        index: &SegmentIndex,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let name_matchers: Vec<&Matcher> = matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
        let want = |metric: &str| name_matchers.iter().all(|m| m.matches(metric));
        let segments = index
            .candidates(start_ms, end_ms, &want)
            .await
            .map_err(|e| SourceError(e.to_string()))?;
        let mut parts = Vec::new();
        let to_scan = match &self.cache {
            Some(cache) => {
                let read = CachedRead {
                    matchers,
                    start_ms,
                    end_ms,
                };
                self.read_cached(cache, index, segments, &want, &read, &mut parts)
                    .await?
            }
            None => segments,
        };
        let cached_rows: usize = parts.iter().map(|(_, s)| s.samples.len()).sum();
        if cached_rows > self.max_rows {
            return Err(SourceError::sample_limit(self.max_rows));
        }
        if !to_scan.is_empty() {
            let budget = RowBudget {
                used: cached_rows,
                max: self.max_rows,
            };
            let scanned = self
                .scan(index, to_scan, matchers, start_ms, end_ms, budget)
                .await?;
            if parts.is_empty() {
                // One scan's series are whole already: nothing to join.
                return Ok(scanned.into_iter().map(|(_, s)| s).collect());
            }
            parts.extend(scanned);
        }
        Ok(join_parts(parts))
    }

    /// Reads from the series cache what it holds of `segments`, decoding
    /// the pairs it admits, into `out`; returns the segments left for a
    /// scan (those with a pair the cache passes on: read for the first
    /// time, refused, or in a segment too large to keep).
    async fn read_cached(
        &self,
        cache: &SeriesCache,
        index: &SegmentIndex,
        segments: Vec<Arc<SegmentMeta>>,
        want: &(dyn Fn(&str) -> bool + Sync),
        read: &CachedRead<'_>,
        out: &mut Vec<(u64, TimeSeries)>,
    ) -> Result<Vec<Arc<SegmentMeta>>, SourceError> {
        let mut rest = Vec::new();
        for segment in segments {
            if !cache.could_hold(segment.rows) {
                rest.push(segment);
                continue;
            }
            let keys: Vec<PairKey> = segment
                .metrics
                .keys()
                .filter(|m| want(m))
                .map(|m| PairKey {
                    location: segment.location.to_string(),
                    metric: m.clone(),
                })
                .collect();
            let lookups: Vec<Lookup> = keys.iter().map(|k| cache.lookup(k)).collect();
            // Any pair passed on: the segment is scanned as without the
            // cache (admitted pairs beside it are still
            // decoded, for the next read).
            let scanned = lookups.iter().any(|l| matches!(l, Lookup::Pass));
            for (key, lookup) in keys.into_iter().zip(lookups) {
                let pair = match lookup {
                    Lookup::Hit(pair) => pair,
                    Lookup::Admit => {
                        let pair = Arc::new(self.decode_pair(index, &segment, &key.metric).await?);
                        cache.insert(key, Arc::clone(&pair));
                        pair
                    }
                    Lookup::Pass => continue,
                };
                if !scanned {
                    pair.select(read.matchers, read.start_ms, read.end_ms, out);
                }
            }
            if scanned {
                rest.push(segment);
            }
        }
        Ok(rest)
    }

    /// Every series of `metric` in `segment`, whole.
    async fn decode_pair(
        &self,
        index: &SegmentIndex,
        segment: &Arc<SegmentMeta>,
        metric: &str,
    ) -> Result<DecodedPair, SourceError> {
        let name =
            Matcher::new(METRIC_NAME, MatchOp::Equal, metric).map_err(|e| SourceError(e.to_string()))?;
        let budget = RowBudget {
            used: 0,
            max: usize::MAX,
        };
        let series = self
            .scan(
                index,
                vec![Arc::clone(segment)],
                &[name],
                segment.min_time_ms,
                segment.max_time_ms,
                budget,
            )
            .await?;
        Ok(DecodedPair::new(series))
    }

    /// The series of `segments` matching `matchers` in `[start_ms,
    /// end_ms]`, by one DataFusion scan.
    async fn scan(
        &self,
        index: &SegmentIndex,
        segments: Vec<Arc<SegmentMeta>>,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
        budget: RowBudget,
    ) -> Result<Vec<(u64, TimeSeries)>, SourceError> {
        let table = Arc::new(SegmentTable::new(segments, index.store()));
        let scan = selector_scan(index.table(), Arc::clone(&table), matchers, start_ms, end_ms)
            .map_err(|e| SourceError(format!("planning scan: {e}")))?;
        let Some(scan) = scan else {
            return Ok(Vec::new());
        };
        let scanning = |e: datafusion::error::DataFusionError| SourceError(format!("scanning segments: {e}"));
        let state = self.ctx.state();
        let files: Vec<&Arc<SegmentMeta>> = table.segments().iter().collect();
        let direct = read_exec(
            &state,
            index.store(),
            table.schema(),
            &files,
            scan.filter,
            scan.projection,
        )
        .map_err(scanning)?;
        let exec = match direct {
            Some(exec) => exec,
            None => state.create_physical_plan(&scan.plan).await.map_err(scanning)?,
        };
        let mut stream = execute_stream(exec, state.task_ctx()).map_err(scanning)?;
        let mut batches = Vec::new();
        let mut rows = budget.used;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(scanning)?;
            rows += batch.num_rows();
            if rows > budget.max {
                return Err(SourceError::sample_limit(budget.max));
            }
            batches.push(batch);
        }
        rows_to_identified_series(&batches, &scan.label_cols).map_err(SourceError)
    }
}

/// What one selector reads.
struct CachedRead<'a> {
    matchers: &'a [Matcher],
    start_ms: i64,
    end_ms: i64,
}

/// Rows a read may still return: `max` less what earlier parts of the same
/// selector returned.
#[derive(Clone, Copy)]
struct RowBudget {
    used: usize,
    max: usize,
}

/// How far a tier table is complete, from its catalog alone: the
/// downsampler publishes a partition's windows in window order and the sink
/// writes a partition's records in order, so once a sample of window
/// `(s, s + res]` is in a segment, every window of that partition ending at
/// or before `s` is too (the window itself may be split across two
/// flushes). The tier is complete up to the least such `s` over its
/// partitions; `None` while it is empty.
pub(crate) fn tier_complete_until(
    resolution_ms: i64,
    segments: &[Arc<sluice_sink::segment::meta::SegmentMeta>],
) -> Option<i64> {
    let mut newest: HashMap<i32, i64> = HashMap::new();
    for s in segments {
        let e = newest.entry(s.partition).or_insert(i64::MIN);
        *e = (*e).max(s.max_time_ms);
    }
    newest
        .values()
        .map(|&t| (t - 1).div_euclid(resolution_ms) * resolution_ms)
        .min()
}

#[async_trait]
impl SeriesSource for SegmentSource {
    async fn select(
        &self,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        self.select_in(&self.index, matchers, start_ms, end_ms).await
    }

    async fn tiers(&self) -> Result<Vec<Tier>, SourceError> {
        let mut out = Vec::new();
        for (res, index) in &self.tiers {
            let segments = index.refresh().await.map_err(|e| SourceError(e.to_string()))?;
            if let Some(until) = tier_complete_until(*res, &segments) {
                out.push(Tier {
                    resolution_ms: *res,
                    complete_until_ms: until,
                });
            }
        }
        Ok(out)
    }

    async fn select_aggregate(
        &self,
        resolution_ms: i64,
        aggregate: Aggregate,
        matchers: &[Matcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<TimeSeries>, SourceError> {
        let Some((_, index)) = self.tiers.iter().find(|(r, _)| *r == resolution_ms) else {
            return Ok(Vec::new());
        };
        let mut ms = matchers.to_vec();
        ms.push(
            Matcher::new(AGGR_LABEL, MatchOp::Equal, aggregate.label_value())
                .map_err(|e| SourceError(e.to_string()))?,
        );
        let mut out = self.select_in(index, &ms, start_ms, end_ms).await?;
        for s in &mut out {
            s.labels.remove(AGGR_LABEL);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::session_config;
    use sluice_model::{Labels, Sample};
    use sluice_sink::segment::SAMPLES_TABLE;
    use sluice_sink::segment::layout::SegmentKey;
    use sluice_sink::segment::writer::{SegmentSpec, write_segment};
    use sluice_sink::store::SegmentStore;
    use std::collections::BTreeSet;

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: Labels::new(pairs.iter().copied()),
            samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
        }
    }

    async fn write(root: &std::path::Path, partition: i32, first: i64, s: Vec<TimeSeries>) {
        let spec = SegmentSpec {
            table: SAMPLES_TABLE,
            key: SegmentKey {
                partition,
                first_offset: first,
                last_offset: first,
            },
        };
        write_segment(&store(root), &spec, s).await.unwrap();
    }

    fn store(root: &std::path::Path) -> SegmentStore {
        SegmentStore::local(root).unwrap()
    }

    #[tokio::test]
    async fn selects_by_all_matcher_kinds_across_segments_with_different_labels() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            0,
            0,
            vec![
                series(
                    &[("__name__", "up"), ("job", "node"), ("instance", "a")],
                    &[(1000, 1.0), (2000, 1.0)],
                ),
                series(&[("__name__", "up"), ("job", "api")], &[(1000, 0.0)]),
            ],
        )
        .await;
        write(
            root,
            1,
            5,
            vec![
                series(
                    &[("__name__", "up"), ("job", "node"), ("instance", "a")],
                    &[(3000, 1.0)],
                ),
                series(&[("__name__", "cpu"), ("mode", "idle")], &[(3000, 7.0)]),
            ],
        )
        .await;
        let index = Arc::new(SegmentIndex::new(store(root), SAMPLES_TABLE));
        let src = SegmentSource::new(index, SessionContext::new_with_config(session_config()));
        let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();

        let got = src
            .select(
                &[
                    m("__name__", MatchOp::Equal, "up"),
                    m("job", MatchOp::Equal, "node"),
                ],
                0,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].samples.len(),
            3,
            "samples from both segments merge into one series"
        );

        // Absent label = "": {instance=""} selects the series without it.
        let got = src
            .select(
                &[
                    m("__name__", MatchOp::Equal, "up"),
                    m("instance", MatchOp::Equal, ""),
                ],
                0,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.get("job"), Some("api"));

        let got = src
            .select(
                &[
                    m("__name__", MatchOp::Regex, "up|cpu"),
                    m("job", MatchOp::NotRegex, "no.*"),
                ],
                0,
                10_000,
            )
            .await
            .unwrap();
        let names: BTreeSet<String> = got.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(
            names,
            BTreeSet::from([r#"cpu{mode="idle"}"#.to_string(), r#"up{job="api"}"#.to_string()])
        );

        let got = src
            .select(
                &[
                    m("__name__", MatchOp::Equal, "up"),
                    m("job", MatchOp::NotEqual, "api"),
                ],
                2500,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].samples,
            vec![Sample::new(3000, 1.0)],
            "time bounds applied"
        );

        let none = src
            .select(
                &[
                    m("__name__", MatchOp::Equal, "up"),
                    m("nolabel", MatchOp::Equal, "x"),
                ],
                0,
                10_000,
            )
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    /// The answers of a source with the series cache, on the first read
    /// (a scan), the second (decoding the pairs) and the third (from
    /// memory), are the answers without it, also where segments overlap
    /// with the same sample (a redelivered Kafka record): it is returned
    /// once. (Which of two different values for one timestamp wins is not
    /// specified: a scan takes the batch that arrives first.)
    #[tokio::test]
    async fn reads_from_the_series_cache_answer_as_scans_do() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let a = [("__name__", "up"), ("job", "node"), ("instance", "a")];
        write(
            root,
            0,
            0,
            vec![
                series(&a, &[(1000, 1.0), (2000, 2.0)]),
                series(&[("__name__", "up"), ("job", "api")], &[(1000, 0.0)]),
            ],
        )
        .await;
        // Overlaps the first segment at 2000.
        write(
            root,
            1,
            5,
            vec![
                series(&a, &[(2000, 2.0), (3000, 3.0)]),
                series(&[("__name__", "cpu"), ("mode", "idle")], &[(3000, 7.0)]),
            ],
        )
        .await;
        let index = Arc::new(SegmentIndex::new(store(root), SAMPLES_TABLE));
        let ctx = SessionContext::new_with_config(session_config());
        let plain = SegmentSource::new(index.clone(), ctx.clone());
        let cached = SegmentSource::new(index, ctx).with_series_cache(1 << 20);
        let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
        let reads = [
            (vec![m("__name__", MatchOp::Equal, "up")], 0, 10_000),
            (
                vec![
                    m("__name__", MatchOp::Equal, "up"),
                    m("instance", MatchOp::Equal, ""),
                ],
                0,
                10_000,
            ),
            (
                vec![
                    m("__name__", MatchOp::Regex, "up|cpu"),
                    m("job", MatchOp::NotRegex, "api"),
                ],
                1500,
                3000,
            ),
            (vec![m("__name__", MatchOp::Equal, "up")], 2500, 2600),
        ];
        let sorted = |mut v: Vec<TimeSeries>| {
            v.sort_by_key(|s| s.labels.to_string());
            v.into_iter()
                .map(|s| (s.labels.to_string(), s.samples))
                .collect::<Vec<_>>()
        };
        for (matchers, start, end) in &reads {
            let want = sorted(plain.select(matchers, *start, *end).await.unwrap());
            for round in 0..3 {
                let got = sorted(cached.select(matchers, *start, *end).await.unwrap());
                assert_eq!(got, want, "round {round} of {matchers:?} {start}..{end}");
            }
        }
        let cache = cached.cache.as_ref().unwrap();
        assert!(cache.held_bytes() > 0, "the pairs read three times were decoded");
        // Past the row budget from memory too.
        let limited = cached.clone().with_max_rows(2);
        let err = limited.select(&reads[0].0, 0, 10_000).await.unwrap_err();
        assert!(err.is_sample_limit(), "{err}");
    }

    /// A downsampled tier read through the cache keeps its `__aggr__`
    /// matching: the aggregate asked for, on every read.
    #[tokio::test]
    async fn tier_reads_from_the_series_cache_keep_their_aggregate() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SegmentSpec {
            table: "samples_5m",
            key: SegmentKey::single(0, 0),
        };
        let tier = |aggr: &str, v: f64| {
            series(
                &[("__aggr__", aggr), ("__name__", "up"), ("job", "a")],
                &[(300_000, v), (600_000, v)],
            )
        };
        write_segment(
            &store(dir.path()),
            &spec,
            vec![tier("sum", 10.0), tier("count", 5.0)],
        )
        .await
        .unwrap();
        let index = Arc::new(SegmentIndex::new(store(dir.path()), SAMPLES_TABLE));
        let ctx = SessionContext::new_with_config(session_config());
        let cached = SegmentSource::new(index, ctx)
            .with_tier(300_000, "samples_5m")
            .with_series_cache(1 << 20);
        let name = [Matcher::new(METRIC_NAME, MatchOp::Equal, "up").unwrap()];
        for round in 0..3 {
            for (aggregate, want) in [(Aggregate::Sum, 10.0), (Aggregate::Count, 5.0)] {
                let got = cached
                    .select_aggregate(300_000, aggregate, &name, 0, 1_000_000)
                    .await
                    .unwrap();
                assert_eq!(got.len(), 1, "round {round}, {aggregate:?}");
                assert_eq!(got[0].labels.to_string(), r#"up{job="a"}"#);
                assert_eq!(
                    got[0].samples,
                    vec![Sample::new(300_000, want), Sample::new(600_000, want)],
                    "round {round}, {aggregate:?}"
                );
            }
        }
        assert!(
            cached.cache.as_ref().unwrap().held_bytes() > 0,
            "the tier's pair was decoded"
        );
    }

    /// Staleness markers keep their bit pattern through writer, catalog and
    /// scan. (The statistics bug that turned a marker into its neighbour's
    /// value was caught end to end by tests/it/push.rs; this small layout
    /// does not reproduce it.)
    /// A read past the row budget stops with the sample-limit error.
    #[tokio::test]
    async fn a_read_past_its_row_budget_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (i * 1000, i as f64)).collect();
        write(
            dir.path(),
            0,
            0,
            vec![series(&[("__name__", "big"), ("job", "a")], &pts)],
        )
        .await;
        let index = Arc::new(SegmentIndex::new(store(dir.path()), SAMPLES_TABLE));
        let ctx = SessionContext::new_with_config(session_config());
        let name = Matcher::new(METRIC_NAME, MatchOp::Equal, "big").unwrap();
        let within = SegmentSource::new(index.clone(), ctx.clone()).with_max_rows(100);
        assert_eq!(
            within
                .select(std::slice::from_ref(&name), 0, 99_000)
                .await
                .unwrap()[0]
                .samples
                .len(),
            100
        );
        let over = SegmentSource::new(index, ctx).with_max_rows(99);
        let err = over.select(&[name], 0, 99_000).await.unwrap_err();
        assert!(err.is_sample_limit(), "{err}");
    }

    #[tokio::test]
    async fn staleness_markers_survive_the_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let stale = sluice_model::stale_nan();
        write(
            dir.path(),
            1,
            1,
            vec![
                series(&[("__name__", "g"), ("job", "a")], &[(1000, 7.0), (2000, stale)]),
                series(&[("__name__", "h"), ("job", "a")], &[(1000, 9.0), (2000, stale)]),
            ],
        )
        .await;
        let index = Arc::new(SegmentIndex::new(store(dir.path()), SAMPLES_TABLE));
        let src = SegmentSource::new(index, SessionContext::new_with_config(session_config()));
        let m = |n: &str, op, v: &str| Matcher::new(n, op, v).unwrap();
        let got = src
            .select(
                &[m("__name__", MatchOp::Equal, "g"), m("job", MatchOp::Equal, "a")],
                0,
                10_000,
            )
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples[0].value, 7.0);
        assert!(
            sluice_model::is_stale_nan(got[0].samples[1].value),
            "{:?}",
            got[0].samples
        );
    }
}
