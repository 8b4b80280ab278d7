//! Debian's Prometheus 2.42 on loopback, as a peer and an oracle.

use std::path::Path;
use std::process::Command;

use super::free_port;
use super::process::Proc;

/// Starts `prometheus` with `config` (YAML) and its TSDB under `dir`;
/// returns the process and its API base URL.
pub(crate) fn start(dir: &Path, config: &str) -> (Proc, String) {
    let port = free_port();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let proc = Proc::spawn("prometheus", cmd, &dir.join("prometheus.log"));
    (proc, format!("http://127.0.0.1:{port}"))
}

/// Starts `prometheus --enable-feature=agent` (scrape and remote_write
/// only; its WAL under `dir`) with `config`; returns the process and its
/// base URL. Agent mode refuses the server's `--storage.tsdb.*` flags.
pub(crate) fn start_agent(dir: &Path, config: &str) -> (Proc, String) {
    let port = free_port();
    let cfg = dir.join("prometheus-agent.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new("prometheus");
    cmd.arg("--enable-feature=agent")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.agent.path={}", dir.join("agent").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let proc = Proc::spawn("prometheus agent", cmd, &dir.join("prometheus-agent.log"));
    (proc, format!("http://127.0.0.1:{port}"))
}
