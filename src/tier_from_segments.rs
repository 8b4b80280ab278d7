//! `sluice process --replay-from-segments`: recompute the downsampled tiers
//! from the raw Parquet segments, for history the raw topic no longer
//! retains (after a resolution is added, or to rebuild a tier).
//!
//! The same window code as the stream ([`PartitionState`]) runs over the
//! raw segments: per partition, segments in offset order (the order the
//! stream read their records), each segment's samples in time order, the
//! samples of one timestamp together as one record. So for input that
//! arrived in order the windows are those the downsampler computes from
//! the topic; samples the stream dropped as late are in the segments and
//! count here.
//!
//! The windows are written as segments of each tier table under the
//! `import` pseudo-partition, as `sluice import` writes backfill — not
//! produced to the tier topics: the sink stores a sample only when it is
//! newer than its series' newest stored one, and a tier that already holds
//! later windows (the live downsampler's) would drop every recomputed one.
//! Import segments carry no Kafka offsets, so the tier sinks' resume points
//! are untouched, and no broker is needed.
//!
//! The range `(from, to]` is rounded down to whole windows of every
//! resolution (their least common multiple); only windows entirely inside
//! it are written, each complete. Without `from` the recomputation starts
//! at the first raw sample, as a stream over the whole history would;
//! with `from`, as a stream started at `from` (its counter aggregates
//! count resets from there). Without `to` it ends at the newest raw sample
//! less the allowed lateness.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};
use sluice_model::{Sample, TimeSeries};
use sluice_processor::config::DownsampleConfig;
use sluice_processor::downsample::partition::{ClosedWindow, DownsampleSpec, PartitionState};
use sluice_processor::downsample::window_series;
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::{IMPORT_PARTITION, SegmentKey, split_superseded};
use sluice_sink::segment::meta::read_segment_meta;
use sluice_sink::segment::read::decode_series;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

/// Tier samples buffered before they are written as a segment.
const SEGMENT_SAMPLES: usize = 2_000_000;

/// What a recomputation did.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    /// The effective range, `(from, to]` (ms).
    pub from_ms: Option<i64>,
    pub to_ms: i64,
    /// Raw segments read and the samples in range fed to the windows.
    pub raw_segments: usize,
    pub raw_samples: u64,
    /// Samples the window code refused as late (out of order by more
    /// than the allowed lateness within the segments' order).
    pub late: u64,
    /// Windows and tier segments written, per tier table.
    pub windows: BTreeMap<String, u64>,
    pub segments: usize,
}

/// Recomputes every tier of `cfg` over `(from, to]` from the raw segments
/// in `store`.
pub(crate) async fn recompute(
    store: &SegmentStore,
    cfg: &DownsampleConfig,
    from: Option<i64>,
    to: Option<i64>,
) -> anyhow::Result<Summary> {
    let spec = DownsampleSpec {
        resolutions_ms: cfg.resolutions.iter().map(|r| r.as_millis()).collect(),
        lateness_ms: cfg.allowed_lateness.as_millis(),
    };
    if spec.resolutions_ms.is_empty() {
        bail!("downsample.resolutions is empty: no tier to recompute");
    }
    let tables = cfg.tier_tables();
    let step = spec.resolutions_ms.iter().copied().fold(1, lcm);
    let (visible, _) = split_superseded(store.list(SAMPLES_TABLE).await?, |s| s.key);
    let mut metas = Vec::new();
    for seg in &visible {
        metas.push(read_segment_meta(store, seg).await?);
    }
    let newest = metas.iter().map(|m| m.max_time_ms).max();
    let to = match (to, newest) {
        (Some(t), _) => t,
        (None, Some(n)) => n - spec.lateness_ms,
        (None, None) => bail!("the raw table `{SAMPLES_TABLE}` has no segments to recompute from"),
    }
    .div_euclid(step)
        * step;
    let from = from.map(|f| f.div_euclid(step) * step);
    if from.is_some_and(|f| f >= to) {
        bail!(
            "empty range: --from {} is not before --to {to} (ms, rounded down to whole {} ms windows)",
            from.unwrap_or_default(),
            step
        );
    }
    let mut summary = Summary {
        from_ms: from,
        to_ms: to,
        ..Summary::default()
    };
    // Per partition, in offset order: the order the stream read them.
    let mut by_partition: BTreeMap<i32, Vec<_>> = BTreeMap::new();
    for m in metas {
        if m.max_time_ms > from.unwrap_or(i64::MIN) && m.min_time_ms <= to {
            by_partition.entry(m.partition).or_default().push(m);
        }
    }
    let mut out = TierWriter::new(store, tables, spec.resolutions_ms.clone(), from, to).await?;
    for (_, mut segments) in by_partition {
        segments.sort_by_key(|m| m.key());
        let mut state = PartitionState::default();
        for m in segments {
            let data = store.get(&m.location).await?;
            let series = tokio::task::spawn_blocking(move || decode_series(vec![data]))
                .await
                .context("segment decoder task")??;
            summary.raw_segments += 1;
            summary.raw_samples += feed(&mut state, &spec, &series, from, to, &mut out.closed);
            out.write_if_full(&mut summary).await?;
        }
        state.close_until(&spec, to, &mut out.closed);
        summary.late += state.late_dropped;
        out.write_if_full(&mut summary).await?;
    }
    out.write(&mut summary).await?;
    Ok(summary)
}

/// Feeds one segment's samples in `(from, to]` to `state` in time order,
/// one record per timestamp; returns how many.
fn feed(
    state: &mut PartitionState,
    spec: &DownsampleSpec,
    series: &[TimeSeries],
    from: Option<i64>,
    to: i64,
    out: &mut Vec<ClosedWindow>,
) -> u64 {
    let hashes: Vec<u64> = series.iter().map(|s| s.labels.hash()).collect();
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        for (j, x) in s.samples.iter().enumerate() {
            if from.is_none_or(|f| x.timestamp_ms > f) && x.timestamp_ms <= to {
                order.push((x.timestamp_ms, i, j));
            }
        }
    }
    order.sort_unstable();
    for group in order.chunk_by(|a, b| a.0 == b.0) {
        let record = group.iter().map(|&(_, i, j)| {
            (
                hashes[i],
                &series[i].labels,
                std::slice::from_ref(&series[i].samples[j]),
            )
        });
        state.on_series(spec, record, out);
    }
    order.len() as u64
}

/// Buffers closed windows and writes the complete ones inside the range
/// as import segments of their tier tables.
struct TierWriter<'a> {
    store: &'a SegmentStore,
    tables: Vec<String>,
    resolutions_ms: Vec<i64>,
    from: Option<i64>,
    to: i64,
    /// The next import sequence number per table.
    next_seq: Vec<i64>,
    closed: Vec<ClosedWindow>,
}

impl<'a> TierWriter<'a> {
    async fn new(
        store: &'a SegmentStore,
        tables: Vec<String>,
        resolutions_ms: Vec<i64>,
        from: Option<i64>,
        to: i64,
    ) -> anyhow::Result<Self> {
        let mut next_seq = Vec::new();
        for t in &tables {
            let seq = crate::import::next_import_seq(store, t).await?;
            next_seq.push(seq);
        }
        Ok(TierWriter {
            store,
            tables,
            resolutions_ms,
            from,
            to,
            next_seq,
            closed: Vec::new(),
        })
    }

    async fn write_if_full(&mut self, summary: &mut Summary) -> anyhow::Result<()> {
        // Six samples at most per window.
        if self.closed.len() * 6 >= SEGMENT_SAMPLES {
            self.write(summary).await?;
        }
        Ok(())
    }

    async fn write(&mut self, summary: &mut Summary) -> anyhow::Result<()> {
        let closed = std::mem::take(&mut self.closed);
        for (tier, table) in self.tables.iter().enumerate() {
            let res = self.resolutions_ms[tier];
            let mut series: HashMap<u64, TimeSeries> = HashMap::new();
            let mut windows = 0;
            for w in closed.iter().filter(|w| w.tier == tier) {
                let start = w.window.start_ms;
                if self.from.is_some_and(|f| start < f) || start + res > self.to {
                    continue;
                }
                windows += 1;
                for s in window_series(w) {
                    series
                        .entry(s.labels.hash())
                        .or_insert_with(|| TimeSeries {
                            labels: s.labels.clone(),
                            samples: Vec::new(),
                        })
                        .samples
                        .extend(s.samples);
                }
            }
            if windows == 0 {
                continue;
            }
            let series: Vec<TimeSeries> = series.into_values().map(sorted).collect();
            let spec = SegmentSpec {
                table,
                key: SegmentKey {
                    partition: IMPORT_PARTITION,
                    first_offset: self.next_seq[tier],
                    last_offset: self.next_seq[tier],
                },
            };
            if write_segment(self.store, &spec, series).await?.is_some() {
                self.next_seq[tier] += 1;
                summary.segments += 1;
            }
            *summary.windows.entry(table.clone()).or_default() += windows;
        }
        Ok(())
    }
}

/// One sample per timestamp, ascending (a window's points are distinct,
/// but two windows of one series never share a timestamp either).
fn sorted(mut s: TimeSeries) -> TimeSeries {
    s.samples.sort_by_key(|x: &Sample| x.timestamp_ms);
    s.samples.dedup_by_key(|x| x.timestamp_ms);
    s
}

fn lcm(a: i64, b: i64) -> i64 {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    a / gcd(a, b) * b
}
