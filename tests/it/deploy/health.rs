//! `/-/ready` reports real readiness: a sink (sharded by its pod name, as
//! in the StatefulSet) is ready once the broker answers and its partitions
//! are assigned, and not ready while the broker cannot be reached.

use std::process::Command;
use std::time::Duration;

use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::process::Proc;
use crate::support::sluice::{TestConfig, binary};

/// `GET url`: status and body (status 0 while nothing answers).
async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

/// `sluice <role>` as a StatefulSet pod `pod` would run it.
fn start_as_pod(cfg: &TestConfig, role: &str, pod: &str, shards: u32) -> Proc {
    let path = cfg.write();
    let mut cmd = Command::new(binary());
    cmd.args([role, "--config"]).arg(&path);
    cmd.env("SLUICE_SHARD", pod)
        .env("SLUICE_SHARD_COUNT", shards.to_string());
    Proc::spawn(pod, cmd, &cfg.dir.join(format!("{pod}.log")))
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_health_reports_broker_and_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));

    // A sink whose broker does not exist: alive, but not ready.
    let down = dir.path().join("down");
    std::fs::create_dir_all(&down).unwrap();
    let cfg = TestConfig::new(&down, "127.0.0.1:1".into());
    let health_port = cfg.sink_health_port;
    let _down = start_as_pod(&cfg, "sink", "sluice-sink-0", 1);
    let base = format!("http://127.0.0.1:{health_port}");
    let (status, body) = eventually(Duration::from_secs(60), "the health listener", || async {
        let r = get(&format!("{base}/-/ready")).await;
        (r.0 != 0 && !r.1.contains("not probed yet")).then_some(r)
    })
    .await;
    eprintln!("sink without a broker: /-/ready {status}: {body:?}");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("kafka:") && body.contains("consumer sluice-sink/sluice.samples"),
        "{body}"
    );
    assert_eq!(get(&format!("{base}/-/healthy")).await.0, 200);

    // Shard 1 of 2 (from its pod name) with a broker: ready, owning the odd
    // partitions of 4.
    let up = dir.path().join("up");
    std::fs::create_dir_all(&up).unwrap();
    let cfg = TestConfig::new(&up, format!("127.0.0.1:{}", broker.port));
    let health_port = cfg.sink_health_port;
    let sink = start_as_pod(&cfg, "sink", "sluice-sink-1", 2);
    let base = format!("http://127.0.0.1:{health_port}");
    let body = eventually(Duration::from_secs(120), "the sink to be ready", || async {
        let (status, body) = get(&format!("{base}/-/ready")).await;
        (status == 200).then_some(body)
    })
    .await;
    eprintln!("sink with a broker: /-/ready 200: {body:?}");
    let log = strip_ansi(&sink.output());
    let assigned: Vec<&str> = log.lines().filter(|l| l.contains("assigned")).collect();
    assert!(
        assigned.len() == 2
            && assigned.iter().any(|l| l.contains("partition=1"))
            && assigned.iter().any(|l| l.contains("partition=3")),
        "shard 1/2 must own partitions 1 and 3:\n{log}"
    );
    let (status, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("sluice_consumer_records_total"), "{metrics}");

    // The query role: ready while its segment store answers.
    let query = cfg.start("query");
    let api = cfg.api();
    eventually(Duration::from_secs(60), "the query role to be ready", || async {
        (get(&format!("{api}/-/ready")).await.0 == 200).then_some(())
    })
    .await;
    drop(query);
}
