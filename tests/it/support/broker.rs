//! A real Kafka-protocol broker: tansu, installed by scripts/install-tansu.sh.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::free_port;
use super::process::Proc;

/// Where the tansu binary is: `$SLUICE_TANSU`, else the install cache.
pub(crate) fn tansu_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_TANSU") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = PathBuf::from(home).join(".cache/sluice/tools/bin/tansu");
    assert!(
        p.exists(),
        "tansu not found at {} — run scripts/install-tansu.sh (or set SLUICE_TANSU)",
        p.display()
    );
    p
}

/// A broker on a free loopback port with its storage in `dir`.
pub(crate) struct Broker {
    pub(crate) port: u16,
    pub(crate) proc: Proc,
    dir: PathBuf,
    storage: &'static str,
}

impl Broker {
    /// Starts tansu and waits until it accepts connections.
    pub(crate) fn start(dir: &Path) -> Broker {
        Self::start_with(dir, "sqlite://bus.db")
    }

    /// Starts tansu keeping records in memory: for benchmarks that measure
    /// the clients, so that the broker's disk writes (SQLite commits on a
    /// shared disk) do not bound what the clients can produce.
    pub(crate) fn start_in_memory(dir: &Path) -> Broker {
        Self::start_with(dir, "memory://tansu/")
    }

    fn start_with(dir: &Path, storage: &'static str) -> Broker {
        let port = free_port();
        let b = Broker {
            port,
            proc: Self::spawn(dir, port, storage),
            dir: dir.to_path_buf(),
            storage,
        };
        b.wait_ready();
        b
    }

    /// SIGKILLs the broker, as a crash or a lost node would.
    pub(crate) fn kill(&mut self) {
        self.proc.kill9();
    }

    /// Starts the broker again on the same port and storage (its SQLite
    /// file keeps topics, records and committed offsets; in memory, all is
    /// lost).
    pub(crate) fn restart(&mut self) {
        self.proc = Self::spawn(&self.dir, self.port, self.storage);
        self.wait_ready();
    }

    fn spawn(dir: &Path, port: u16, storage: &str) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(tansu_binary());
        // tansu resolves `sqlite://PATH` against its working directory.
        cmd.current_dir(dir);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            storage,
        ]);
        Proc::spawn("tansu", cmd, &dir.join("tansu.log"))
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not start:\n{}",
                self.proc.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `host:port` for `kafka.brokers`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A 4-partition `sluice.samples` topic on this broker and the scrape
    /// workers' producer for it.
    pub(crate) async fn samples_publisher(
        &self,
    ) -> (
        sluice_model::kafka::KafkaConfig,
        sluice_ingest::publish::KafkaPublisher,
    ) {
        let kafka = sluice_model::kafka::KafkaConfig {
            brokers: self.address(),
            partitions: 4,
            ..Default::default()
        };
        sluice_ingest::topics::ensure_topics(&kafka, &[kafka.samples_topic()])
            .await
            .unwrap();
        let publisher = sluice_ingest::publish::KafkaPublisher::connect(&kafka, kafka.samples_topic())
            .await
            .unwrap();
        (kafka, publisher)
    }
}
