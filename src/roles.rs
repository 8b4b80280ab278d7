//! The roles a `sluice` process can play, alone or together.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_ingest::discovery::start_providers;
use sluice_ingest::manager::{ScrapeManager, TargetStatuses};
use sluice_ingest::publish::{Hold, KafkaPublisher};
use sluice_ingest::receive;
use sluice_ingest::receive::push::{PushStore, run_push_emitter};
use sluice_ingest::topics::{ensure_metadata_topic, ensure_topics};
use sluice_model::clock::{SystemClock, TimeProvider};
use sluice_model::health::{consumer_check, global as readiness};
use sluice_model::{Labels, PromDuration};
use sluice_processor::rules::{RuleStage, run_rule_evaluator};
use sluice_query::api::{SharedTargets, TargetInfo, TargetsView};
use sluice_query::metric_metadata::{MetadataEntry, MetadataStore, run_metadata_feed};
use sluice_query::rules_status::{RulesStatusStore, RulesView, run_rules_status_feed};
use sluice_query::server::{LocalViews, TierTable};
use sluice_rules::status::SharedRulesStatus;
use sluice_sink::SinkTable;
use sluice_web::WebSecurity;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::config::Config;
use crate::health::{self, spawn_kafka_probe, spawn_store_probe};

/// Creates the topics every role relies on, if missing: the samples topic
/// and the compacted metadata topic.
async fn prepare_topics(cfg: &Config, shutdown: &watch::Receiver<bool>) -> anyhow::Result<()> {
    let topics = [cfg.kafka.samples_topic()];
    let ensure = || async {
        ensure_topics(&cfg.kafka, &topics).await?;
        ensure_metadata_topic(&cfg.kafka).await
    };
    let mut shutdown = shutdown.clone();
    // The broker may still be starting (e.g. `sluice all` next to a fresh
    // broker): retry for a while before giving up, but stop at once when
    // asked to (a SIGTERM must not wait out the retries).
    let mut last = None;
    for _ in 0..30 {
        let attempt = tokio::select! {
            r = ensure() => r,
            _ = shutdown.wait_for(|s| *s) => anyhow::bail!("stopped while waiting for Kafka"),
        };
        match attempt {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "waiting for Kafka");
                last = Some(e);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|s| *s) => anyhow::bail!("stopped while waiting for Kafka"),
                }
            }
        }
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("kafka unavailable")))
}

/// The readiness check of the scrape role's own start-up.
const SCRAPE_CHECK: &str = "scrape role";

/// Ingest: scrape workers, the remote_write receiver and the push API → Kafka.
/// Health endpoints are served with the receivers, on `receive.listen`.
pub(crate) async fn scrape(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    spawn_kafka_probe(&cfg.kafka, cfg.kafka.samples_topic(), shutdown.clone());
    scrape_reporting(cfg, web, shutdown, TargetStatuses::default()).await
}

/// [`scrape`], with target health reported into `statuses`.
async fn scrape_reporting(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
    statuses: TargetStatuses,
) -> anyhow::Result<()> {
    readiness().expect(SCRAPE_CHECK, "connecting to Kafka");
    prepare_topics(&cfg, &shutdown).await?;
    let publisher = Arc::new(
        // Accepted samples exist nowhere else: held until Kafka takes
        // them, within kafka.producer_buffer_bytes.
        KafkaPublisher::connect_with(&cfg.kafka, cfg.kafka.samples_topic(), Hold::UntilDelivered)
            .await
            .context("connecting the scrape publisher")?
            .with_metadata_topic(cfg.kafka.metadata_topic()),
    );
    let clock: Arc<dyn TimeProvider> = Arc::new(SystemClock);
    info!(
        jobs = cfg.scrape_configs.len(),
        partitions = publisher.partitions(),
        shard_index = cfg.scrape.shard_index,
        shard_count = cfg.scrape.shard_count,
        "scrape role starting"
    );
    // Service discovery feeds the manager; the providers run (and must stay
    // alive: dropping the set aborts them) until shutdown.
    let (updates, discovered) = mpsc::channel(256);
    let _providers = start_providers(&cfg.scrape_configs, updates, shutdown.clone());
    let manager = ScrapeManager::new(
        cfg.global.clone(),
        cfg.scrape_configs.clone(),
        publisher.clone(),
        clock.clone(),
        statuses,
    )
    .with_shard(cfg.scrape);

    let push = Arc::new(PushStore::new(clock.clone()));
    let emitter = run_push_emitter(
        push.clone(),
        publisher.clone(),
        cfg.receive.push_interval.0,
        clock,
        shutdown.clone(),
    );
    let listener = TcpListener::bind(&cfg.receive.listen)
        .await
        .with_context(|| format!("binding receive.listen {}", cfg.receive.listen))?;
    info!(listen = %cfg.receive.listen, scheme = web.scheme(), "remote_write receiver and push API listening");
    let app = receive::router(publisher.clone(), push, cfg.receive.limits()).merge(health::router());
    readiness().ready(SCRAPE_CHECK);
    let mut sd = shutdown.clone();
    let server = sluice_web::serve(listener, app, &web, async move {
        let _ = sd.wait_for(|s| *s).await;
    });
    let (_, _, served) = tokio::join!(manager.run(discovered, shutdown), emitter, server);
    publisher.flush(Duration::from_secs(10));
    served.context("receive HTTP server")
}

/// Sink: Kafka → Parquet segments, with health endpoints on `health.sink_listen`.
pub(crate) async fn sink(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    spawn_kafka_probe(&cfg.kafka, cfg.kafka.samples_topic(), shutdown.clone());
    spawn_store_probe(open_store(&cfg)?, shutdown.clone());
    let listen = cfg.health.sink_listen.clone();
    health::serve_with(&listen, &web, shutdown.clone(), run_sink(cfg, shutdown)).await
}

/// The segment store of `sink.path`.
fn open_store(cfg: &Config) -> anyhow::Result<sluice_sink::store::SegmentStore> {
    sluice_sink::store::SegmentStore::open(&cfg.sink.path, &cfg.sink.storage_options)
        .context("opening the segment store")
}

/// The raw samples, and each downsampled tier into its own table when
/// downsampling is on.
async fn run_sink(cfg: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut tables = vec![SinkTable::raw(&cfg.kafka)];
    if cfg.downsample.enabled {
        let ds = &cfg.downsample;
        for (i, (topic, table)) in ds
            .tier_topics(&cfg.kafka)
            .into_iter()
            .zip(ds.tier_tables())
            .enumerate()
        {
            tables.push(SinkTable {
                topic,
                table,
                retention_ms: ds.retention.get(i).map(|r| r.as_millis()).filter(|r| *r > 0),
            });
        }
    }
    // Not ready until every table's consumer has its partitions.
    for t in &tables {
        readiness().expect(
            &consumer_check(&t.group_id(&cfg.sink), &t.topic),
            "assigning partitions",
        );
    }
    prepare_topics(&cfg, &shutdown).await?;
    if cfg.downsample.enabled {
        ensure_topics(&cfg.kafka, &cfg.downsample.tier_topics(&cfg.kafka)).await?;
    }
    let runs = tables.iter().map(|t| {
        let (cfg, shutdown) = (&cfg, shutdown.clone());
        async move {
            sluice_sink::run_sink_table(&cfg.kafka, &cfg.sink, t, shutdown)
                .await
                .with_context(|| format!("sink of table {}", t.table))
        }
    });
    futures::future::try_join_all(runs).await.map(|_| ())
}

/// Process: stream operators over the samples topic — downsampling, and
/// rule evaluation when `rule_files` are configured — with health
/// endpoints on `health.process_listen`. With `replay`, the tiers are
/// recomputed from the start of the retained raw topic (checkpoints
/// ignored, then replaced).
pub(crate) async fn process(
    cfg: Config,
    web: WebSecurity,
    replay: bool,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if !has_stream_work(&cfg) {
        anyhow::bail!("nothing to process: set downsample.enabled: true or list rule_files");
    }
    spawn_kafka_probe(&cfg.kafka, cfg.kafka.samples_topic(), shutdown.clone());
    let listen = cfg.health.process_listen.clone();
    let status = SharedRulesStatus::default();
    health::serve_with(
        &listen,
        &web,
        shutdown.clone(),
        run_process(cfg, replay, shutdown, status),
    )
    .await
}

/// The stream operators, the rule evaluator's status reported into `status`.
async fn run_process(
    cfg: Config,
    replay: bool,
    shutdown: watch::Receiver<bool>,
    status: SharedRulesStatus,
) -> anyhow::Result<()> {
    // Ready once each running operator's consumer has its partitions.
    if cfg.downsample.enabled {
        let input = consumer_check(&cfg.downsample.group_id, &cfg.kafka.samples_topic());
        readiness().expect(&input, "assigning partitions");
    }
    if !cfg.rule_groups.is_empty() {
        let input = consumer_check(&cfg.rule_evaluation.group_id, &cfg.kafka.samples_topic());
        readiness().expect(&input, "assigning partitions");
    }
    prepare_topics(&cfg, &shutdown).await?;
    let downsampler = async {
        if !cfg.downsample.enabled {
            return Ok(());
        }
        sluice_processor::downsample::run_downsampler(&cfg.kafka, &cfg.downsample, replay, shutdown.clone())
            .await
            .context("downsampler")
    };
    let rules = async {
        if cfg.rule_groups.is_empty() {
            return Ok(());
        }
        let stage = RuleStage {
            kafka: &cfg.kafka,
            cfg: &cfg.rule_evaluation,
            alerting: &cfg.alerting,
            groups: cfg.rule_groups.clone(),
            default_interval_ms: cfg.global.evaluation_interval.as_millis(),
            external_labels: Labels::new(
                cfg.global
                    .external_labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            status,
            experimental_functions: cfg.query.experimental_functions,
        };
        run_rule_evaluator(stage, shutdown.clone())
            .await
            .context("rule evaluator")
    };
    let (d, r) = tokio::join!(downsampler, rules);
    d.and(r)
}

/// Whether the `process` role has anything to run.
fn has_stream_work(cfg: &Config) -> bool {
    cfg.downsample.enabled || !cfg.rule_groups.is_empty()
}

/// Query: segments → Prometheus HTTP API and SQL (health endpoints on
/// `query.listen`; ready while the segment store answers).
pub(crate) async fn query(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    spawn_store_probe(open_store(&cfg)?, shutdown.clone());
    query_with_views(cfg, web, shutdown, LocalViews::default()).await
}

async fn query_with_views(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
    mut views: LocalViews,
) -> anyhow::Result<()> {
    let store = open_store(&cfg)?;
    // Metric metadata for /api/v1/metadata, followed from the bus in the
    // background (it never holds up the API, see run_metadata_feed).
    let metadata = Arc::new(MetadataStore::new(sluice_model::bus::metadata::FORGET_AFTER_MS));
    let feed = tokio::spawn(run_metadata_feed(
        cfg.kafka.clone(),
        metadata.clone(),
        shutdown.clone(),
    ));
    views.metadata = Some(metadata);
    // Rules and alerts: a process without its own evaluator follows what
    // the process shards publish (`sluice all` reads its evaluator directly).
    let rules_feed = if views.rules.is_none() {
        let store = Arc::new(RulesStatusStore::new());
        views.rules = Some(store.clone());
        Some(tokio::spawn(run_rules_status_feed(
            cfg.kafka.clone(),
            store,
            shutdown.clone(),
        )))
    } else {
        None
    };
    views.config_yaml = Some(Arc::new(crate::config_view::effective_yaml(&cfg)));
    let tiers: Vec<TierTable> = if cfg.downsample.enabled {
        cfg.downsample
            .resolutions
            .iter()
            .zip(cfg.downsample.tier_tables())
            .map(|(r, table)| TierTable {
                resolution_ms: r.as_millis(),
                table,
            })
            .collect()
    } else {
        Vec::new()
    };
    let served = sluice_query::server::serve(&cfg.query, store, &tiers, views, &web, shutdown)
        .await
        .context("query");
    feed.abort();
    if let Some(f) = rules_feed {
        f.abort();
    }
    served
}

/// The scrape manager's target health, as the targets API shows it.
struct ScrapeTargets(TargetStatuses);

impl TargetsView for ScrapeTargets {
    fn targets(&self) -> Vec<TargetInfo> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .map(|st| TargetInfo {
                discovered_labels: st.target.discovered_labels.clone(),
                labels: st.target.labels.clone(),
                scrape_pool: st.target.job.clone(),
                scrape_url: st.target.url.clone(),
                last_error: st.last_error.clone(),
                last_scrape_ms: st.last_scrape_ms,
                last_scrape_duration_s: st.last_duration.as_secs_f64(),
                health: st.health.to_string(),
                scrape_interval: PromDuration(st.target.interval).to_string(),
                scrape_timeout: PromDuration(st.target.timeout).to_string(),
            })
            .collect()
    }

    fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, Vec<(String, MetadataEntry)>)> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .map(|st| {
                let entries = st
                    .metadata
                    .iter()
                    .filter(|m| metric.is_none_or(|name| m.family == name))
                    .map(|m| {
                        (
                            m.family.clone(),
                            MetadataEntry {
                                kind: m.kind.as_str(),
                                help: m.help.clone(),
                                unit: m.unit.clone(),
                            },
                        )
                    })
                    .collect();
                (st.target.labels.clone(), entries)
            })
            .collect()
    }
}

/// Every role in one process.
pub(crate) async fn all(
    cfg: Config,
    web: WebSecurity,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let statuses = TargetStatuses::default();
    let view: SharedTargets = Arc::new(ScrapeTargets(statuses.clone()));
    let rules = SharedRulesStatus::default();
    let views = LocalViews {
        targets: Some(view),
        rules: Some(rules.clone() as Arc<dyn RulesView>),
        metadata: None,
        config_yaml: None,
    };
    let processing = has_stream_work(&cfg);
    // One set of probes; the query API's `/-/ready` reports every role's checks.
    spawn_kafka_probe(&cfg.kafka, cfg.kafka.samples_topic(), shutdown.clone());
    spawn_store_probe(open_store(&cfg)?, shutdown.clone());
    let (q, s, w, p) = tokio::join!(
        query_with_views(cfg.clone(), web.clone(), shutdown.clone(), views),
        run_sink(cfg.clone(), shutdown.clone()),
        scrape_reporting(cfg.clone(), web, shutdown.clone(), statuses),
        async move {
            if processing {
                run_process(cfg, false, shutdown, rules).await
            } else {
                Ok(())
            }
        },
    );
    q.and(s).and(w).and(p)
}
