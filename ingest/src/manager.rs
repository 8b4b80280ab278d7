//! Runs one scrape loop per target and keeps each target's health for the
//! `/api/v1/targets` page.
//!
//! Targets come from service discovery: the manager receives every
//! provider's [`DiscoveryUpdate`]s, resolves the groups into targets
//! (relabeling included) and reconciles its loops with them — a new target
//! gets a loop, a target that is gone has its loop stopped (which publishes
//! staleness markers for its series), and a target that is unchanged keeps
//! its loop, so its scrape phase and series state carry on. A target whose
//! labels or settings changed under the same key is a new target: its old
//! loop stops and a new one starts.
//!
//! Each job has one HTTP client ([`ScrapeClient`]: its credentials and TLS
//! settings). A job with more targets than its `target_limit` scrapes none
//! of them: every one of its loops reports `up` 0 with the error, as in
//! Prometheus, until the count is back within the limit.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_model::clock::TimeProvider;
use sluice_model::telemetry::{self, Counter};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::IngestError;
use crate::config::{GlobalConfig, ScrapeConfig};
use crate::discovery::{DiscoveryUpdate, TargetSets};
use crate::exposition::MetricMetadata;
use crate::http_client::{ScrapeClient, install_crypto_provider};
use crate::publish::{SampleWriter, SeriesBatch};
use crate::scrape::{ScrapeState, forced_failure, scrape_once};
use crate::shard::ScrapeShard;
use crate::target::Target;
use crate::target_metadata::TargetMetadata;

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
    /// TYPE/HELP/UNIT of the families of the last successful scrape that
    /// had any (for `/api/v1/targets/metadata`).
    pub metadata: Arc<Vec<MetricMetadata>>,
}

impl TargetStatus {
    fn unknown(target: Target) -> Self {
        TargetStatus {
            target,
            health: "unknown",
            last_error: String::new(),
            last_scrape_ms: 0,
            last_duration: Duration::ZERO,
            metadata: Arc::default(),
        }
    }
}

/// Target health shared with the HTTP API.
pub type TargetStatuses = Arc<RwLock<BTreeMap<String, TargetStatus>>>;

/// A running scrape loop, the switch that stops it, and the error that
/// fails its scrapes without making them (the job's `target_limit`).
struct RunningLoop {
    target: Target,
    stop: watch::Sender<bool>,
    forced: watch::Sender<Option<String>>,
}

/// The job clients, by job name.
type Clients = HashMap<String, Arc<ScrapeClient>>;

/// Owns the scrape loops.
pub struct ScrapeManager<W: SampleWriter> {
    global: GlobalConfig,
    configs: Vec<ScrapeConfig>,
    shard: ScrapeShard,
    writer: Arc<W>,
    clock: Arc<dyn TimeProvider>,
    statuses: TargetStatuses,
}

impl<W: SampleWriter> ScrapeManager<W> {
    /// A manager for the jobs of `configs` writing to `writer`, reporting
    /// health into `statuses` (shared with the HTTP API).
    pub fn new(
        global: GlobalConfig,
        configs: Vec<ScrapeConfig>,
        writer: Arc<W>,
        clock: Arc<dyn TimeProvider>,
        statuses: TargetStatuses,
    ) -> Self {
        ScrapeManager {
            global,
            configs,
            shard: ScrapeShard::default(),
            writer,
            clock,
            statuses,
        }
    }

    /// Scrape only this worker's share of the targets.
    pub fn with_shard(mut self, shard: ScrapeShard) -> Self {
        self.shard = shard;
        self
    }

    /// The shared health map (read by `/api/v1/targets`).
    pub fn statuses(&self) -> TargetStatuses {
        self.statuses.clone()
    }

    /// Applies discovery updates as they come and scrapes every target on
    /// its interval until `shutdown` turns true; then stops every loop
    /// (each publishes its staleness markers).
    pub async fn run(
        self,
        mut updates: mpsc::Receiver<DiscoveryUpdate>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        install_crypto_provider();
        let clients: Clients = self
            .configs
            .iter()
            .map(|sc| {
                (
                    sc.job_name.clone(),
                    Arc::new(ScrapeClient::new(sc.http_client_config())),
                )
            })
            .collect();
        let mut sets = TargetSets::default();
        let mut running: HashMap<String, RunningLoop> = HashMap::new();
        let mut tasks = JoinSet::new();
        let mut providers_open = true;
        loop {
            tokio::select! {
                update = updates.recv(), if providers_open => match update {
                    Some(u) => {
                        sets.apply(u);
                        // Take whatever else is queued, so a burst (a re-list,
                        // a big file) costs one reconciliation.
                        while let Ok(u) = updates.try_recv() {
                            sets.apply(u);
                        }
                        self.reconcile(&sets, &mut running, &mut tasks, &clients);
                    }
                    // Every provider has finished (e.g. static targets only):
                    // keep scraping what there is.
                    None => providers_open = false,
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        for r in running.values() {
            let _ = r.stop.send(true);
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Starts, keeps or stops loops so that exactly the current targets run.
    fn reconcile(
        &self,
        sets: &TargetSets,
        running: &mut HashMap<String, RunningLoop>,
        tasks: &mut JoinSet<()>,
        clients: &Clients,
    ) {
        let mut desired: BTreeMap<String, Target> = BTreeMap::new();
        for sc in &self.configs {
            for t in sets.targets(sc, &self.global) {
                if self.shard.owns(&t) {
                    desired.entry(t.key()).or_insert(t);
                }
            }
        }
        // Prometheus' target_limit: counted per job after relabeling (and,
        // here, after sharding: each worker counts the targets it scrapes).
        let mut per_job: HashMap<&str, u64> = HashMap::new();
        for t in desired.values() {
            *per_job.entry(t.job.as_str()).or_default() += 1;
        }
        let mut forced: HashMap<&str, String> = HashMap::new();
        for sc in &self.configs {
            let limit = sc.target_limit(&self.global);
            let count = per_job.get(sc.job_name.as_str()).copied().unwrap_or(0);
            if limit > 0 && count > limit {
                warn!(job = %sc.job_name, targets = count, limit, "target_limit exceeded: no target of the job is scraped");
                forced.insert(
                    sc.job_name.as_str(),
                    format!("target_limit exceeded (number of targets: {count}, limit: {limit})"),
                );
            }
        }
        let mut statuses = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        let (mut started, mut stopped) = (0usize, 0usize);
        running.retain(|key, r| {
            let keep = desired.get(key) == Some(&r.target);
            if !keep {
                let _ = r.stop.send(true);
                statuses.remove(key);
                stopped += 1;
            }
            keep
        });
        for r in running.values() {
            let want = forced.get(r.target.job.as_str()).cloned();
            r.forced.send_if_modified(|cur| {
                let changed = *cur != want;
                *cur = want.clone();
                changed
            });
        }
        for (key, target) in desired {
            if running.contains_key(&key) {
                continue;
            }
            let Some(client) = clients.get(&target.job) else {
                continue;
            };
            let (stop, stop_rx) = watch::channel(false);
            let (forced, forced_rx) = watch::channel(forced.get(target.job.as_str()).cloned());
            statuses.insert(key.clone(), TargetStatus::unknown(target.clone()));
            let span = info_span!("scrape", job = %target.job, url = %target.url);
            tasks.spawn(
                self.scrape_loop(target.clone(), client.clone(), forced_rx)
                    .run(stop_rx)
                    .instrument(span),
            );
            running.insert(key, RunningLoop { target, stop, forced });
            started += 1;
        }
        if started + stopped > 0 {
            info!(
                started,
                stopped,
                targets = running.len(),
                "scrape targets updated"
            );
        }
    }

    fn scrape_loop(
        &self,
        target: Target,
        client: Arc<ScrapeClient>,
        forced: watch::Receiver<Option<String>>,
    ) -> ScrapeLoop<W> {
        ScrapeLoop {
            dropped: Dropped::new(&target.job),
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
            client,
            forced,
            writer: self.writer.clone(),
            clock: self.clock.clone(),
            statuses: self.statuses.clone(),
        }
    }
}

struct ScrapeLoop<W: SampleWriter> {
    target: Target,
    client: Arc<ScrapeClient>,
    forced: watch::Receiver<Option<String>>,
    writer: Arc<W>,
    clock: Arc<dyn TimeProvider>,
    statuses: TargetStatuses,
    dropped: Dropped,
    scrapes: Counter,
    failures: Counter,
}

/// `sluice_scrape_samples_dropped_total` of one job, by reason.
struct Dropped {
    /// The producer's buffer was full (Kafka slow or away for long).
    backpressure: Counter,
    /// Kafka refused the records or they timed out.
    kafka: Counter,
}

impl Dropped {
    fn new(job: &str) -> Self {
        let counter = |reason| {
            telemetry::global().counter(
                "sluice_scrape_samples_dropped_total",
                "Scraped samples that could not be written to Kafka, by reason.",
                &[("job", job), ("reason", reason)],
            )
        };
        Dropped {
            backpressure: counter("backpressure"),
            kafka: counter("kafka"),
        }
    }
}

impl<W: SampleWriter> ScrapeLoop<W> {
    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let interval_ms = self.target.interval.as_millis().max(1) as i64;
        let offset_ms = self.target.offset().as_millis() as i64;
        let mut state = ScrapeState::default();
        let mut metadata = TargetMetadata::new(sluice_model::bus::metadata::REFRESH_MS);
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
            let forced = self.forced.borrow().clone();
            let outcome = match forced {
                Some(e) => forced_failure(&self.target, &mut state, t_ms, e),
                None => scrape_once(&self.client, &self.target, &mut state, t_ms).await,
            };
            self.scrapes.inc();
            if let Some(e) = &outcome.error {
                self.failures.inc();
                warn!(error = %e, "scrape failed");
            }
            self.record_status(&outcome.error, t_ms, outcome.duration);
            // The loop does not wait for Kafka: it keeps its schedule while
            // the broker is slow or away, and the producer's budget bounds
            // what waits (past it, samples are dropped and counted).
            if let Some(delivery) = self.publish(outcome.batch) {
                tokio::spawn(delivery.in_current_span());
            }
            if let Some(entries) = metadata.offer(&outcome.metadata, t_ms) {
                self.record_metadata(outcome.metadata);
                match self.writer.submit_metadata(entries) {
                    Ok(delivery) => {
                        tokio::spawn(
                            async move {
                                if let Err(e) = delivery.await {
                                    warn!(error = %e, "metadata not written: Kafka did not take it");
                                }
                            }
                            .in_current_span(),
                        );
                    }
                    Err(e) => {
                        // Offered again with the next scrape.
                        metadata.reset();
                        warn!(error = %e, "metadata not written: could not queue it for Kafka");
                    }
                }
            }
        }
        // The target goes away: its series end now, as in Prometheus. Bounded,
        // so a broker that is already gone cannot hold up shutdown.
        let markers = state.stale_all(self.clock.now_ms());
        if let Some(delivery) = self.publish(markers)
            && tokio::time::timeout(SHUTDOWN_PUBLISH_TIMEOUT, delivery)
                .await
                .is_err()
        {
            warn!("staleness markers not acknowledged at shutdown: Kafka did not answer in time");
        }
    }

    /// Queues the series; the returned future counts them as dropped if
    /// Kafka finally does not take them. Refused at once (budget full):
    /// counted as dropped now. The target stays up either way: a full
    /// buffer is not the target's fault.
    fn publish(&self, batch: SeriesBatch) -> Option<impl Future<Output = ()> + Send + 'static> {
        if batch.is_empty() {
            return None;
        }
        let n = batch.samples();
        match self.writer.submit_batch(batch) {
            Ok(delivery) => {
                let failed = self.dropped.kafka.clone();
                Some(async move {
                    if let Err(e) = delivery.await {
                        failed.inc_by(n as u64);
                        warn!(error = %e, samples = n, "samples dropped: Kafka did not take them");
                    }
                })
            }
            Err(e) => {
                let reason = match e {
                    IngestError::Backpressure(_) => &self.dropped.backpressure,
                    _ => &self.dropped.kafka,
                };
                reason.inc_by(n as u64);
                warn!(error = %e, samples = n, "samples dropped: could not queue them for Kafka");
                None
            }
        }
    }

    /// Keeps the target's metadata for the API (called when it changed).
    fn record_metadata(&self, metadata: Vec<MetricMetadata>) {
        let mut map = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = map
            .get_mut(&self.target.key())
            .filter(|st| st.target == self.target)
        {
            st.metadata = Arc::new(metadata);
        }
    }

    fn record_status(&self, error: &Option<String>, t_ms: i64, duration: Duration) {
        let mut map = self.statuses.write().unwrap_or_else(|e| e.into_inner());
        // A loop that is being replaced must not report over its successor.
        if let Some(st) = map
            .get_mut(&self.target.key())
            .filter(|st| st.target == self.target)
        {
            st.health = if error.is_none() { "up" } else { "down" };
            st.last_error = error.clone().unwrap_or_default();
            st.last_scrape_ms = t_ms;
            st.last_duration = duration;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use sluice_model::bus::PbMetricMetadata;
    use sluice_model::clock::SystemClock;
    use sluice_model::{Labels, TimeSeries, is_stale_nan};

    use super::*;
    use crate::discovery::TargetGroup;
    use crate::publish::Delivery;

    /// Keeps everything written.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<TimeSeries>>, Mutex<Vec<PbMetricMetadata>>);

    impl SampleWriter for Recorder {
        fn submit(&self, series: Vec<TimeSeries>) -> Result<Delivery, IngestError> {
            self.0.lock().unwrap().extend(series);
            Ok(Box::pin(async { Ok(()) }))
        }

        fn submit_metadata(&self, metadata: Vec<PbMetricMetadata>) -> Result<Delivery, IngestError> {
            self.1.lock().unwrap().extend(metadata);
            Ok(Box::pin(async { Ok(()) }))
        }
    }

    /// A producer whose buffer is always full.
    struct Full;

    impl SampleWriter for Full {
        fn submit(&self, _: Vec<TimeSeries>) -> Result<Delivery, IngestError> {
            Err(IngestError::Backpressure("producer buffer full (test)".into()))
        }

        fn submit_metadata(&self, _: Vec<PbMetricMetadata>) -> Result<Delivery, IngestError> {
            Err(IngestError::Backpressure("producer buffer full (test)".into()))
        }
    }

    async fn exporter() -> String {
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { "# HELP demo_up Demo.\n# TYPE demo_up gauge\ndemo_up 1\n" }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    fn update(source: &str, addrs: &[&str]) -> DiscoveryUpdate {
        DiscoveryUpdate {
            job: "j".into(),
            provider: "test".into(),
            groups: vec![TargetGroup {
                source: source.into(),
                targets: addrs.iter().map(|a| Labels::new([("__address__", *a)])).collect(),
                labels: Labels::default(),
            }],
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..100 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn targets_start_keep_and_stop_with_staleness_markers() {
        let (a, b) = (exporter().await, exporter().await);
        let sc: ScrapeConfig = serde_yaml::from_str("job_name: j\nscrape_interval: 1s").unwrap();
        let writer = Arc::new(Recorder::default());
        let statuses = TargetStatuses::default();
        let (tx, rx) = mpsc::channel(8);
        let (stop, shutdown) = watch::channel(false);
        let manager = ScrapeManager::new(
            GlobalConfig::default(),
            vec![sc],
            writer.clone(),
            Arc::new(SystemClock),
            statuses.clone(),
        );
        let running = tokio::spawn(manager.run(rx, shutdown));
        let stale = |addr: &str| {
            let w = writer.0.lock().unwrap();
            w.iter().any(|s| {
                s.labels.get("instance") == Some(addr)
                    && s.labels.get("__name__") == Some("demo_up")
                    && s.samples.iter().any(|x| is_stale_nan(x.value))
            })
        };
        let scraped = |addr: &str| {
            let w = writer.0.lock().unwrap();
            w.iter().any(|s| {
                s.labels.get("instance") == Some(addr) && s.labels.get("__name__") == Some("demo_up")
            })
        };

        tx.send(update("g1", &[&a])).await.unwrap();
        until("the first target's scrape", || scraped(&a)).await;
        let key_a = format!("j|http://{a}/metrics");
        let first_scrape = statuses.read().unwrap()[&key_a].last_scrape_ms;
        assert!(first_scrape > 0);

        // Another group appears: `a` is unchanged, so its loop carries on
        // (a restarted loop would have ended a's series with StaleNaN).
        tx.send(update("g2", &[&b])).await.unwrap();
        until("the second target's scrape", || scraped(&b)).await;
        assert!(!stale(&a), "an unchanged target's loop was restarted");
        assert!(statuses.read().unwrap()[&key_a].last_scrape_ms >= first_scrape);
        until("a second scrape of the first target", || {
            statuses.read().unwrap()[&key_a].last_scrape_ms > first_scrape
        })
        .await;
        assert_eq!(statuses.read().unwrap()[&key_a].metadata[0].family, "demo_up");
        // Metadata is offered once per target, not once per scrape.
        let offered = writer.1.lock().unwrap().clone();
        assert_eq!(offered.len(), 2, "{offered:?}");
        assert!(
            offered.iter().all(
                |m| (m.metric_family_name.as_str(), m.r#type, m.help.as_str()) == ("demo_up", 2, "Demo.")
            ),
            "{offered:?}"
        );

        // g1 is gone: its loop stops and ends its series with StaleNaN.
        tx.send(update("g1", &[])).await.unwrap();
        until("staleness markers for the removed target", || stale(&a)).await;
        assert!(!stale(&b));
        let keys: Vec<String> = statuses.read().unwrap().keys().cloned().collect();
        assert_eq!(keys, [format!("j|http://{b}/metrics")]);

        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_full_buffer_drops_samples_and_the_target_stays_up() {
        let addr = exporter().await;
        // A job name of its own: the counters are process-wide.
        let sc: ScrapeConfig = serde_yaml::from_str("job_name: full_buffer\nscrape_interval: 1s").unwrap();
        let statuses = TargetStatuses::default();
        let (tx, rx) = mpsc::channel(8);
        let (stop, shutdown) = watch::channel(false);
        let manager = ScrapeManager::new(
            GlobalConfig::default(),
            vec![sc],
            Arc::new(Full),
            Arc::new(SystemClock),
            statuses.clone(),
        );
        let running = tokio::spawn(manager.run(rx, shutdown));
        let mut up = update("g", &[&addr]);
        up.job = "full_buffer".into();
        tx.send(up).await.unwrap();
        let dropped = Dropped::new("full_buffer");
        until("samples counted as dropped for back-pressure", || {
            dropped.backpressure.get() > 0
        })
        .await;
        let key = format!("full_buffer|http://{addr}/metrics");
        let st = statuses.read().unwrap()[&key].clone();
        assert_eq!((st.health, st.last_error.as_str()), ("up", ""));
        assert_eq!(dropped.kafka.get(), 0);
        stop.send(true).unwrap();
        running.await.unwrap();
    }
}
