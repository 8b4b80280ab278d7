//! The real Alertmanager (Debian's `prometheus-alertmanager`) on loopback.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::free_port;
use super::process::Proc;

/// A running Alertmanager with a receiver that drops everything (the test
/// reads its API, not notifications).
pub(crate) struct Alertmanager {
    pub(crate) port: u16,
    pub(crate) proc: Proc,
}

impl Alertmanager {
    pub(crate) fn start(dir: &Path) -> Alertmanager {
        std::fs::create_dir_all(dir).unwrap();
        let cfg = dir.join("alertmanager.yml");
        std::fs::write(
            &cfg,
            "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new("prometheus-alertmanager");
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let am = Alertmanager {
            port,
            proc: Proc::spawn("alertmanager", cmd, &dir.join("alertmanager.log")),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(port) {
            assert!(
                Instant::now() < deadline,
                "alertmanager did not start:\n{}",
                am.proc.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        am
    }

    /// `host:port` for `alerting.alertmanagers[].static_configs[].targets`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Its `/api/v2/alerts` (active, silenced and inhibited ones).
    pub(crate) async fn alerts(&self) -> Vec<serde_json::Value> {
        let body = reqwest::get(self.url("/api/v2/alerts"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        serde_json::from_slice(&body).unwrap()
    }
}

/// Whether `/-/ready` answers 200 (a blocking probe: start-up runs
/// outside any async runtime).
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut reply = String::new();
    write!(s, "GET /-/ready HTTP/1.0\r\n\r\n").is_ok()
        && s.read_to_string(&mut reply).is_ok()
        && reply.split_whitespace().nth(1) == Some("200")
}
