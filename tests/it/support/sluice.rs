//! The real `sluice` binary with a generated config.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::free_port;
use super::process::Proc;

/// The binary cargo built for these tests, or the one `SLUICE_BIN` names
/// (benchmarks run an earlier build against a newer one on the same box).
pub(crate) fn binary() -> PathBuf {
    std::env::var_os("SLUICE_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sluice")), PathBuf::from)
}

/// A config for one test: broker, segment dir, API port, scrape targets.
pub(crate) struct TestConfig {
    pub dir: PathBuf,
    pub brokers: String,
    pub listen_port: u16,
    pub receive_port: u16,
    /// Health listeners of the sink and process roles.
    pub sink_health_port: u16,
    pub process_health_port: u16,
    pub targets: Vec<(String, Vec<String>)>,
    pub scrape_interval: &'static str,
    pub flush_interval: &'static str,
    pub partitions: i32,
    /// Replaces the segment directory as `sink.path` (e.g. an `s3://` URL).
    pub sink_location: Option<String>,
    /// More `sink:` lines, indented by two spaces (compaction, storage options).
    pub sink_extra: String,
    /// More top-level sections, appended as they are (e.g. `downsample:`).
    pub sections: String,
    /// More `kafka:` lines, indented by two spaces.
    pub kafka_extra: String,
    /// More `receive:` lines, indented by two spaces.
    pub receive_extra: String,
    /// More `query:` lines, indented by two spaces.
    pub query_extra: String,
    /// More `scrape_configs:` entries as YAML, each line indented by two
    /// spaces (for jobs with settings beyond their targets).
    pub jobs_yaml: String,
    /// More command-line arguments after `--config` (e.g. `--web.config.file`).
    pub args: Vec<String>,
}

impl TestConfig {
    pub(crate) fn new(dir: &Path, brokers: String) -> Self {
        TestConfig {
            dir: dir.to_path_buf(),
            brokers,
            listen_port: free_port(),
            receive_port: free_port(),
            sink_health_port: free_port(),
            process_health_port: free_port(),
            targets: Vec::new(),
            scrape_interval: "1s",
            flush_interval: "1s",
            partitions: 4,
            sink_location: None,
            sink_extra: String::new(),
            sections: String::new(),
            receive_extra: String::new(),
            query_extra: String::new(),
            jobs_yaml: String::new(),
            args: Vec::new(),
            kafka_extra: String::new(),
        }
    }

    pub(crate) fn segments(&self) -> PathBuf {
        self.dir.join("segments")
    }

    pub(crate) fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.listen_port)
    }

    /// Writes the YAML and returns its path.
    pub(crate) fn write(&self) -> PathBuf {
        let mut jobs = String::new();
        for (job, targets) in &self.targets {
            let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
            jobs.push_str(&format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            ));
        }
        jobs.push_str(&self.jobs_yaml);
        let yaml = format!(
            "global:\n  scrape_interval: {si}\n  scrape_timeout: {si}\nscrape_configs:\n{jobs}kafka:\n  brokers: \"{b}\"\n  topic_prefix: sluice\n  partitions: {p}\n{kextra}sink:\n  path: \"{seg}\"\n  flush_interval: {fi}\n{extra}query:\n  listen: \"127.0.0.1:{port}\"\n{qextra}receive:\n  listen: \"127.0.0.1:{rport}\"\n  push_interval: 1s\n{rextra}health:\n  sink_listen: \"127.0.0.1:{sport}\"\n  process_listen: \"127.0.0.1:{pport}\"\n{sections}",
            si = self.scrape_interval,
            jobs = if jobs.is_empty() {
                "  []\n".to_string()
            } else {
                jobs
            },
            b = self.brokers,
            p = self.partitions,
            seg = self
                .sink_location
                .clone()
                .unwrap_or_else(|| self.segments().display().to_string()),
            extra = self.sink_extra,
            kextra = self.kafka_extra,
            rextra = self.receive_extra,
            qextra = self.query_extra,
            sections = self.sections,
            fi = self.flush_interval,
            port = self.listen_port,
            rport = self.receive_port,
            sport = self.sink_health_port,
            pport = self.process_health_port,
        );
        let path = self.dir.join("sluice.yml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Starts `sluice <role> --config ...`.
    pub(crate) fn start(&self, role: &str) -> Proc {
        let cfg = self.write();
        let mut cmd = Command::new(binary());
        cmd.args([role, "--config"]).arg(&cfg).args(&self.args);
        cmd.env("RUST_LOG", "info,sluice_sink=debug");
        Proc::spawn(
            &format!("sluice {role}"),
            cmd,
            &self.dir.join(format!("sluice-{role}.log")),
        )
    }
}
