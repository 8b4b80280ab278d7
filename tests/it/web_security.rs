//! Access control on Sluice's HTTP listeners with a Prometheus-format web
//! config file (`--web.config.file`): HTTPS, basic auth, mutual TLS.
//!
//! The file is first checked by the real `promtool check web-config`, so it
//! is one Prometheus itself accepts. A real Prometheus 2.42 then
//! remote-writes into Sluice over HTTPS with the right password, and its
//! samples are queried back over HTTPS; wrong or missing credentials and
//! plain HTTP are refused on every listener. The password and its hash
//! never appear in Sluice's logs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::broker::Broker;
use crate::support::process::Proc;
use crate::support::sluice::TestConfig;
use crate::support::tls::{SERVER_NAME, TestPki};
use crate::support::{eventually, free_port, prometheus};

const USER: &str = "grafana";
const PASSWORD: &str = "c0rrect-h0rse-battery";

/// A client that trusts the test CA and reaches `SERVER_NAME` on loopback
/// (the certificate names no IP address).
fn client(pki: &TestPki, identity: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&pki.ca).unwrap()).unwrap();
    // Port 0: the URL's port is used.
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(SERVER_NAME, ([127, 0, 0, 1], 0).into())
        .timeout(Duration::from_secs(10));
    if identity {
        let mut pem = std::fs::read(&pki.client_cert).unwrap();
        pem.extend(std::fs::read(&pki.client_key).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

fn url(port: u16, path: &str) -> String {
    format!("https://{SERVER_NAME}:{port}{path}")
}

/// Writes a web config and checks it with Prometheus' own validator.
fn web_config(dir: &Path, pki: &TestPki, extra: &str) -> std::path::PathBuf {
    let hash = bcrypt::hash(PASSWORD, 6).unwrap();
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}\
             basic_auth_users:\n  {USER}: {hash}\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
            pki.server_cert.display(),
            pki.server_key.display(),
        ),
    )
    .unwrap();
    let out = Command::new("promtool")
        .arg("check")
        .arg("web-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool rejects the web config: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

async fn status(req: reqwest::RequestBuilder) -> Result<StatusCode, String> {
    req.send().await.map(|r| r.status()).map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_and_basic_auth_guard_every_listener_and_prometheus_writes_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&dir.path().join("pki"));
    let web = web_config(dir.path(), &pki, "");
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.args = vec!["--web.config.file".into(), web.display().to_string()];
    let mut sluice = cfg.start("all");
    let (api, rw) = (cfg.listen_port, cfg.receive_port);
    let http = client(&pki, false);

    // The two listeners come up independently (the receive listener after
    // the scrape role has checked its topics): wait for both.
    for (port, what) in [
        (api, "the query API over HTTPS"),
        (rw, "the receive listener over HTTPS"),
    ] {
        eventually(Duration::from_secs(60), what, || {
            let req = http.get(url(port, "/-/healthy")).basic_auth(USER, Some(PASSWORD));
            async move { status(req).await.ok().filter(|s| s.is_success()) }
        })
        .await;
    }

    // Every listener, every way of getting it wrong.
    for (port, path) in [
        (api, "/api/v1/query?query=1"),
        (api, "/-/ready"),
        (rw, "/-/healthy"),
    ] {
        let no_auth = http.get(url(port, path)).send().await.unwrap();
        assert_eq!(
            no_auth.status(),
            StatusCode::UNAUTHORIZED,
            "{path} without credentials"
        );
        assert_eq!(no_auth.headers()["www-authenticate"], "Basic realm=\"sluice\"");
        let wrong = status(http.get(url(port, path)).basic_auth(USER, Some("hunter2"))).await;
        assert_eq!(
            wrong,
            Ok(StatusCode::UNAUTHORIZED),
            "{path} with a wrong password"
        );
        let stranger = status(http.get(url(port, path)).basic_auth("mallory", Some(PASSWORD))).await;
        assert_eq!(
            stranger,
            Ok(StatusCode::UNAUTHORIZED),
            "{path} as an unknown user"
        );
        let plain = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await;
        assert!(
            plain.map(|r| r.status() != StatusCode::OK).unwrap_or(true),
            "{path} answered plain HTTP"
        );
    }
    let write = http
        .post(url(rw, "/api/v1/write"))
        .basic_auth(USER, Some("hunter2"))
        .header("Content-Type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(
        write.status(),
        StatusCode::UNAUTHORIZED,
        "remote_write with a wrong password"
    );

    // A real Prometheus writes with the right credentials over verified TLS
    // (what it writes does not matter: the `up` of a target that refuses
    // connections is a sample like any other).
    let (_prom, _) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, external_labels: {{via: authenticated_remote_write}}}}\n\
             scrape_configs:\n  - job_name: nothing-listens-here\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n\
             remote_write:\n  - url: https://127.0.0.1:{rw}/api/v1/write\n    \
             basic_auth: {{username: {USER}, password: {PASSWORD}}}\n    \
             tls_config: {{ca_file: {}, server_name: {SERVER_NAME}}}\n    \
             queue_config: {{batch_send_deadline: 1s}}\n",
            free_port(),
            pki.ca.display(),
        ),
    );
    let series: Vec<Value> = eventually(Duration::from_secs(90), "Prometheus' samples in Sluice", || {
        let req = http
            .get(url(api, "/api/v1/query?query=up"))
            .basic_auth(USER, Some(PASSWORD));
        async move {
            let r = req.send().await.ok()?;
            let headers_ok = r.headers().get("x-content-type-options")? == "nosniff";
            let v: Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
            let result = v["data"]["result"].as_array()?.clone();
            (headers_ok && !result.is_empty()).then_some(result)
        }
    })
    .await;
    assert_eq!(
        series[0]["metric"]["via"], "authenticated_remote_write",
        "{series:?}"
    );

    sluice.terminate();
    let log = sluice.output();
    let hash_line = std::fs::read_to_string(&web).unwrap();
    let hash = hash_line
        .lines()
        .find(|l| l.contains(USER))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap();
    assert!(
        !log.contains(PASSWORD) && !log.contains(hash),
        "a secret reached the log:\n{log}"
    );
    eprintln!(
        "web security: 401 on 3 listeners for none/wrong/unknown credentials; Prometheus wrote through HTTPS+basic auth"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&dir.path().join("pki"));
    let web = web_config(
        dir.path(),
        &pki,
        &format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.ca.display()
        ),
    );
    let cfg = TestConfig::new(dir.path(), "127.0.0.1:9".into());
    let mut cmd = Command::new(crate::support::sluice::binary());
    cmd.args(["query", "--config"])
        .arg(cfg.write())
        .arg("--web.config.file")
        .arg(&web);
    let _query = Proc::spawn("sluice query", cmd, &dir.path().join("query.log"));
    let port = cfg.listen_port;
    let with_cert = client(&pki, true);
    eventually(
        Duration::from_secs(60),
        "the query API with a client certificate",
        || {
            let req = with_cert
                .get(url(port, "/-/healthy"))
                .basic_auth(USER, Some(PASSWORD));
            async move { status(req).await.ok().filter(|s| s.is_success()) }
        },
    )
    .await;
    let without = status(
        client(&pki, false)
            .get(url(port, "/-/healthy"))
            .basic_auth(USER, Some(PASSWORD)),
    )
    .await;
    assert!(
        without.is_err(),
        "served a client without a certificate: {without:?}"
    );
    // The certificate opens TLS, not the API: the password is still asked for.
    let no_password = status(with_cert.get(url(port, "/-/healthy"))).await;
    assert_eq!(no_password, Ok(StatusCode::UNAUTHORIZED));
}

#[test]
fn a_broken_web_config_is_refused_at_start_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.pem\n  min_version: TLS10\nbasic_auth_users:\n  alice: not-a-hash\n",
    )
    .unwrap();
    let cfg = TestConfig::new(dir.path(), "127.0.0.1:9".into());
    let out = Command::new(crate::support::sluice::binary())
        .args(["query", "--config"])
        .arg(cfg.write())
        .arg("--web.config.file")
        .arg(&web)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for want in [
        "tls_server_config.cert_file:",
        "missing.pem",
        "tls_server_config.key_file: required",
        "min_version: TLS10 is not supported",
        "basic_auth_users.alice: not a bcrypt hash",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
