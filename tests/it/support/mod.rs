//! Real components for the end-to-end tests: a tansu broker, the node
//! exporter, the `sluice` binary, each on a free loopback port and torn
//! down when dropped.

pub(crate) mod alertmanager;
pub(crate) mod broker;
pub(crate) mod chromium;
pub(crate) mod duckdb;
pub(crate) mod http;
pub(crate) mod k8s_api;
pub(crate) mod load;
pub(crate) mod process;
pub(crate) mod procfs;
pub(crate) mod prometheus;
pub(crate) mod rw_sender;
pub(crate) mod s3;
pub(crate) mod sluice;
pub(crate) mod tls;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound then released).
///
/// Every test asks for a port before it talks HTTP, so this is also where
/// ring becomes rustls' default provider: reqwest is built without one, and
/// `reqwest::get` / `Client::new()` panic without it.
pub(crate) fn free_port() -> u16 {
    sluice_ingest::http_client::install_crypto_provider();
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on loopback")
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub(crate) async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `../shared/testdata` beside the repository (override: `SLUICE_TESTDATA`).
pub(crate) fn testdata() -> std::path::PathBuf {
    let p = std::env::var_os("SLUICE_TESTDATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    assert!(
        p.is_dir(),
        "test data not found at {} (set SLUICE_TESTDATA)",
        p.display()
    );
    p
}
