//! Scrape credentials, TLS and limits end to end, with `sluice all` against
//! loopback targets: one behind basic auth (password from a file given
//! relative to the config), one behind a bearer token read from a file that
//! is rewritten mid-test (the next scrapes send the new token), one over
//! mutual TLS with a CA made at test time and `server_name` (and the same
//! target without `server_name`, which must fail verification), one over its
//! `sample_limit` and a job over its `target_limit`. `up` per job comes
//! from Sluice's PromQL API, the errors from `/api/v1/targets`, and no
//! secret may show up in Sluice's log.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::Value;

use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::{Exporter, get_json};
use crate::support::sluice::TestConfig;
use crate::support::tls::{SERVER_NAME, TestPki, TlsExporter};

/// An exporter that answers only requests carrying the expected
/// `Authorization` header (401 otherwise), and remembers the accepted ones.
struct AuthExporter {
    port: u16,
    state: Arc<AuthState>,
}

#[derive(Default)]
struct AuthState {
    expected: Mutex<String>,
    accepted: Mutex<Vec<String>>,
}

impl AuthExporter {
    async fn start(expected: &str, body: &'static str) -> AuthExporter {
        let state = Arc::new(AuthState {
            expected: Mutex::new(expected.to_string()),
            accepted: Mutex::default(),
        });
        let app = Router::new()
            .route(
                "/metrics",
                get(
                    move |State(st): State<Arc<AuthState>>, headers: HeaderMap| async move {
                        let got = headers
                            .get(AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        if got != *st.expected.lock().unwrap() {
                            return (StatusCode::UNAUTHORIZED, [(CONTENT_TYPE, "text/plain")], "");
                        }
                        st.accepted.lock().unwrap().push(got);
                        (
                            StatusCode::OK,
                            [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                            body,
                        )
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AuthExporter { port, state }
    }

    fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn accepted(&self, header: &str) -> usize {
        self.state
            .accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|h| *h == header)
            .count()
    }
}

fn result(v: &Value) -> &[Value] {
    v["data"]["result"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// `job → up` from an instant query of `up` (one entry per series).
async fn up_by_job(api: &str) -> Vec<(String, String)> {
    let (_, v) = get_json(&format!("{api}/api/v1/query?query=up")).await;
    let mut out: Vec<(String, String)> = result(&v)
        .iter()
        .map(|r| {
            (
                r["metric"]["job"].as_str().unwrap_or_default().to_string(),
                r["value"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_credentials_tls_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));

    // base64("scraper:hunter2-pw")
    let basic = AuthExporter::start("Basic c2NyYXBlcjpodW50ZXIyLXB3", "basic_metric 1\n").await;
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/password"), "hunter2-pw\n").unwrap();

    let bearer = AuthExporter::start("Bearer tok-one-5f2a", "bearer_metric 1\n").await;
    let token_file = dir.path().join("secrets/token");
    std::fs::write(&token_file, "tok-one-5f2a\n").unwrap();

    let pki = TestPki::generate(&dir.path().join("pki"));
    let tls = TlsExporter::start(&pki, "tls_metric 1\n");

    let limited =
        Exporter::start("limited_metric{i=\"1\"} 1\nlimited_metric{i=\"2\"} 1\nlimited_metric{i=\"3\"} 1\n")
            .await;
    let crowd_a = Exporter::start("crowded_metric 1\n").await;
    let crowd_b = Exporter::start("crowded_metric 1\n").await;

    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.jobs_yaml = format!(
        "  - job_name: basic\n    basic_auth: {{username: scraper, password_file: secrets/password}}\n\
         \x20   static_configs: [{{targets: [\"{basic}\"]}}]\n\
         \x20 - job_name: bearer\n    authorization: {{credentials_file: \"{token}\"}}\n\
         \x20   static_configs: [{{targets: [\"{bearer}\"]}}]\n\
         \x20 - job_name: tls\n    scheme: https\n    tls_config:\n      ca_file: \"{ca}\"\n\
         \x20     cert_file: \"{cert}\"\n      key_file: \"{key}\"\n      server_name: {SERVER_NAME}\n\
         \x20   static_configs: [{{targets: [\"{tls}\"]}}]\n\
         \x20 - job_name: tls_unverified\n    scheme: https\n    tls_config: {{ca_file: \"{ca}\", cert_file: \"{cert}\", key_file: \"{key}\"}}\n\
         \x20   static_configs: [{{targets: [\"{tls}\"]}}]\n\
         \x20 - job_name: limited\n    sample_limit: 2\n    static_configs: [{{targets: [\"{limited}\"]}}]\n\
         \x20 - job_name: crowded\n    target_limit: 1\n    static_configs: [{{targets: [\"{a}\", \"{b}\"]}}]\n",
        basic = basic.target(),
        token = token_file.display(),
        bearer = bearer.target(),
        ca = pki.ca.display(),
        cert = pki.client_cert.display(),
        key = pki.client_key.display(),
        tls = tls.target(),
        limited = limited.target(),
        a = crowd_a.target(),
        b = crowd_b.target(),
    );
    let api = cfg.api();
    let sluice = cfg.start("all");

    // 1. `up` per job: the authenticated and TLS targets are up, the job
    //    over its sample limit and both targets of the crowded job are down.
    let want: Vec<(String, String)> = [
        ("basic", "1"),
        ("bearer", "1"),
        ("crowded", "0"),
        ("crowded", "0"),
        ("limited", "0"),
        ("tls", "1"),
        ("tls_unverified", "0"),
    ]
    .iter()
    .map(|(j, v)| (j.to_string(), v.to_string()))
    .collect();
    eventually(Duration::from_secs(90), "up per job", || {
        let (api, want) = (api.clone(), want.clone());
        async move { (up_by_job(&api).await == want).then_some(()) }
    })
    .await;
    assert!(tls.served.load(Ordering::SeqCst) > 0);

    // 2. The errors are on the targets page, in Prometheus' words.
    let (s, v) = get_json(&format!("{api}/api/v1/targets")).await;
    assert_eq!(s, 200, "{v}");
    let active = v["data"]["activeTargets"].as_array().expect("activeTargets");
    assert_eq!(active.len(), 7, "{v}");
    for t in active {
        let (pool, health, err) = (
            t["scrapePool"].as_str().unwrap(),
            t["health"].as_str().unwrap(),
            t["lastError"].as_str().unwrap(),
        );
        match pool {
            "limited" => assert_eq!((health, err), ("down", "sample limit exceeded"), "{t}"),
            "crowded" => assert_eq!(
                (health, err),
                ("down", "target_limit exceeded (number of targets: 2, limit: 1)"),
                "{t}"
            ),
            // Without server_name the certificate (for metrics.sluice.test)
            // does not match 127.0.0.1.
            "tls_unverified" => assert!(health == "down" && err.contains("certificate"), "{t}"),
            _ => assert_eq!((health, err), ("up", ""), "{t}"),
        }
    }

    // 3. Nothing of a scrape over its limit is published, only the
    //    synthetic series (which count what was scraped).
    let (_, v) = get_json(&format!("{api}/api/v1/query?query=limited_metric")).await;
    assert!(result(&v).is_empty(), "{v}");
    let (_, v) = get_json(&format!(
        "{api}/api/v1/query?query=scrape_samples_scraped%7Bjob%3D%22limited%22%7D"
    ))
    .await;
    assert_eq!(result(&v).len(), 1, "{v}");
    assert_eq!(result(&v)[0]["value"][1], "3", "{v}");
    let (_, v) = get_json(&format!("{api}/api/v1/query?query=basic_metric")).await;
    assert_eq!(result(&v).len(), 1, "{v}");

    // 4. The token is rotated: the target wants the new one and the file
    //    gets it; the scrapes that follow send it (the file is re-read).
    *bearer.state.expected.lock().unwrap() = "Bearer tok-two-9c1d".into();
    std::fs::write(&token_file, "tok-two-9c1d\n").unwrap();
    eventually(Duration::from_secs(30), "a scrape with the new token", || {
        let n = bearer.accepted("Bearer tok-two-9c1d");
        async move { (n >= 2).then_some(()) }
    })
    .await;
    eventually(Duration::from_secs(30), "bearer up again", || {
        let api = api.clone();
        async move {
            let up = up_by_job(&api).await;
            up.contains(&("bearer".to_string(), "1".to_string()))
                .then_some(())
        }
    })
    .await;

    // 5. No secret in the log.
    let log = sluice.output();
    for secret in ["hunter2", "tok-one", "tok-two", "c2NyYXBlcjpodW50ZXIy"] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
}
