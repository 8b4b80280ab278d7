//! A broker outage mid-stream: the real broker (tansu) is SIGKILLed for 60 s
//! and restarted on the same storage while four Prometheus-like remote_write
//! shards send uniquely numbered samples and Sluice scrapes its own
//! `/metrics`. The ingest process keeps accepting into its producer buffer
//! (a small budget here), then pushes back with 503 (the shards retry) and
//! counts scraped samples as dropped; once the broker is back every sample
//! that got a 2xx is in the segments exactly once.
//!
//! One shard is impatient: its timeout (500 ms) is below `receive.ack_wait`
//! (1 s), so during the outage it gives up on requests whose samples are
//! queued all the same, and retries them. Those first copies reach Kafka
//! when the broker is back, next to the retry that finally got a 2xx: the
//! sink must store one of them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sink_exactly_once::stored_samples;
use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::metric;
use crate::support::procfs::peak_rss_mib;
use crate::support::rw_sender::{SendStats, Shard};
use crate::support::sluice::TestConfig;

const SHARDS: usize = 4;
const SERIES: usize = 200;
const TICK: Duration = Duration::from_millis(500);
/// The minimum budget: fills in well under the outage at this test's rate.
const BUDGET: usize = 1 << 20;
const BEFORE: Duration = Duration::from_secs(10);
const OUTAGE: Duration = Duration::from_secs(60);
const AFTER: Duration = Duration::from_secs(10);
/// The shard whose timeout is below `ack_wait`.
const IMPATIENT: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.kafka_extra = format!("  producer_buffer_bytes: {BUDGET}\n");
    // Below the shards' timeout, as the default 5s is below Prometheus' 30s.
    cfg.receive_extra = "  ack_wait: 1s\n".into();
    cfg.targets = vec![("self".into(), vec![format!("127.0.0.1:{}", cfg.receive_port)])];
    let ingest = cfg.start("scrape");
    let mut sink = cfg.start("sink");
    let receive = format!("http://127.0.0.1:{}", cfg.receive_port);
    eventually(Duration::from_secs(60), "the ingest role ready", || {
        let url = format!("{receive}/-/ready");
        async move {
            reqwest::get(url)
                .await
                .ok()
                .filter(|r| r.status() == 200)
                .map(|_| ())
        }
    })
    .await;

    let stop_making = Arc::new(AtomicBool::new(false));
    let broker_down = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(SendStats::default()));
    let t0_ms = chrono::Utc::now().timestamp_millis();
    let shards: Vec<_> = (0..SHARDS)
        .map(|index| {
            let shard = Shard {
                url: format!("{receive}/api/v1/write"),
                index,
                series: SERIES,
                tick: TICK,
                timeout: if index == IMPATIENT {
                    Duration::from_millis(500)
                } else {
                    Duration::from_secs(10)
                },
                max_backoff: Duration::from_secs(1),
                t0_ms,
            };
            tokio::spawn(shard.run(stop_making.clone(), broker_down.clone(), stats.clone()))
        })
        .collect();

    tokio::time::sleep(BEFORE).await;
    broker_down.store(true, Ordering::SeqCst);
    broker.kill();
    tokio::time::sleep(OUTAGE).await;
    broker.restart();
    broker_down.store(false, Ordering::SeqCst);
    tokio::time::sleep(AFTER).await;
    stop_making.store(true, Ordering::SeqCst);
    for s in shards {
        // Bounded: a sender that never gets its backlog accepted fails here.
        tokio::time::timeout(Duration::from_secs(180), s)
            .await
            .expect("senders did not drain their backlog")
            .unwrap();
    }
    let stats = stats.lock().unwrap().clone();
    let metrics = reqwest::get(format!("{receive}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let peak = metric(&metrics, "sluice_publish_buffer_peak_bytes", &["sluice.samples"]);
    let scrape_dropped = metric(
        &metrics,
        "sluice_scrape_samples_dropped_total",
        &["reason=\"backpressure\""],
    );
    let unacked = metric(&metrics, "sluice_receive_remote_write_unacked_samples_total", &[]);
    let rss = peak_rss_mib(ingest.child.id());

    // Every accepted sample in a segment; the sink may be still catching up.
    let accepted: HashSet<(u64, i64)> = stats.accepted.iter().copied().collect();
    assert_eq!(
        accepted.len(),
        stats.accepted.len(),
        "a sample was accepted twice"
    );
    let root = cfg.segments();
    eventually(Duration::from_secs(120), "every accepted sample stored", || {
        let (root, accepted) = (root.clone(), &accepted);
        async move {
            let stored = stored_samples(&root).await;
            accepted.iter().all(|k| stored.contains_key(k)).then_some(())
        }
    })
    .await;
    let sink_metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", cfg.sink_health_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let not_newer = |against: &str| {
        metric(
            &sink_metrics,
            "sluice_sink_samples_not_newer_total",
            &["table=\"samples\"", &format!("against=\"{against}\"")],
        )
    };
    let (copies_in_flush, copies_stored) = (not_newer("flush"), not_newer("segments"));
    let second_copies = copies_in_flush + copies_stored;
    // A clean stop flushes what the sink still holds: the final count.
    sink.terminate();
    let stored = stored_samples(&root).await;
    let lost = accepted.iter().filter(|k| !stored.contains_key(k)).count();
    let duplicated: usize = stored.values().map(|n| n - 1).sum();
    let ours = stored.keys().filter(|k| accepted.contains(k)).count();
    let unknown_ours = stored.keys().filter(|k| !accepted.contains(k)).count();
    let sent = stats.accepted.len();
    eprintln!(
        "broker outage ({}s, tansu SIGKILLed and restarted): {SHARDS} shards x {SERIES} series every {}ms",
        OUTAGE.as_secs(),
        TICK.as_millis()
    );
    eprintln!(
        "broker outage: sent {sent} samples, accepted {sent} ({} while the broker was down, {unacked} answered before Kafka's ack), refused attempts {:?}",
        stats.accepted_during_outage, stats.refused
    );
    eprintln!(
        "broker outage: stored {ours} of the sent samples (+{unknown_ours} other stored samples: the self-scrape), lost {lost}, duplicated {duplicated} (over all {} stored samples); second copies dropped by the sink {second_copies} ({copies_in_flush} within a flush, {copies_stored} against stored segments)",
        stored.len()
    );
    eprintln!(
        "broker outage: producer buffer peak {peak} of {BUDGET} bytes; self-scrape samples dropped for back-pressure {scrape_dropped}; ingest peak RSS {rss:.0} MiB"
    );
    assert_eq!((lost, duplicated), (0, 0));
    // The budget held, and was really reached: Sluice pushed back.
    assert!(peak <= BUDGET as f64, "peak {peak} over the budget");
    assert!(
        stats.refused.get("503").copied().unwrap_or(0) > 0,
        "never pushed back: {stats:?}"
    );
    assert!(
        stats.accepted_during_outage > 0,
        "accepted nothing during the outage"
    );
    assert!(scrape_dropped > 0.0, "no scraped sample counted as dropped");
    // The impatient shard's copies did reach Kafka: the sink dropped them.
    assert!(stats.refused.get("timeout").copied().unwrap_or(0) > 0);
    assert!(second_copies > 0.0, "no second copy reached the sink");
}
