//! A local S3 API: moto's server (PyPI `moto[server]`) on loopback.

use std::process::Command;
use std::time::Duration;

use super::process::Proc;
use super::{eventually, free_port};

/// A running moto S3 server with one bucket; killed on drop.
pub(crate) struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    _proc: Proc,
}

impl S3Server {
    /// Starts the server and creates `bucket`.
    pub(crate) async fn start(dir: &std::path::Path, bucket: &str) -> S3Server {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()]);
        let proc = Proc::spawn(
            "moto S3 server (pip install 'moto[server]')",
            cmd,
            &dir.join("moto.log"),
        );
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        // CreateBucket: a path-style PUT; moto checks no signatures.
        let url = format!("{endpoint}/{bucket}");
        eventually(Duration::from_secs(30), "moto S3 server", || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client.put(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        S3Server {
            endpoint,
            bucket: bucket.to_string(),
            _proc: proc,
        }
    }

    /// `sink:` lines pointing Sluice at this server.
    pub(crate) fn storage_options_yaml(&self) -> String {
        format!(
            "  storage_options:\n    aws_endpoint: \"{}\"\n    aws_allow_http: \"true\"\n    aws_region: us-east-1\n    aws_access_key_id: test\n    aws_secret_access_key: test\n",
            self.endpoint
        )
    }
}
