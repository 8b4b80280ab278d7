//! `file_sd_configs`: target groups read from YAML or JSON files.
//!
//! The files matching the globs are re-read every `refresh_interval`
//! (polling: it works on every filesystem, including ConfigMap volumes whose
//! symlink swaps inotify-based watchers miss). Each group of a file gets the
//! source `<path>:<index>` and the label `__meta_filepath`, as in Prometheus.
//! A file that cannot be read or parsed keeps its previous groups (logged);
//! a file that is gone takes its groups with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_model::{Labels, PromDuration};
use tokio::sync::watch;
use tracing::warn;

use super::{ADDRESS_LABEL, DiscoveryUpdate, TargetGroup, UpdateSender};
use crate::config::is_valid_label_name;

/// The label carrying the file a target came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// One `file_sd_configs:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSdConfig {
    /// Glob patterns; the last path element may contain `*` and must end in
    /// `.json`, `.yml` or `.yaml`.
    pub files: Vec<String>,
    /// How often the files are re-read (Prometheus default 5m).
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: PromDuration,
}

fn default_refresh_interval() -> PromDuration {
    PromDuration::from_secs(300)
}

impl FileSdConfig {
    /// Problems with the values, each with its config path.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.files.is_empty() {
            errs.push(format!("{path}.files: must list at least one file"));
        }
        for (i, f) in self.files.iter().enumerate() {
            if let Err(e) = check_pattern(f) {
                errs.push(format!("{path}.files[{i}]: {e}"));
            }
        }
        if self.refresh_interval.0.is_zero() {
            errs.push(format!("{path}.refresh_interval: must be greater than 0"));
        }
        errs
    }
}

/// Prometheus' rule: a wildcard only in the last path element, and a known
/// extension.
fn check_pattern(pattern: &str) -> Result<(), String> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if dir.contains('*') {
        return Err(format!(
            "{pattern:?}: a wildcard is only allowed in the last path element"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".json") || lower.ends_with(".yml") || lower.ends_with(".yaml")) {
        return Err(format!("{pattern:?}: must end in .json, .yml or .yaml"));
    }
    glob::Pattern::new(pattern).map_err(|e| format!("{pattern:?}: {e}"))?;
    Ok(())
}

/// One group as written in a file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses one file's groups; the format follows the extension.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<TargetGroup>, String> {
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let groups: Vec<FileGroup> = if is_json {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    } else {
        // An empty YAML file is an empty list, not an error.
        if text.trim().is_empty() {
            Vec::new()
        } else {
            serde_yaml::from_str(text).map_err(|e| e.to_string())?
        }
    };
    let filepath = path.display().to_string();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            for name in g.labels.keys() {
                if !is_valid_label_name(name) {
                    return Err(format!("group {i}: {name:?} is not a valid label name"));
                }
            }
            let mut labels = Labels::new(g.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            labels.set(FILEPATH_LABEL, &filepath);
            Ok(TargetGroup {
                source: format!("{filepath}:{i}"),
                targets: g
                    .targets
                    .iter()
                    .map(|a| Labels::new([(ADDRESS_LABEL, a.as_str())]))
                    .collect(),
                labels,
            })
        })
        .collect()
}

/// Polls the files of one `file_sd_configs` entry.
pub struct FileProvider {
    config: FileSdConfig,
    job: String,
    name: String,
    /// Groups last sent, per file.
    sent: BTreeMap<PathBuf, Vec<TargetGroup>>,
}

impl FileProvider {
    /// A provider named `name` (e.g. `file/0`) for `job`.
    pub fn new(config: FileSdConfig, job: String, name: String) -> Self {
        FileProvider {
            config,
            job,
            name,
            sent: BTreeMap::new(),
        }
    }

    /// Reads the files now and every `refresh_interval` until shutdown.
    pub async fn run(mut self, updates: UpdateSender, mut shutdown: watch::Receiver<bool>) {
        let interval: Duration = self.config.refresh_interval.0;
        loop {
            let groups = self.refresh();
            if !groups.is_empty() {
                let update = DiscoveryUpdate {
                    job: self.job.clone(),
                    provider: self.name.clone(),
                    groups,
                };
                if updates.send(update).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// Re-reads every file; returns the groups that changed (removed groups
    /// as empty groups).
    pub fn refresh(&mut self) -> Vec<TargetGroup> {
        let mut current: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
        for pattern in &self.config.files {
            let paths = match glob::glob(pattern) {
                Ok(p) => p,
                Err(e) => {
                    warn!(pattern = %pattern, error = %e, "file_sd: bad pattern");
                    continue;
                }
            };
            for path in paths.flatten() {
                let parsed = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| parse_file(&path, &text));
                match parsed {
                    Ok(groups) => {
                        current.insert(path, groups);
                    }
                    Err(e) => {
                        warn!(file = %path.display(), error = %e, "file_sd: keeping the file's previous targets");
                        let previous = self.sent.get(&path).cloned().unwrap_or_default();
                        current.insert(path, previous);
                    }
                }
            }
        }
        let mut changed = Vec::new();
        for (path, old) in &self.sent {
            let new = current.get(path).map(Vec::as_slice).unwrap_or_default();
            for g in old.iter().skip(new.len()) {
                changed.push(TargetGroup::removed(g.source.clone()));
            }
        }
        for (path, new) in &current {
            let old = self.sent.get(path).map(Vec::as_slice).unwrap_or_default();
            for (i, g) in new.iter().enumerate() {
                if old.get(i) != Some(g) {
                    changed.push(g.clone());
                }
            }
        }
        self.sent = current;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(dir: &Path) -> FileProvider {
        let cfg = FileSdConfig {
            files: vec![
                format!("{}/*.json", dir.display()),
                format!("{}/*.yml", dir.display()),
            ],
            refresh_interval: PromDuration::from_secs(1),
        };
        FileProvider::new(cfg, "j".into(), "file/0".into())
    }

    #[test]
    fn reads_yaml_and_json_and_reports_changes_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        let yml = dir.path().join("b.yml");
        std::fs::write(
            &json,
            r#"[{"targets": ["h:1", "h:2"], "labels": {"env": "prod"}}]"#,
        )
        .unwrap();
        std::fs::write(
            &yml,
            "- targets: ['h:3']\n- targets: ['h:4']\n  labels: {team: x}\n",
        )
        .unwrap();
        let mut p = provider(dir.path());

        let first = p.refresh();
        assert_eq!(first.len(), 3);
        let a0 = &first[0];
        assert_eq!(a0.source, format!("{}:0", json.display()));
        assert_eq!(
            a0.targets,
            vec![
                Labels::new([("__address__", "h:1")]),
                Labels::new([("__address__", "h:2")])
            ]
        );
        assert_eq!(
            a0.labels,
            Labels::new([
                ("env", "prod"),
                ("__meta_filepath", json.display().to_string().as_str())
            ])
        );
        assert_eq!(first[2].labels.get("team"), Some("x"));

        // Unchanged files send nothing.
        assert!(p.refresh().is_empty());

        // A shorter file removes its trailing group; a changed group is resent.
        std::fs::write(&yml, "- targets: ['h:5']\n").unwrap();
        let second = p.refresh();
        assert_eq!(second.len(), 2, "{second:?}");
        assert!(second.contains(&TargetGroup::removed(format!("{}:1", yml.display()))));
        assert!(
            second
                .iter()
                .any(|g| g.targets == vec![Labels::new([("__address__", "h:5")])])
        );

        // A broken file keeps its targets; a deleted file drops them.
        std::fs::write(&json, "[{").unwrap();
        assert!(p.refresh().is_empty());
        std::fs::remove_file(&json).unwrap();
        assert_eq!(
            p.refresh(),
            vec![TargetGroup::removed(format!("{}:0", json.display()))]
        );
    }

    #[test]
    fn patterns_are_checked_like_prometheus() {
        let cfg = FileSdConfig {
            files: vec!["/a/*/b.json".into(), "/a/b.txt".into(), "/a/*.yaml".into()],
            refresh_interval: PromDuration::from_secs(0),
        };
        let errs = cfg.validate("x");
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("x.files[0]"));
        assert!(errs[1].starts_with("x.files[1]"));
        assert!(errs[2].starts_with("x.refresh_interval"));
    }

    #[test]
    fn invalid_label_names_fail_the_file() {
        let e = parse_file(Path::new("t.yml"), "- targets: ['h:1']\n  labels: {'a-b': x}\n").unwrap_err();
        assert!(e.contains("a-b"), "{e}");
    }
}
