//! Running one test file the way `promtool test rules` does (Prometheus 3):
//! per test group, load the input series, evaluate every rule group at
//! each evaluation interval from the start time up to the last `eval_time`
//! (alerts are checked right after the evaluation covering their time),
//! then run the PromQL expectations over input plus recorded data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use sluice_model::Labels;
use sluice_promql::promqltest::{parse_metric, parse_series_desc};
use sluice_promql::{Engine, Value};

use super::file::{AlertTestDoc, TestFileDoc, TestGroupDoc, duration_ms, start_ms};
use super::report::{AlertView, alerts_string, float_e, go_duration, indent, labels_string, model_duration};
use super::storage::TestStorage;
use super::{FileReport, TestOptions};
use crate::group::DEFAULT_RESEND_DELAY_MS;
use crate::template::go_quote;
use crate::{EvalContext, GroupState, LoadOptions, Rule, RuleGroup, load_file};

/// Runs every selected test group of one file.
pub(crate) async fn run_file(path: &Path, opts: &TestOptions, engine: &Engine) -> FileReport {
    let mut warnings = Vec::new();
    let errors = run_groups(path, opts, engine, &mut warnings).await;
    FileReport { warnings, errors }
}

async fn run_groups(
    path: &Path,
    opts: &TestOptions,
    engine: &Engine,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: {e}", path.display())],
    };
    let doc: TestFileDoc = if text.trim().is_empty() {
        TestFileDoc::default()
    } else {
        match serde_yaml::from_str(&text) {
            Ok(d) => d,
            Err(e) => return vec![e.to_string()],
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let rule_files = resolve_rule_files(dir, &doc.rule_files, warnings);
    let eval_interval = match duration_ms(&doc.evaluation_interval) {
        Ok(0) => 60_000,
        Ok(d) => d,
        Err(e) => return vec![format!("evaluation_interval: {e}")],
    };
    let mut order = BTreeMap::new();
    for (i, g) in doc.group_eval_order.iter().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return vec![format!("group name repeated in evaluation order: {g}")];
        }
    }
    let run = if opts.run.is_empty() {
        None
    } else {
        match Regex::new(&opts.run.join("|")) {
            Ok(r) => Some(r),
            Err(e) => return vec![format!("--run: {e}")],
        }
    };
    let mut errors = Vec::new();
    for tg in &doc.tests {
        if run.as_ref().is_some_and(|r| !r.is_match(&tg.name)) {
            continue;
        }
        let ctx = GroupRun {
            eval_interval,
            order: &order,
            fuzzy: doc.fuzzy_compare,
            rule_files: &rule_files,
            opts,
            engine,
        };
        errors.extend(ctx.run(tg).await);
    }
    errors
}

/// Rule file paths relative to the test file, with `*`/`?` globs in the
/// file name expanded (sorted, as Go's `filepath.Glob`).
fn resolve_rule_files(dir: &Path, patterns: &[String], warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            dir.join(p)
        };
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let matches: Vec<PathBuf> = if name.contains(['*', '?']) {
            let parent = full.parent().unwrap_or(Path::new("."));
            let mut m: Vec<PathBuf> = std::fs::read_dir(parent)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|e| {
                    e.file_name()
                        .is_some_and(|n| wildcard(&name, &n.to_string_lossy()))
                })
                .collect();
            m.sort();
            m
        } else if full.exists() {
            vec![full.clone()]
        } else {
            Vec::new()
        };
        if matches.is_empty() {
            warnings.push(format!("no file match pattern {}", full.display()));
        }
        out.extend(matches);
    }
    out
}

/// `*` and `?` matching on a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(&p, &n)
}

/// What every test group of a file shares.
struct GroupRun<'a> {
    eval_interval: i64,
    order: &'a BTreeMap<String, usize>,
    fuzzy: bool,
    rule_files: &'a [PathBuf],
    opts: &'a TestOptions,
    engine: &'a Engine,
}

impl GroupRun<'_> {
    async fn run(&self, tg: &TestGroupDoc) -> Vec<String> {
        let start = match start_ms(&tg.start_timestamp) {
            Ok(s) => s,
            Err(e) => return vec![e],
        };
        let interval = match duration_ms(&tg.interval) {
            Ok(0) => self.eval_interval,
            Ok(d) => d,
            Err(e) => return vec![format!("interval: {e}")],
        };
        let mut storage = TestStorage::default();
        for s in &tg.input_series {
            let desc = match parse_series_desc(&format!("{} {}", s.series, s.values)) {
                Ok(d) => d,
                Err(e) => return vec![format!("error in input_series {:?}: {e}", s.series)],
            };
            for (i, v) in desc.values.iter().enumerate() {
                if let Some(v) = v {
                    storage.append(&desc.labels, start + i as i64 * interval, *v);
                }
            }
        }
        let groups = match self.load_groups() {
            Ok(g) => g,
            Err(e) => return e,
        };
        let external_labels = Labels::new(tg.external_labels.iter().map(|(k, v)| (k.as_str(), v.0.as_str())));

        // Alert expectations by eval time, checked after the evaluation at
        // the last evaluation time not after them.
        let mut alert_tests: BTreeMap<i64, Vec<&AlertTestDoc>> = BTreeMap::new();
        for a in &tg.alert_rule_test {
            if a.alertname.is_empty() {
                let in_group = if tg.name.is_empty() {
                    String::new()
                } else {
                    format!(" (in TestGroup {})", tg.name)
                };
                return vec![format!(
                    "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                    model_duration(duration_ms(&a.eval_time).unwrap_or(0))
                )];
            }
            match duration_ms(&a.eval_time) {
                Ok(t) => alert_tests.entry(t).or_default().push(a),
                Err(e) => return vec![format!("eval_time: {e}")],
            }
        }
        let mut max_eval = alert_tests.keys().next_back().copied().unwrap_or(0);
        for p in &tg.promql_expr_test {
            match duration_ms(&p.eval_time) {
                Ok(t) => max_eval = max_eval.max(t),
                Err(e) => return vec![format!("eval_time: {e}")],
            }
        }

        let mut states: Vec<GroupState> = groups.iter().map(GroupState::new).collect();
        let mut errors = Vec::new();
        let mut pending_checks = alert_tests.into_iter().peekable();
        let mut ts = start;
        while ts <= start + max_eval {
            storage.visible_until_ms = ts;
            let mut eval_errors = Vec::new();
            for (group, state) in groups.iter().zip(states.iter_mut()) {
                let ctx = EvalContext {
                    engine: self.engine,
                    external_labels: &external_labels,
                    external_url: &tg.external_url,
                    resend_delay_ms: DEFAULT_RESEND_DELAY_MS,
                    interval_ms: group.interval_ms.unwrap_or(interval),
                };
                let out = state.eval(group, &ctx, &storage, ts).await;
                for s in &out.samples {
                    storage.append(&s.labels, s.timestamp_ms, s.value);
                }
                for o in out.outcomes {
                    if let Some(e) = o.error {
                        eval_errors.push(format!(
                            "    rule: {}, time: {}, err: {e}",
                            o.name,
                            go_duration(ts)
                        ));
                    }
                }
            }
            if !eval_errors.is_empty() {
                errors.extend(eval_errors);
                return errors;
            }
            while let Some((t, _)) = pending_checks.peek() {
                if !(ts - start <= *t && *t < ts - start + self.eval_interval) {
                    break;
                }
                let (t, tests) = pending_checks.next().unwrap_or_default();
                errors.extend(check_alerts(tg, t, &tests, &groups, &states));
            }
            ts += self.eval_interval;
        }
        storage.visible_until_ms = start + max_eval;
        for p in &tg.promql_expr_test {
            let t = duration_ms(&p.eval_time).unwrap_or(0);
            if let Some(e) = self.check_expr(&storage, &p.expr, t, start, &p.exp_samples).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Every rule file's groups, ordered by `group_eval_order` (groups it
    /// does not name sort as its first entry, as promtool's partial order).
    fn load_groups(&self) -> Result<Vec<RuleGroup>, Vec<String>> {
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        let opts = LoadOptions {
            ignore_unknown_fields: self.opts.ignore_unknown_fields,
        };
        for f in self.rule_files {
            match load_file(f, opts) {
                Ok(g) => groups.extend(g),
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        groups.sort_by_key(|g| self.order.get(&g.name).copied().unwrap_or(0));
        Ok(groups)
    }

    async fn check_expr(
        &self,
        storage: &TestStorage,
        expr: &str,
        eval_time: i64,
        start: i64,
        expected: &[super::file::ExpSampleDoc],
    ) -> Option<String> {
        let head = format!(
            "    expr: {}, time: {}",
            go_quote(expr),
            model_duration(eval_time)
        );
        let got = match self.engine.instant(storage, expr, start + eval_time).await {
            Ok(r) => match r.value {
                Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
                Value::Scalar { value, .. } => vec![(Labels::default(), value)],
                _ => return Some(format!("{head}, err: rule result is not a vector or scalar")),
            },
            Err(e) => return Some(format!("{head}, err: {e}")),
        };
        let mut exp = Vec::new();
        for s in expected {
            if !s.histogram.is_empty() {
                return Some(format!(
                    "{head}, err: labels {}: native histogram expectations are not supported by Sluice",
                    go_quote(&s.labels)
                ));
            }
            match parse_metric(&s.labels) {
                Ok(l) => exp.push((l, s.value)),
                Err(e) => return Some(format!("{head}, err: labels {}: {e}", go_quote(&s.labels))),
            }
        }
        let mut got: Vec<(Labels, f64)> = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && floats_equal(e.1, g.1, self.fuzzy));
        (!same).then(|| {
            format!(
                "{head},\n        exp: {}\n        got: {}",
                samples_string(&exp),
                samples_string(&got)
            )
        })
    }
}

/// Exact comparison, or with `fuzzy_compare` one unit in the last place
/// either way (promtool's comparer). NaN never equals NaN, as in Go.
pub(crate) fn floats_equal(x: f64, y: f64, fuzzy: bool) -> bool {
    x == y || (fuzzy && (x.next_down() == y || x.next_up() == y))
}

fn samples_string(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return "nil".into();
    }
    samples
        .iter()
        .map(|(l, v)| format!("{} {}", labels_string(l), float_e(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares the firing alerts of the named rules with the expectations at
/// one eval time.
fn check_alerts(
    tg: &TestGroupDoc,
    eval_time: i64,
    tests: &[&AlertTestDoc],
    groups: &[RuleGroup],
    states: &[GroupState],
) -> Vec<String> {
    let names: BTreeSet<&str> = tests.iter().map(|t| t.alertname.as_str()).collect();
    let mut got: BTreeMap<&str, Vec<AlertView>> = BTreeMap::new();
    for (group, state) in groups.iter().zip(states) {
        for (i, rule) in group.rules.iter().enumerate() {
            let Rule::Alerting(a) = rule else { continue };
            if !names.contains(a.name.as_str()) {
                continue;
            }
            let firing = state
                .alerts(i)
                .filter(|al| al.state == crate::AlertState::Firing)
                .map(|al| AlertView {
                    labels: al.labels.clone(),
                    annotations: al.annotations.clone(),
                });
            got.entry(a.name.as_str()).or_default().extend(firing);
        }
    }
    let mut errors = Vec::new();
    for t in tests {
        let mut got_alerts = got.get(t.alertname.as_str()).cloned().unwrap_or_default();
        let mut exp_alerts: Vec<AlertView> = t
            .exp_alerts
            .iter()
            .map(|e| {
                let mut labels = Labels::new(e.exp_labels.iter().map(|(k, v)| (k.as_str(), v.0.as_str())));
                labels.set("alertname", &t.alertname);
                AlertView {
                    labels,
                    annotations: e
                        .exp_annotations
                        .iter()
                        .map(|(k, v)| (k.clone(), v.0.clone()))
                        .collect(),
                }
            })
            .collect();
        got_alerts.sort();
        exp_alerts.sort();
        if got_alerts != exp_alerts {
            let name = if tg.name.is_empty() {
                String::new()
            } else {
                format!("    name: {},\n", tg.name)
            };
            errors.push(format!(
                "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                t.alertname,
                model_duration(eval_time),
                indent(&alerts_string(&exp_alerts), "            "),
                indent(&alerts_string(&got_alerts), "            ")
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_compare_allows_one_ulp_only() {
        assert!(floats_equal(3.0, 3.0, false));
        assert!(!floats_equal(3.0, 2.9999999999999996, false));
        assert!(floats_equal(3.0, 2.9999999999999996, true));
        assert!(floats_equal(3.0, 3.0000000000000004, true));
        assert!(!floats_equal(3.0, 2.9999999999999987, true));
        assert!(!floats_equal(f64::NAN, f64::NAN, true));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("rules*.yml", "rules_a.yml"));
        assert!(wildcard("r?.yml", "r1.yml"));
        assert!(!wildcard("r?.yml", "r12.yml"));
    }
}
