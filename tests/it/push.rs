//! The Pushgateway API as `curl --data-binary` uses it: a pushed group is
//! re-emitted on the push interval and becomes queryable; DELETE ends it.

use std::time::Duration;

use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::get_json;
use crate::support::sluice::TestConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_metrics_are_queryable_and_delete_ends_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let cfg = TestConfig::new(dir.path(), broker.address());
    let mut sluice = cfg.start("all");
    let api = cfg.api();
    let group = format!(
        "http://127.0.0.1:{}/metrics/job/backup/instance/db1",
        cfg.receive_port
    );
    let client = reqwest::Client::new();
    // What `echo ... | curl --data-binary @- URL` sends (POST, raw text).
    let body = "# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1700000000\n";
    let status = eventually(Duration::from_secs(30), "push API up", || {
        let (client, group) = (client.clone(), group.clone());
        async move {
            client
                .post(&group)
                .body(body)
                .send()
                .await
                .ok()
                .map(|r| r.status().as_u16())
        }
    })
    .await;
    assert_eq!(status, 200);
    // A malformed body is refused with the parse error, and changes nothing.
    let bad = client
        .post(&group)
        .body("backup_last_success_seconds{ 1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let q = "backup_last_success_seconds{job=\"backup\",instance=\"db1\"}";
    let url = format!(
        "{api}/api/v1/query?query={}",
        form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    );
    eventually(Duration::from_secs(60), "pushed sample queryable", || {
        let url = url.clone();
        async move {
            let (s, v) = get_json(&url).await;
            (s == 200 && v["data"]["result"][0]["value"][1] == "1700000000").then_some(())
        }
    })
    .await;
    let del = client.delete(&group).send().await.unwrap();
    assert_eq!(del.status().as_u16(), 202);
    // After the next interval the series has a staleness marker: gone.
    eventually(Duration::from_secs(30), "deleted group goes stale", || {
        let url = url.clone();
        async move {
            let (s, v) = get_json(&url).await;
            (s == 200 && v["data"]["result"].as_array().is_some_and(|r| r.is_empty())).then_some(())
        }
    })
    .await;
    sluice.terminate();
    if std::env::var_os("SLUICE_KEEP_TEST_DIRS").is_some() {
        eprintln!("kept {}", dir.keep().display());
    }
}
