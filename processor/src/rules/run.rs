//! The rule evaluator as a stream operator ([`crate::operator`]): the samples topic in (every
//! partition), recorded series and `ALERTS` back onto the samples topic,
//! state changes onto the alerts topic, notifications to Alertmanager.
//!
//! Durability per checkpoint: outputs are acknowledged as they are
//! produced; the checkpoint then records each group's state and last
//! evaluation time, the watermark, and per input partition both the next
//! offset and the *replay* offset (the oldest record whose samples the
//! window still holds), plus the alerts topic's end offsets. A restart
//! seeks to the replay offsets, so the window is rebuilt before any new
//! evaluation; groups resume after their last evaluation, so a pending
//! alert's `for` timer continues where it was; and state changes found on
//! the alerts topic past the checkpointed end offsets (published after the
//! checkpoint, before the crash) are not published again. Recorded series
//! may be written twice; the sink keeps one sample per series and time.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sluice_ingest::publish::{KafkaPublisher, SampleWriter};
use sluice_ingest::topics::{ensure_rules_status_topic, ensure_topics};
use sluice_model::kafka::KafkaConfig;
use sluice_model::telemetry::{self, Counter, Gauge};
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_rules::RuleGroup;
use sluice_rules::status::{GroupStatus, RuleStatus, RulesStatus, SharedRulesStatus};
use tokio::sync::watch;
use tracing::{info, warn};

use super::alert_record::AlertRecord;
use super::alerts_topic::{AlertsTopic, RecordIdentity};
use super::config::{AlertingConfig, RuleEvalConfig};
use super::evaluator::{EvalSettings, Evaluation, GroupProgress, StreamEvaluator, owns_group};
use super::notifier::Notifier;
use super::status_topic::StatusTopic;
use super::watermark::Watermarks;
use crate::ProcessorError;
use crate::checkpoint::CheckpointStore;
use crate::consumer::{BusConsumer, BusRecord, Shard};
use crate::operator::{self, Operator, RunOptions, retry_until_written};

/// What the rule evaluator is given.
pub struct RuleStage<'a> {
    /// Broker and topics.
    pub kafka: &'a KafkaConfig,
    /// `rule_evaluation:`.
    pub cfg: &'a RuleEvalConfig,
    /// `alerting:`.
    pub alerting: &'a AlertingConfig,
    /// Every loaded group (this instance keeps its shard of them).
    pub groups: Vec<RuleGroup>,
    /// `global.evaluation_interval`, ms.
    pub default_interval_ms: i64,
    /// `global.external_labels`.
    pub external_labels: Labels,
    /// Where `/api/v1/rules` and `/api/v1/alerts` read from.
    pub status: SharedRulesStatus,
    /// `query.experimental_functions`: rules may use `limitk` and
    /// `limit_ratio` (one switch for queries and rules, as Prometheus'
    /// feature flag).
    pub experimental_functions: bool,
}

/// One input partition's position in the checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PartitionProgress {
    next_offset: i64,
    replay_offset: i64,
}

/// The evaluator's checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RulesCheckpoint {
    groups: BTreeMap<String, GroupProgress>,
    watermarks: Watermarks,
    partitions: BTreeMap<i32, PartitionProgress>,
    alerts_end_offsets: BTreeMap<i32, i64>,
}

/// Per partition: the records whose samples the window may still hold.
#[derive(Debug, Default)]
struct ReplayLog {
    /// (offset, newest kept sample time), ascending by offset.
    records: VecDeque<(i64, i64)>,
    next_offset: i64,
}

impl ReplayLog {
    fn replay_offset(&self) -> i64 {
        self.records.front().map_or(self.next_offset, |(o, _)| *o)
    }

    fn trim(&mut self, window_start: i64) {
        while self.records.front().is_some_and(|(_, t)| *t < window_start) {
            self.records.pop_front();
        }
    }
}

/// Runs until `shutdown` turns true, then checkpoints and returns.
pub async fn run_rule_evaluator(
    stage: RuleStage<'_>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let RuleStage {
        kafka,
        cfg,
        alerting,
        groups,
        default_interval_ms,
        external_labels,
        status,
        experimental_functions,
    } = stage;
    let input = kafka.samples_topic();
    let alerts_topic_name = cfg.alerts_topic(kafka);
    let state_topic = cfg.state_topic(kafka);
    ensure_topics(
        kafka,
        &[input.clone(), alerts_topic_name.clone(), state_topic.clone()],
    )
    .await
    .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
    ensure_rules_status_topic(kafka)
        .await
        .map_err(|e| ProcessorError::Kafka(e.to_string()))?;

    // Each owned group's position among all loaded groups: query roles
    // merge the shards' groups back into this order.
    let (orders, owned): (Vec<u64>, Vec<RuleGroup>) = groups
        .into_iter()
        .enumerate()
        .filter(|(_, g)| owns_group(g, cfg.shard_index, cfg.shard_count))
        .map(|(i, g)| (i as u64, g))
        .unzip();
    let settings = EvalSettings {
        default_interval_ms,
        lateness_ms: cfg.allowed_lateness.as_millis(),
        resend_delay_ms: cfg.resend_delay.as_millis(),
        external_labels: external_labels.clone(),
        external_url: cfg.external_url.clone(),
        experimental_functions,
    };
    let mut eval = StreamEvaluator::new(owned, settings).map_err(|e| ProcessorError::Kafka(e.join("; ")))?;
    let keys: HashSet<String> = eval.groups.iter().map(|g| g.key.clone()).collect();

    let samples_out = KafkaPublisher::connect(kafka, input.clone())
        .await
        .map_err(|e| ProcessorError::Kafka(e.to_string()))?;
    let alerts = AlertsTopic::new(kafka, alerts_topic_name.clone())?;
    let store = CheckpointStore::new(kafka, &state_topic)?;
    let state_partition = cfg.shard_index as i32;
    let mut status_topic = StatusTopic::new(
        kafka,
        (cfg.shard_index, cfg.shard_count),
        cfg.status_ttl.0,
        orders,
    )?;

    // Restore: group states, watermark, where to replay from, and what
    // was already published after the checkpoint.
    let checkpoint: RulesCheckpoint = store.load_value(state_partition)?.unwrap_or_default();
    let restored = !checkpoint.partitions.is_empty();
    for (g, p) in eval.groups.iter().zip(eval.progress.iter_mut()) {
        if let Some(saved) = checkpoint.groups.get(&g.key) {
            *p = saved.clone();
        }
    }
    eval.marks = checkpoint.watermarks.clone();
    let already_published: HashSet<RecordIdentity> = if restored {
        alerts.published_since(&checkpoint.alerts_end_offsets, &keys)?
    } else {
        HashSet::new()
    };
    let resume = |p: i32| Some(checkpoint.partitions.get(&p).map_or(0, |pp| pp.replay_offset));
    let consumer =
        BusConsumer::assign_reporting_caught_up(kafka, &cfg.group_id, &input, Shard::ALL, &resume)?;
    eval.marks.track(consumer.partitions());
    let logs: BTreeMap<i32, ReplayLog> = consumer
        .partitions()
        .iter()
        .map(|p| {
            let next = checkpoint.partitions.get(p).map_or(0, |pp| pp.replay_offset);
            (
                *p,
                ReplayLog {
                    records: VecDeque::new(),
                    next_offset: next,
                },
            )
        })
        .collect();

    let notifier = Notifier::start(
        alerting.endpoints(),
        alerting
            .alertmanagers
            .first()
            .map_or(Duration::from_secs(10), |a| a.timeout.0),
        external_labels,
        shutdown.clone(),
    );
    let m = Metrics::new();
    info!(
        groups = eval.groups.len(),
        shard_index = cfg.shard_index,
        shard_count = cfg.shard_count,
        restored,
        suppressed = already_published.len(),
        "rule evaluator started"
    );
    update_status(&eval, &status, 0.0);
    // The restored state at once: a restart within status_ttl is not seen.
    status_topic.publish(&status);

    let mut op = RuleOperator {
        eval,
        logs,
        samples_out,
        alerts,
        already_published,
        notifier,
        status,
        status_topic,
        store,
        state_partition,
        m,
    };
    operator::run(
        &mut op,
        &consumer,
        RunOptions::every(cfg.checkpoint_interval.0),
        shutdown,
    )
    .await
}

/// The rule-evaluation operator: the evaluator, what it must replay after a
/// restart, and where its outputs go.
struct RuleOperator {
    eval: StreamEvaluator,
    logs: BTreeMap<i32, ReplayLog>,
    samples_out: KafkaPublisher,
    alerts: AlertsTopic,
    /// State changes already on the alerts topic past the checkpoint (only
    /// right after a restart).
    already_published: HashSet<RecordIdentity>,
    notifier: Option<(Notifier, tokio::task::JoinHandle<()>)>,
    status: SharedRulesStatus,
    status_topic: StatusTopic,
    store: CheckpointStore,
    state_partition: i32,
    m: Metrics,
}

impl Operator for RuleOperator {
    fn name(&self) -> &'static str {
        "rule evaluator"
    }

    fn on_batch(&mut self, records: Vec<BusRecord>) {
        for rec in records {
            let kept = self.eval.on_record(rec.partition, &rec.series);
            let log = self.logs.entry(rec.partition).or_default();
            if let Some(t) = kept {
                log.records.push_back((rec.offset, t));
            }
            log.next_offset = rec.offset + 1;
        }
    }

    fn on_caught_up(&mut self, partition: i32) {
        self.eval.caught_up(partition);
    }

    /// Evaluates every group whose next evaluation the watermark passed,
    /// writes the outputs, notifies Alertmanager, refreshes the API's view.
    async fn on_watermark(&mut self, shutdown: &watch::Receiver<bool>) -> Result<(), ProcessorError> {
        let started = Instant::now();
        let evaluations = self.eval.evaluate_due().await;
        if !evaluations.is_empty() {
            let took = started.elapsed().as_secs_f64() / evaluations.len() as f64;
            publish_outputs(
                &self.eval,
                &evaluations,
                &self.samples_out,
                &self.alerts,
                &mut self.already_published,
                &self.m,
                shutdown,
            )
            .await?;
            if let Some((n, _)) = &self.notifier {
                for e in &evaluations {
                    n.send(e.output.notifications.clone());
                }
            }
            update_status(&self.eval, &self.status, took);
            self.status_topic.changed();
        }
        self.status_topic.publish_if_due(&self.status);
        let window_start = self.eval.window_start();
        for log in self.logs.values_mut() {
            log.trim(window_start);
        }
        self.m.window.set(self.eval.window_len() as f64);
        if let Some(w) = self.eval.marks.current {
            self.m.watermark.set(w as f64 / 1000.0);
        }
        Ok(())
    }

    async fn checkpoint(&mut self) -> Result<BTreeMap<i32, i64>, ProcessorError> {
        let cp = RulesCheckpoint {
            groups: self
                .eval
                .groups
                .iter()
                .zip(&self.eval.progress)
                .map(|(g, p)| (g.key.clone(), p.clone()))
                .collect(),
            watermarks: self.eval.marks.clone(),
            partitions: self
                .logs
                .iter()
                .map(|(p, l)| {
                    (
                        *p,
                        PartitionProgress {
                            next_offset: l.next_offset,
                            replay_offset: l.replay_offset(),
                        },
                    )
                })
                .collect(),
            alerts_end_offsets: self.alerts.end_offsets()?,
        };
        self.store.save_value(self.state_partition, &cp).await?;
        // Also the status' heartbeat: without new samples no group
        // evaluates, but the shard is alive and its groups' status stands.
        self.status_topic.publish(&self.status);
        // Everything before the new checkpoint is known; the set only
        // guards the replay right after a restart.
        self.already_published.clear();
        Ok(self.logs.iter().map(|(p, l)| (*p, l.next_offset)).collect())
    }

    async fn on_stop(&mut self) {
        // The last checkpoint's status, delivered before the process ends.
        self.status_topic.flush().await;
        if let Some((_, task)) = self.notifier.take() {
            let _ = task.await;
        }
    }
}

/// Writes recorded series and `ALERTS` to the samples topic and state
/// changes to the alerts topic, retrying while Kafka is away: a checkpoint
/// must never get ahead of its outputs.
async fn publish_outputs(
    eval: &StreamEvaluator,
    evaluations: &[Evaluation],
    samples_out: &KafkaPublisher,
    alerts: &AlertsTopic,
    already_published: &mut HashSet<RecordIdentity>,
    m: &Metrics,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let mut series: Vec<TimeSeries> = Vec::new();
    let mut records: Vec<AlertRecord> = Vec::new();
    for e in evaluations {
        let g = &eval.groups[e.group];
        m.evaluations.inc();
        for o in &e.output.outcomes {
            if let Some(err) = &o.error {
                m.failures.inc();
                warn!(group = %g.group.name, rule = %o.name, at_ms = e.at_ms, error = %err, "rule evaluation failed");
            }
        }
        series.extend(e.output.samples.iter().map(|s| TimeSeries {
            labels: s.labels.clone(),
            samples: vec![Sample::new(s.timestamp_ms, s.value)],
        }));
        for t in &e.output.transitions {
            let r = AlertRecord::from_transition(t, &g.group.name, &g.group.file);
            if !already_published.remove(&r.identity()) {
                records.push(r);
            }
        }
    }
    retry_until_written("writing rule outputs", shutdown, || {
        samples_out.write(series.clone())
    })
    .await?;
    retry_until_written("writing alert records", shutdown, || alerts.publish(&records)).await?;
    m.alert_records.inc_by(records.len() as u64);
    Ok(())
}

/// Refreshes what the API of this process shows (and what the next
/// rules-status write carries).
fn update_status(eval: &StreamEvaluator, status: &SharedRulesStatus, eval_seconds: f64) {
    let groups = eval
        .groups
        .iter()
        .zip(&eval.progress)
        .map(|(g, p)| GroupStatus {
            name: g.group.name.clone(),
            file: g.group.file.clone(),
            interval_ms: g.interval_ms,
            last_eval_ms: p.last_eval_ms,
            eval_seconds,
            rules: g
                .group
                .rules
                .iter()
                .enumerate()
                .map(|(i, rule)| RuleStatus {
                    rule: rule.clone(),
                    last_error: p.state.rules.get(i).and_then(|r| r.last_error.clone()),
                    evaluated: p.last_eval_ms.is_some(),
                    alerts: p.state.alerts(i).cloned().collect(),
                })
                .collect(),
        })
        .collect();
    *status.write().unwrap_or_else(|e| e.into_inner()) = RulesStatus { groups };
}

struct Metrics {
    evaluations: Counter,
    failures: Counter,
    alert_records: Counter,
    window: Gauge,
    watermark: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let reg = telemetry::global();
        Metrics {
            evaluations: reg.counter(
                "sluice_rule_group_evaluations_total",
                "Rule group evaluations.",
                &[],
            ),
            failures: reg.counter(
                "sluice_rule_evaluation_failures_total",
                "Rule evaluations that failed.",
                &[],
            ),
            alert_records: reg.counter(
                "sluice_alert_records_total",
                "Alert state changes written to the alerts topic.",
                &[],
            ),
            window: reg.gauge(
                "sluice_rule_window_samples",
                "Samples the rule evaluator holds in memory.",
                &[],
            ),
            watermark: reg.gauge(
                "sluice_rule_watermark_seconds",
                "Event time up to which rule groups have been evaluated.",
                &[],
            ),
        }
    }
}
