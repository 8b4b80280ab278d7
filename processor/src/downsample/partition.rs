//! Downsampling state of one partition, advanced record by record.
//!
//! Samples wait in a per-series buffer until the partition's watermark
//! (highest event time seen minus the allowed lateness) passes the end of
//! the finest window they fall in; then they are folded, in timestamp
//! order, into every resolution's open window, and windows that the
//! watermark has passed are emitted. Because the watermark only moves with
//! the records themselves, the outputs are a function of the record
//! sequence alone: replaying the same records from a checkpoint yields the
//! same windows, which is what makes recovery exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_model::bus::indexed::IndexedRecord;
use sluice_model::{Labels, Sample, TimeSeries, is_stale_nan};

use super::aggregate::{CounterTrack, WindowAggregate};

/// Resolutions and lateness.
#[derive(Debug, Clone, PartialEq)]
pub struct DownsampleSpec {
    /// Window sizes, ascending; each a multiple of the first.
    pub resolutions_ms: Vec<i64>,
    /// How far behind the newest sample a sample may arrive and still count.
    pub lateness_ms: i64,
}

/// A closed window of one series at one resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedWindow {
    /// Index into [`DownsampleSpec::resolutions_ms`].
    pub tier: usize,
    /// The raw series' labels.
    pub labels: Labels,
    /// The aggregates.
    pub window: WindowAggregate,
}

/// Where closed windows go. The labels are borrowed from the series'
/// state: the production sink encodes them straight into record bytes
/// ([`super::encode::TierRecords`]) instead of copying them per window.
pub trait WindowSink {
    /// One closed window of the series `labels` at resolution `tier`.
    fn closed(&mut self, tier: usize, labels: &Labels, window: &WindowAggregate);
}

/// Collects owned windows (tests, and callers that want them as values).
impl WindowSink for Vec<ClosedWindow> {
    fn closed(&mut self, tier: usize, labels: &Labels, window: &WindowAggregate) {
        self.push(ClosedWindow {
            tier,
            labels: labels.clone(),
            window: *window,
        });
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SeriesState {
    labels: Labels,
    /// Samples not yet folded, `(timestamp, value bits)` sorted by
    /// timestamp, one per timestamp. A vector, not a tree: samples almost
    /// always arrive in order (an append), and it keeps its capacity from
    /// window to window instead of allocating nodes per sample. Stored in
    /// checkpoints as the map it used to be.
    #[serde(with = "pending_map")]
    pending: Vec<(i64, u64)>,
    counter: CounterTrack,
    /// The open window per resolution.
    open: Vec<Option<WindowAggregate>>,
}

/// Checkpointable state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Highest sample timestamp seen.
    max_event_ms: Option<i64>,
    /// Samples before this are folded; later arrivals for them are late.
    folded_until_ms: Option<i64>,
    series: BTreeMap<u64, SeriesState>,
    /// Samples that arrived after their window was final.
    pub late_dropped: u64,
    /// The resolutions the open windows are for (empty in checkpoints
    /// written before this was recorded).
    #[serde(default)]
    resolutions_ms: Vec<i64>,
}

impl PartitionState {
    /// True if this (restored) state was built for `spec`'s resolutions.
    /// A state for other resolutions cannot continue: its open windows are
    /// for the old ones (a new resolution would also miss every window
    /// before the checkpoint), so the tiers must be replayed instead.
    pub fn fits(&self, spec: &DownsampleSpec) -> bool {
        let n = spec.resolutions_ms.len();
        (self.resolutions_ms.is_empty() || self.resolutions_ms == spec.resolutions_ms)
            && self.series.values().all(|s| s.open.len() == n)
    }

    /// Takes in one record's series, then advances the watermark, handing
    /// every window it closes to `out`.
    pub fn on_record(&mut self, spec: &DownsampleSpec, series: &[TimeSeries], out: &mut impl WindowSink) {
        self.note_spec(spec);
        for s in series {
            self.add(spec, s.labels.hash(), || s.labels.clone(), &s.samples);
        }
        self.advance(spec, out);
    }

    /// [`PartitionState::on_record`] on a record the consumer has read and
    /// indexed: series are looked up by the fingerprint it computed, and
    /// labels are only built for series seen for the first time. Returns
    /// the number of samples read.
    pub fn on_indexed(
        &mut self,
        spec: &DownsampleSpec,
        rec: &IndexedRecord,
        out: &mut impl WindowSink,
    ) -> usize {
        self.note_spec(spec);
        for s in rec.series() {
            self.add(spec, s.hash, || s.to_labels(), s.samples);
        }
        self.advance(spec, out);
        rec.sample_count()
    }

    /// [`PartitionState::on_record`] on borrowed series with their
    /// fingerprints (`Labels::hash`): one "record" of a bounded input
    /// replayed in time order, such as raw segments.
    pub fn on_series<'a>(
        &mut self,
        spec: &DownsampleSpec,
        series: impl IntoIterator<Item = (u64, &'a Labels, &'a [Sample])>,
        out: &mut impl WindowSink,
    ) {
        self.note_spec(spec);
        for (hash, labels, samples) in series {
            self.add(spec, hash, || labels.clone(), samples);
        }
        self.advance(spec, out);
    }

    fn note_spec(&mut self, spec: &DownsampleSpec) {
        if self.resolutions_ms != spec.resolutions_ms {
            self.resolutions_ms.clone_from(&spec.resolutions_ms);
        }
    }

    /// Buffers one series' samples until the watermark folds them.
    fn add(&mut self, spec: &DownsampleSpec, hash: u64, labels: impl FnOnce() -> Labels, samples: &[Sample]) {
        let mut labels = Some(labels);
        for x in samples {
            if is_stale_nan(x.value) {
                // A staleness marker ends the raw series; it is not a
                // value to aggregate. (Windows after it simply start
                // when samples come back.)
                continue;
            }
            if self.folded_until_ms.is_some_and(|f| x.timestamp_ms <= f) {
                self.late_dropped += 1;
                continue;
            }
            let st = self.series.entry(hash).or_insert_with(|| SeriesState {
                labels: labels.take().map(|f| f()).unwrap_or_default(),
                open: vec![None; spec.resolutions_ms.len()],
                ..SeriesState::default()
            });
            // First sample for a timestamp wins, as everywhere else.
            let ts = x.timestamp_ms;
            match st.pending.last() {
                Some(&(last, _)) if last >= ts => {
                    if let Err(i) = st.pending.binary_search_by_key(&ts, |p| p.0) {
                        st.pending.insert(i, (ts, x.value.to_bits()));
                    }
                }
                _ => st.pending.push((ts, x.value.to_bits())),
            }
            self.max_event_ms = Some(
                self.max_event_ms
                    .map_or(x.timestamp_ms, |m| m.max(x.timestamp_ms)),
            );
        }
    }

    fn advance(&mut self, spec: &DownsampleSpec, out: &mut impl WindowSink) {
        let (Some(max), Some(&finest)) = (self.max_event_ms, spec.resolutions_ms.first()) else {
            return;
        };
        let watermark = max - spec.lateness_ms;
        // Windows are left-open, `(start, start + res]`, like PromQL ranges,
        // so a range ending on a window boundary covers whole windows. Fold
        // every sample at or before the last finest boundary the watermark
        // has reached.
        let boundary = watermark.div_euclid(finest) * finest;
        self.fold_to(spec, boundary, out);
    }

    /// Folds every sample at or before `boundary` and closes every window
    /// that ends there or earlier, as the watermark reaching `boundary`
    /// would (a multiple of the finest resolution). For a bounded input
    /// that has been fed completely up to `boundary`: nothing later can
    /// change those windows.
    pub fn close_until(&mut self, spec: &DownsampleSpec, boundary: i64, out: &mut impl WindowSink) {
        self.fold_to(spec, boundary, out);
    }

    fn fold_to(&mut self, spec: &DownsampleSpec, boundary: i64, out: &mut impl WindowSink) {
        if self.folded_until_ms.is_some_and(|f| boundary <= f) {
            return;
        }
        for st in self.series.values_mut() {
            st.fold_until(spec, boundary, out);
        }
        // A series with nothing pending and no open window has gone quiet
        // for a whole coarsest window: drop its state. If it comes back,
        // its counter aggregate restarts from the raw value, which queries
        // read as one counter reset.
        self.series
            .retain(|_, st| !st.pending.is_empty() || st.open.iter().any(Option::is_some));
        self.folded_until_ms = Some(boundary);
    }

    /// Number of series with state.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }
}

/// The (exclusive) start of the window `(start, start + res]` holding `ts`.
pub fn window_start(ts: i64, res: i64) -> i64 {
    (ts - 1).div_euclid(res) * res
}

impl SeriesState {
    fn fold_until(&mut self, spec: &DownsampleSpec, boundary: i64, out: &mut impl WindowSink) {
        let ready = self.pending.partition_point(|p| p.0 <= boundary);
        for &(ts, bits) in &self.pending[..ready] {
            let value = f64::from_bits(bits);
            let counter = self.counter.adjust(value);
            for (tier, &res) in spec.resolutions_ms.iter().enumerate() {
                let start = window_start(ts, res);
                match &mut self.open[tier] {
                    Some(w) if w.start_ms == start => w.add(ts, value, counter),
                    slot => {
                        if let Some(done) = slot.take() {
                            out.closed(tier, &self.labels, &done);
                        }
                        *slot = Some(WindowAggregate::first(start, ts, value, counter));
                    }
                }
            }
        }
        self.pending.drain(..ready);
        // Windows that end at or before the boundary can get no more samples.
        for (tier, &res) in spec.resolutions_ms.iter().enumerate() {
            if self.open[tier].is_some_and(|w| w.start_ms + res <= boundary) {
                let done = self.open[tier].take().expect("checked");
                out.closed(tier, &self.labels, &done);
            }
        }
    }
}

/// `pending` in checkpoints: a JSON object from timestamp to value bits,
/// as when it was a `BTreeMap`, so checkpoints written before and after
/// the change read alike.
mod pending_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[(i64, u64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(v.iter().map(|(t, b)| (t, b)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(i64, u64)>, D::Error> {
        BTreeMap::<i64, u64>::deserialize(d).map(|m| m.into_iter().collect())
    }
}
