//! Sluice's Kafka clients over TLS with SASL/SCRAM, against a real broker
//! that requires authentication.
//!
//! tansu checks SCRAM credentials itself (`--authentication`), but its TLS
//! listener does not complete handshakes in the version the tests install,
//! so TLS is terminated by socat in front of it — the way a TLS proxy or a
//! service mesh sidecar fronts a broker. The broker advertises the proxy's
//! port, so every connection, bootstrap and partition leader alike, goes
//! through TLS. Certificates are verified, host name included.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::broker::tansu_binary;
use crate::support::http::get_json;
use crate::support::process::Proc;
use crate::support::sluice::TestConfig;
use crate::support::tls::TestPki;
use crate::support::{eventually, free_port};

const USER: &str = "sluice";
const PASSWORD: &str = "kafka-scram-s3cret";

fn tansu(dir: &Path, port: u16, advertised: u16, authentication: bool) -> Proc {
    let mut cmd = Command::new(tansu_binary());
    // tansu resolves `sqlite://PATH` against its working directory.
    cmd.current_dir(dir).args([
        "broker",
        "--listener-url",
        &format!("tcp://127.0.0.1:{port}"),
        "--advertised-listener-url",
        &format!("tcp://127.0.0.1:{advertised}"),
        "--storage-engine",
        "sqlite://bus.db",
    ]);
    if authentication {
        cmd.arg("--authentication");
    }
    Proc::spawn("tansu", cmd, &dir.join("tansu.log"))
}

/// A broker on `port` that only SCRAM users may use, behind TLS on the
/// returned port. The user is created while the broker is still open (tansu
/// manages users over the Kafka protocol), then it restarts locked.
fn secured_broker(dir: &Path, pki: &TestPki) -> (Vec<Proc>, u16) {
    std::fs::create_dir_all(dir).unwrap();
    let (port, tls_port) = (free_port(), free_port());
    let mut open = tansu(dir, port, port, false);
    let created = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        Command::new(tansu_binary())
            .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{port}")])
            .args(["--mechanism", "scram256", USER, PASSWORD])
            .output()
            .is_ok_and(|o| o.status.success() && o.stderr.is_empty())
    });
    assert!(created, "tansu user create failed:\n{}", open.output());
    open.terminate();
    let locked = tansu(dir, port, tls_port, true);
    let mut socat = Command::new("socat");
    socat
        .arg(format!(
            "OPENSSL-LISTEN:{tls_port},reuseaddr,fork,bind=127.0.0.1,cert={},key={},verify=0",
            pki.server_cert.display(),
            pki.server_key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{port}"));
    let proxy = Proc::spawn("socat", socat, &dir.join("socat.log"));
    (vec![locked, proxy], tls_port)
}

fn kafka_client(pki: &TestPki, password: &str) -> String {
    format!(
        "  client:\n    security.protocol: SASL_SSL\n    ssl.ca.location: {}\n    \
         sasl.mechanism: SCRAM-SHA-256\n    sasl.username: {USER}\n    sasl.password: {password}\n",
        pki.ca.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_travel_over_tls_with_scram_and_a_wrong_password_is_refused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate_for(&dir.path().join("pki"), "IP:127.0.0.1");
    let (_broker, tls_port) = secured_broker(&dir.path().join("broker"), &pki);

    // The right credentials: a pushed sample goes through Kafka into the
    // segments and comes back from the query API.
    let good_dir = dir.path().join("good");
    std::fs::create_dir_all(&good_dir).unwrap();
    let mut good = TestConfig::new(&good_dir, format!("127.0.0.1:{tls_port}"));
    good.kafka_extra = kafka_client(&pki, PASSWORD);
    let mut sluice = good.start("all");
    let push = format!("http://127.0.0.1:{}/metrics/job/secured", good.receive_port);
    let api = good.api();
    let value = eventually(
        Duration::from_secs(90),
        "a pushed sample through TLS+SCRAM",
        || {
            let (push, api) = (push.clone(), api.clone());
            async move {
                let _ = reqwest::Client::new()
                    .put(&push)
                    .body("tls_scram_probe 42\n")
                    .send()
                    .await;
                let (_, v) = get_json(&format!("{api}/api/v1/query?query=tls_scram_probe")).await;
                v["data"]["result"][0]["value"][1].as_str().map(str::to_string)
            }
        },
    )
    .await;
    assert_eq!(value, "42");

    // The effective config the API shows hides the password.
    let (status, v) = get_json(&format!("{api}/api/v1/status/config")).await;
    let yaml = v["data"]["yaml"].as_str().unwrap_or_default();
    assert_eq!(status, 200, "{v}");
    assert!(
        yaml.contains("sasl.password: <secret>") && yaml.contains(&format!("sasl.username: {USER}")),
        "{yaml}"
    );
    assert!(
        !yaml.contains(PASSWORD),
        "the Kafka password is in status/config:\n{yaml}"
    );

    // A wrong password: the role never becomes ready, and says why.
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let mut bad = TestConfig::new(&bad_dir, format!("127.0.0.1:{tls_port}"));
    bad.kafka_extra = kafka_client(&pki, "not-the-password");
    let mut refused = bad.start("scrape");
    let ready = format!("http://127.0.0.1:{}/-/ready", bad.receive_port);
    let log = eventually(Duration::from_secs(60), "the refused role to report why", || {
        let log = refused.output();
        async move { log.contains("SASL authentication error").then_some(log) }
    })
    .await;
    let (status, body) = get_json(&ready).await;
    assert!(
        status == 503 || status == 0,
        "a role with a wrong password is ready: {status} {body}"
    );

    sluice.terminate();
    refused.terminate();
    let logs = [sluice.output(), refused.output(), log];
    for l in &logs {
        assert!(
            !l.contains(PASSWORD) && !l.contains("not-the-password"),
            "a Kafka password reached the log:\n{l}"
        );
    }
    eprintln!(
        "kafka security: sample stored through SASL_SSL/SCRAM-SHA-256; wrong password refused with the broker's reason"
    );
}
