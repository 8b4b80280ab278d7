//! The pushed groups, held in memory the way the Pushgateway holds them.
//!
//! A group is identified by its grouping key (`job` plus the URL's labels)
//! and holds metric families. `PUT` replaces the whole group, `POST`
//! replaces only the families it carries, `DELETE` removes the group. A push
//! is checked against everything already stored before it is applied, so
//! the store never holds what the Pushgateway would refuse to expose
//! (duplicate series, one metric name with two types); a refused push
//! changes nothing.
//!
//! The store is in memory only: a restart loses it, and clients push again
//! on their next run (the Pushgateway's `--persistence.file` has no
//! equivalent yet).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sluice_model::clock::TimeProvider;
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries};

use crate::exposition::{Exposition, MetricType};

/// The per-group series the store adds itself, as the Pushgateway does.
pub const PUSH_TIME_METRIC: &str = "push_time_seconds";
/// Reserved by the Pushgateway for failed pushes; refused as a pushed name.
const PUSH_FAILURE_TIME_METRIC: &str = "push_failure_time_seconds";

/// `PUT` or `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// `PUT`: the pushed families become the whole group.
    Replace,
    /// `POST`: the pushed families replace same-named families in the group.
    Merge,
}

/// Why a push was refused (the HTTP layer answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pushed metrics are invalid or inconsistent with existing metrics: {0}")]
pub struct PushError(pub String);

#[derive(Debug, Clone)]
struct Family {
    kind: MetricType,
    /// Final labels (grouping labels applied) and value.
    series: Vec<(Labels, f64)>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    families: BTreeMap<String, Family>,
    push_time_ms: i64,
}

/// All pushed groups.
#[derive(Debug)]
pub struct PushStore {
    groups: Mutex<BTreeMap<Labels, Group>>,
    clock: Arc<dyn TimeProvider>,
}

impl PushStore {
    /// An empty store; `clock` stamps `push_time_seconds`.
    pub fn new(clock: Arc<dyn TimeProvider>) -> Self {
        PushStore {
            groups: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    /// Applies a push to the group `grouping` (which includes `job`).
    /// Grouping labels override same-named labels of the pushed samples,
    /// as in the Pushgateway; an `instance` label is not added.
    pub fn push(&self, grouping: &Labels, expo: Exposition, mode: PushMode) -> Result<(), PushError> {
        let pushed = families_of(grouping, expo)?;
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut candidate = match (mode, groups.get(grouping)) {
            (PushMode::Merge, Some(g)) => g.families.clone(),
            _ => BTreeMap::new(),
        };
        candidate.extend(pushed);
        check_consistent(&groups, grouping, &candidate)?;
        groups.insert(
            grouping.clone(),
            Group {
                families: candidate,
                push_time_ms: self.clock.now_ms(),
            },
        );
        Ok(())
    }

    /// Removes a group; false if there was none.
    pub fn delete(&self, grouping: &Labels) -> bool {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.remove(grouping).is_some()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when nothing has been pushed (or everything was deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every stored sample at time `t_ms`, plus `push_time_seconds` per
    /// group (the time of its last successful push): what a scrape of the
    /// Pushgateway at `t_ms` would yield with `honor_labels: true`.
    pub fn snapshot(&self, t_ms: i64) -> Vec<TimeSeries> {
        let groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (key, group) in groups.iter() {
            for fam in group.families.values() {
                out.extend(fam.series.iter().map(|(labels, v)| TimeSeries {
                    labels: labels.clone(),
                    samples: vec![Sample::new(t_ms, *v)],
                }));
            }
            let mut labels = key.clone();
            labels.set(METRIC_NAME, PUSH_TIME_METRIC);
            out.push(TimeSeries {
                labels,
                samples: vec![Sample::new(t_ms, group.push_time_ms as f64 / 1000.0)],
            });
        }
        out
    }
}

/// Sorts the pushed samples into families, with grouping labels applied.
/// Pushed samples must not carry timestamps: the Pushgateway refuses them,
/// since a pushed value is re-exposed (and here re-emitted) at every
/// interval and a fixed timestamp would make that meaningless.
fn families_of(grouping: &Labels, expo: Exposition) -> Result<BTreeMap<String, Family>, PushError> {
    let Exposition { samples, metadata } = expo;
    let kinds: HashMap<&str, MetricType> = metadata.iter().map(|m| (m.family.as_str(), m.kind)).collect();
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for s in samples {
        let name = s.labels.metric_name().unwrap_or_default();
        if s.timestamp_ms.is_some() {
            return Err(PushError(format!(
                "pushed metrics must not have timestamps ({name})"
            )));
        }
        if name == PUSH_TIME_METRIC || name == PUSH_FAILURE_TIME_METRIC {
            return Err(PushError(format!(
                "{name} is reserved for the push time of a group"
            )));
        }
        let (family, kind) = family_of(name, &kinds);
        let family = family.to_string();
        let mut labels = s.labels;
        for l in grouping.iter() {
            labels.set(&l.name, &l.value);
        }
        out.entry(family)
            .or_insert_with(|| Family {
                kind,
                series: Vec::new(),
            })
            .series
            .push((labels, s.value));
    }
    Ok(out)
}

/// The family a text 0.0.4 sample belongs to: its own name, or for
/// `_bucket`/`_sum`/`_count` the histogram or summary it is part of.
fn family_of<'a>(name: &'a str, kinds: &HashMap<&str, MetricType>) -> (&'a str, MetricType) {
    if let Some(k) = kinds.get(name) {
        return (name, *k);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            match kinds.get(base) {
                Some(MetricType::Histogram) => return (base, MetricType::Histogram),
                Some(MetricType::Summary) if suffix != "_bucket" => return (base, MetricType::Summary),
                _ => {}
            }
        }
    }
    (name, MetricType::Unknown)
}

/// What the Pushgateway's gather would reject: a series exposed twice (in
/// this group or across groups), or a metric name with two types.
fn check_consistent(
    groups: &BTreeMap<Labels, Group>,
    key: &Labels,
    candidate: &BTreeMap<String, Family>,
) -> Result<(), PushError> {
    let mut seen: HashSet<&Labels> = HashSet::new();
    for fam in candidate.values() {
        for (labels, _) in &fam.series {
            if !seen.insert(labels) {
                return Err(PushError(format!("series {labels} is pushed more than once")));
            }
        }
    }
    for (other_key, other) in groups.iter().filter(|(k, _)| *k != key) {
        for (name, fam) in &other.families {
            if let Some(mine) = candidate.get(name)
                && mine.kind != fam.kind
            {
                return Err(PushError(format!(
                    "metric {name} is a {} here but a {} in group {other_key}",
                    mine.kind.as_str(),
                    fam.kind.as_str()
                )));
            }
            if let Some((labels, _)) = fam.series.iter().find(|(l, _)| seen.contains(l)) {
                return Err(PushError(format!(
                    "series {labels} is already pushed in group {other_key}"
                )));
            }
        }
    }
    Ok(())
}
