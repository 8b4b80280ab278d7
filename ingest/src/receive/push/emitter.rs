//! Re-emits the pushed groups on an interval, as a Prometheus scraping the
//! Pushgateway would: every pushed value at every interval, and a staleness
//! marker for each series that was emitted last time and is gone now (its
//! group deleted or replaced). Gone series are found by comparing with the
//! last *successfully written* emission, so a failed write (Kafka down)
//! cannot lose a staleness marker.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sluice_model::clock::TimeProvider;
use sluice_model::telemetry::{self, Gauge};
use sluice_model::{Labels, Sample, TimeSeries, stale_nan};
use tokio::sync::watch;

use super::PushStore;
use crate::publish::SampleWriter;

/// One emission at a time; keeps what was last written.
#[derive(Debug)]
pub struct PushEmitter<W> {
    store: Arc<PushStore>,
    writer: Arc<W>,
    previous: HashSet<Labels>,
    series_gauge: Gauge,
}

impl<W: SampleWriter> PushEmitter<W> {
    /// An emitter that has emitted nothing yet.
    pub fn new(store: Arc<PushStore>, writer: Arc<W>) -> Self {
        PushEmitter {
            store,
            writer,
            previous: HashSet::new(),
            series_gauge: telemetry::global().gauge(
                "sluice_receive_push_series",
                "Series held by the push store at its last emission (push_time_seconds included).",
                &[],
            ),
        }
    }

    /// Writes the store's snapshot at `t_ms` plus staleness markers for the
    /// series that disappeared since the last successful emission.
    pub async fn emit(&mut self, t_ms: i64) -> Result<(), crate::IngestError> {
        let mut series = self.store.snapshot(t_ms);
        let current: HashSet<Labels> = series.iter().map(|s| s.labels.clone()).collect();
        self.series_gauge.set(current.len() as f64);
        series.extend(markers(self.previous.difference(&current), t_ms));
        if !series.is_empty() {
            self.writer.write(series).await?;
        }
        self.previous = current;
        Ok(())
    }

    /// Marks everything last emitted as stale: the pushed groups live only
    /// in this process, so they end with it.
    pub async fn close(&mut self, t_ms: i64) -> Result<(), crate::IngestError> {
        let series: Vec<TimeSeries> = markers(self.previous.iter(), t_ms).collect();
        if !series.is_empty() {
            self.writer.write(series).await?;
        }
        self.previous.clear();
        Ok(())
    }
}

fn markers<'a>(
    gone: impl Iterator<Item = &'a Labels> + 'a,
    t_ms: i64,
) -> impl Iterator<Item = TimeSeries> + 'a {
    gone.map(move |labels| TimeSeries {
        labels: labels.clone(),
        samples: vec![Sample::new(t_ms, stale_nan())],
    })
}

/// Emits the store every `interval` until `shutdown` turns true, then
/// writes staleness markers for everything emitted. Write failures
/// (including a full producer buffer) are logged and counted by the writer;
/// the next interval tries again. Pushes themselves are accepted whatever
/// Kafka's state: the store holds one value per series, so its memory does
/// not grow with an outage, and the values reach Kafka with the next
/// emission that fits.
pub async fn run_push_emitter<W: SampleWriter>(
    store: Arc<PushStore>,
    writer: Arc<W>,
    interval: Duration,
    clock: Arc<dyn TimeProvider>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut emitter = PushEmitter::new(store, writer);
    let mut ticker = tokio::time::interval(interval);
    // After a stall, emit once and go on rather than bursting.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            // A dropped sender means nobody can stop us any more: stop now.
            r = shutdown.changed() => if r.is_err() { break },
        }
        if *shutdown.borrow() {
            break;
        }
        // An emission waits for Kafka's acknowledgement, so while the broker
        // is away at most one emission is queued (a full buffer refuses it
        // at once; the next interval emits the then-current values); the
        // wait must not hold up shutdown.
        tokio::select! {
            r = emitter.emit(clock.now_ms()) => if let Err(e) = r {
                tracing::warn!(error = %e, "emitting pushed metrics failed");
            },
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    // Bounded, so a broker that is already gone cannot hold up shutdown.
    match tokio::time::timeout(Duration::from_secs(5), emitter.close(clock.now_ms())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "writing staleness markers for pushed metrics failed"),
        Err(_) => {
            tracing::warn!("staleness markers for pushed metrics not written: Kafka did not answer in time")
        }
    }
}
