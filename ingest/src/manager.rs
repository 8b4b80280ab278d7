//! Runs one scrape loop per target and keeps each target's health for the
//! `/api/v1/targets` page.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_model::TimeSeries;
use sluice_model::clock::TimeProvider;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::publish::SampleWriter;
use crate::scrape::{ScrapeState, scrape_once};
use crate::target::Target;

/// How long a stopping scrape loop waits to publish its staleness markers.
const SHUTDOWN_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Health of one target as of its last scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// The target.
    pub target: Target,
    /// `up`, `down` or `unknown` (not scraped yet).
    pub health: &'static str,
    /// Error of the last scrape, empty when it succeeded.
    pub last_error: String,
    /// Start of the last scrape, ms since the epoch (0 = never).
    pub last_scrape_ms: i64,
    /// Duration of the last scrape.
    pub last_duration: Duration,
}

/// Target health shared with the HTTP API.
pub type TargetStatuses = Arc<RwLock<BTreeMap<String, TargetStatus>>>;

/// Owns the scrape loops.
pub struct ScrapeManager<W: SampleWriter> {
    targets: Vec<Target>,
    writer: Arc<W>,
    clock: Arc<dyn TimeProvider>,
    statuses: TargetStatuses,
}

impl<W: SampleWriter> ScrapeManager<W> {
    /// A manager for these targets writing to `writer`, reporting health
    /// into `statuses` (shared with the HTTP API).
    pub fn new(
        targets: Vec<Target>,
        writer: Arc<W>,
        clock: Arc<dyn TimeProvider>,
        statuses: TargetStatuses,
    ) -> Self {
        {
            let mut map = statuses.write().unwrap_or_else(|e| e.into_inner());
            for t in &targets {
                map.insert(
                    t.key(),
                    TargetStatus {
                        target: t.clone(),
                        health: "unknown",
                        last_error: String::new(),
                        last_scrape_ms: 0,
                        last_duration: Duration::ZERO,
                    },
                );
            }
        }
        ScrapeManager {
            targets,
            writer,
            clock,
            statuses,
        }
    }

    /// The shared health map (read by `/api/v1/targets`).
    pub fn statuses(&self) -> TargetStatuses {
        self.statuses.clone()
    }

    /// Scrapes every target on its interval until `shutdown` turns true.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let client = match reqwest::Client::builder().gzip(true).build() {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "cannot build HTTP client; no targets will be scraped");
                return;
            }
        };
        let mut tasks = JoinSet::new();
        for target in self.targets {
            let span = info_span!("scrape", job = %target.job, url = %target.url);
            let lp = ScrapeLoop {
                dropped: telemetry::global().counter(
                    "sluice_scrape_samples_dropped_total",
                    "Scraped samples that could not be written to Kafka.",
                    &[("job", &target.job)],
                ),
                scrapes: telemetry::global().counter(
                    "sluice_scrape_total",
                    "Scrapes performed.",
                    &[("job", &target.job)],
                ),
                failures: telemetry::global().counter(
                    "sluice_scrape_failures_total",
                    "Scrapes that failed (target down or malformed).",
                    &[("job", &target.job)],
                ),
                target,
                client: client.clone(),
                writer: self.writer.clone(),
                clock: self.clock.clone(),
                statuses: self.statuses.clone(),
            };
            tasks.spawn(lp.run(shutdown.clone()).instrument(span));
        }
        while tasks.join_next().await.is_some() {}
    }
}

struct ScrapeLoop<W: SampleWriter> {
    target: Target,
    client: reqwest::Client,
    writer: Arc<W>,
    clock: Arc<dyn TimeProvider>,
    statuses: TargetStatuses,
    dropped: Counter,
    scrapes: Counter,
    failures: Counter,
}

impl<W: SampleWriter> ScrapeLoop<W> {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let interval_ms = self.target.interval.as_millis().max(1) as i64;
        let offset_ms = self.target.offset().as_millis() as i64;
        let mut state = ScrapeState::default();
        info!(interval_ms, offset_ms, "scrape loop started");
        loop {
            // Next slot of this target's phase: `k * interval + offset`.
            let now = self.clock.now_ms();
            let mut next = now - now.rem_euclid(interval_ms) + offset_ms;
            if next <= now {
                next += interval_ms;
            }
            let wait = Duration::from_millis((next - now) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
            let t_ms = self.clock.now_ms();
            let outcome = scrape_once(&self.client, &self.target, &mut state, t_ms).await;
            self.scrapes.inc();
            if let Some(e) = &outcome.error {
                self.failures.inc();
                warn!(error = %e, "scrape failed");
            }
            self.record_status(&outcome.error, t_ms, outcome.duration);
            let n: usize = outcome.series.iter().map(|s| s.samples.len()).sum();
            // A write waits for Kafka (up to the producer's message timeout
            // while the broker is down); shutdown must not wait that long.
            tokio::select! {
                _ = self.publish(outcome.series) => {}
                _ = shutdown.wait_for(|s| *s) => {
                    self.dropped.inc_by(n as u64);
                    warn!(samples = n, "samples dropped: shutdown while Kafka was not answering");
                    break;
                }
            }
        }
        // The target goes away: its series end now, as in Prometheus. Bounded,
        // so a broker that is already gone cannot hold up shutdown.
        let markers = state.stale_all(self.clock.now_ms());
        if tokio::time::timeout(SHUTDOWN_PUBLISH_TIMEOUT, self.publish(markers))
            .await
            .is_err()
        {
            warn!("staleness markers not written at shutdown: Kafka did not answer in time");
        }
    }

    async fn publish(&self, series: Vec<TimeSeries>) {
        if series.is_empty() {
            return;
        }
        let n: usize = series.iter().map(|s| s.samples.len()).sum();
        if let Err(e) = self.writer.write(series).await {
            self.dropped.inc_by(n as u64);
            warn!(error = %e, samples = n, "samples dropped: could not write to Kafka");
        }
    }

    fn record_status(&self, error: &Option<String>, t_ms: i64, duration: Duration) {
        let mut map = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = map.get_mut(&self.target.key()) {
            st.health = if error.is_none() { "up" } else { "down" };
            st.last_error = error.clone().unwrap_or_default();
            st.last_scrape_ms = t_ms;
            st.last_duration = duration;
        }
    }
}
