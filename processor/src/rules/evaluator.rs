//! The rule evaluator's core, free of Kafka: records in, evaluations out.
//!
//! Each owned group evaluates at every multiple of its interval `t` once
//! the watermark has passed `t` (plus any look-ahead of negative offsets),
//! in event-time order across groups, over the window of recent samples.
//! Outputs (recorded series, `ALERTS`, `ALERTS_FOR_STATE`) go into the
//! window at once, so later evaluations see them as Prometheus' rules see
//! what earlier ones appended. Time comes only from the records, so the
//! same records give the same evaluations, however fast they are read —
//! the tests drive it on virtual time, and a restart that replays the
//! records rebuilds the same state.

use serde::{Deserialize, Serialize};
use sluice_model::{Labels, TimeSeries};
use sluice_promql::{Engine, EngineOptions, selector_needs};
use sluice_rules::{EvalContext, GroupOutput, GroupState, Rule, RuleGroup};

use super::watermark::Watermarks;
use super::window::RecentSamples;

/// A group this instance evaluates.
#[derive(Debug, Clone)]
pub(crate) struct OwnedGroup {
    /// The group.
    pub(crate) group: RuleGroup,
    /// `file` + name: the group's identity in checkpoints.
    pub(crate) key: String,
    /// Evaluation interval (the group's, else the global one).
    pub(crate) interval_ms: i64,
    /// How far past `t` its selectors read (negative offsets).
    ahead_ms: i64,
}

/// A group's evaluation state and where it stands in time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupProgress {
    /// Alerts and written series.
    pub(crate) state: GroupState,
    /// The last evaluation time.
    pub(crate) last_eval_ms: Option<i64>,
}

/// One group evaluation.
#[derive(Debug)]
pub(crate) struct Evaluation {
    /// Index into [`StreamEvaluator::groups`].
    pub(crate) group: usize,
    /// Evaluation time.
    pub(crate) at_ms: i64,
    /// What it produced.
    pub(crate) output: GroupOutput,
}

/// Server-wide settings of evaluations.
#[derive(Debug, Clone)]
pub(crate) struct EvalSettings {
    pub(crate) default_interval_ms: i64,
    pub(crate) lateness_ms: i64,
    pub(crate) resend_delay_ms: i64,
    pub(crate) external_labels: Labels,
    pub(crate) external_url: String,
    pub(crate) experimental_functions: bool,
}

/// Records in, evaluations out.
pub(crate) struct StreamEvaluator {
    pub(crate) groups: Vec<OwnedGroup>,
    pub(crate) progress: Vec<GroupProgress>,
    pub(crate) marks: Watermarks,
    window: RecentSamples,
    /// How far back any rule reads from its evaluation time.
    keep_ms: i64,
    engine: Engine,
    settings: EvalSettings,
}

impl StreamEvaluator {
    /// An evaluator of `groups`; every rule whose data needs cannot be
    /// bounded is reported (all at once).
    pub(crate) fn new(groups: Vec<RuleGroup>, settings: EvalSettings) -> Result<Self, Vec<String>> {
        let engine = Engine::new(EngineOptions {
            experimental_functions: settings.experimental_functions,
            ..EngineOptions::default()
        });
        let lookback = engine.options.lookback_delta_ms;
        let mut wanted = Vec::new();
        let mut keep_ms = lookback;
        let mut errors = Vec::new();
        let mut owned = Vec::new();
        for group in groups {
            let mut ahead_ms = 0;
            let offset = group.query_offset_ms.unwrap_or(0);
            for rule in &group.rules {
                // The expression, and template `query` calls, which read
                // data too (literal queries only: a query built at run time
                // may find nothing in the window).
                let mut reads = vec![(rule.expr().to_string(), String::new())];
                if let Rule::Alerting(a) = rule {
                    let templates = a.labels.iter().chain(&a.annotations);
                    reads.extend(
                        templates
                            .flat_map(|(_, t)| t.literal_queries())
                            .map(|q| (q.clone(), format!("template query {q:?}: "))),
                    );
                }
                for (query, what) in reads {
                    match selector_needs(&query, lookback) {
                        Ok(needs) => {
                            for n in needs {
                                keep_ms = keep_ms.max(n.reach_back_ms + offset);
                                ahead_ms = ahead_ms.max(n.reach_ahead_ms - offset);
                                wanted.extend(n.matcher_sets);
                            }
                        }
                        Err(e) => errors.push(format!(
                            "{}: group {:?}: rule {:?}: {what}{e}",
                            group.file,
                            group.name,
                            rule.name()
                        )),
                    }
                }
            }
            owned.push(OwnedGroup {
                key: group_key(&group),
                interval_ms: group.interval_ms.unwrap_or(settings.default_interval_ms),
                ahead_ms,
                group,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(StreamEvaluator {
            progress: owned
                .iter()
                .map(|g| GroupProgress {
                    state: GroupState::new(&g.group),
                    last_eval_ms: None,
                })
                .collect(),
            groups: owned,
            marks: Watermarks::default(),
            window: RecentSamples::new(wanted),
            keep_ms,
            engine,
            settings,
        })
    }

    /// Takes in one record's series from `partition`; returns the newest
    /// timestamp of the samples it kept (for replay bookkeeping).
    pub(crate) fn on_record(&mut self, partition: i32, series: &[TimeSeries]) -> Option<i64> {
        let mut newest_any = None;
        let mut oldest_any: Option<i64> = None;
        let mut newest_kept = None;
        for s in series {
            for x in &s.samples {
                newest_any = newest_any.max(Some(x.timestamp_ms));
                oldest_any = Some(oldest_any.map_or(x.timestamp_ms, |o| o.min(x.timestamp_ms)));
            }
            newest_kept = newest_kept.max(self.window.insert(s));
        }
        self.marks.observe(partition, oldest_any, newest_any);
        newest_kept
    }

    /// `partition` has been read to its end.
    pub(crate) fn caught_up(&mut self, partition: i32) {
        self.marks.caught_up(partition);
    }

    /// Runs every evaluation the watermark allows, in time order.
    pub(crate) async fn evaluate_due(&mut self) -> Vec<Evaluation> {
        let Some(watermark) = self.marks.advance(self.settings.lateness_ms) else {
            return Vec::new();
        };
        let mut due: Vec<(i64, usize)> = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            // A group never evaluated starts at the first interval boundary
            // at or after the oldest sample: where it starts must not
            // depend on how many records the first read happened to take.
            let earliest = self.marks.earliest.unwrap_or(watermark);
            let mut t = match self.progress[i].last_eval_ms {
                Some(last) => last + g.interval_ms,
                None => -(-earliest).div_euclid(g.interval_ms) * g.interval_ms,
            };
            while t + g.ahead_ms <= watermark {
                due.push((t, i));
                t += g.interval_ms;
            }
        }
        due.sort_unstable();
        let mut out = Vec::with_capacity(due.len());
        for (t, i) in due {
            let g = &self.groups[i];
            let ctx = EvalContext {
                engine: &self.engine,
                external_labels: &self.settings.external_labels,
                external_url: &self.settings.external_url,
                resend_delay_ms: self.settings.resend_delay_ms,
                interval_ms: g.interval_ms,
            };
            let output = self.progress[i].state.eval(&g.group, &ctx, &self.window, t).await;
            self.progress[i].last_eval_ms = Some(t);
            for s in &output.samples {
                self.window.insert(&TimeSeries {
                    labels: s.labels.clone(),
                    samples: vec![sluice_model::Sample::new(s.timestamp_ms, s.value)],
                });
            }
            out.push(Evaluation {
                group: i,
                at_ms: t,
                output,
            });
        }
        self.window.trim(self.window_start());
        out
    }

    /// The oldest sample time the next evaluations can read.
    pub(crate) fn window_start(&self) -> i64 {
        let next = self
            .groups
            .iter()
            .zip(&self.progress)
            .filter_map(|(g, p)| p.last_eval_ms.map(|t| t + g.interval_ms))
            .min();
        match (next, self.marks.earliest) {
            (Some(n), _) => n - self.keep_ms,
            (None, Some(e)) => e - self.keep_ms,
            (None, None) => i64::MIN,
        }
    }

    /// Samples held in memory.
    pub(crate) fn window_len(&self) -> usize {
        self.window.len()
    }
}

/// A group's identity: its file and name.
pub(crate) fn group_key(g: &RuleGroup) -> String {
    format!("{};{}", g.file, g.name)
}

/// Whether instance `index` of `count` evaluates group `g` (a stable hash
/// of its identity decides, so every instance agrees without talking).
pub(crate) fn owns_group(g: &RuleGroup, index: u32, count: u32) -> bool {
    let h = Labels::new([("file", g.file.as_str()), ("group", g.name.as_str())]).hash();
    h % u64::from(count.max(1)) == u64::from(index)
}
