//! Dropping a stage's consumer returns even when the broker is gone.
//!
//! librdkafka closes a group consumer only after its outstanding offset
//! commits complete, which they never do without a broker; rdkafka's drop
//! waits for that close. Before the bound (`processor/src/bounded_close.rs`)
//! a `sluice all` stopped right after its broker hung in this drop.

use std::sync::mpsc;
use std::time::Duration;

use sluice_processor::consumer::{BusConsumer, Shard};

use crate::support::broker::Broker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_consumer_with_a_pending_commit_returns_without_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start_in_memory(dir.path());
    let (kafka, _publisher) = broker.samples_publisher().await;
    let consumer = BusConsumer::assign(&kafka, "close-test", &kafka.samples_topic(), Shard::ALL, &|_| {
        None
    })
    .unwrap();
    broker.kill();
    // Queued for a coordinator that will never answer.
    consumer.commit(&[(0, 1)].into_iter().collect()).unwrap();

    let (dropped, done) = mpsc::channel();
    std::thread::spawn(move || {
        drop(consumer);
        let _ = dropped.send(());
    });
    // A liveness check, not a timing one: the bound is 5 s, while without
    // it librdkafka gave up on its own only after ~45 s here (and a stopping
    // process drops its consumers one after another, so those add up).
    done.recv_timeout(Duration::from_secs(30))
        .expect("dropping the consumer did not return within 30 s of the broker dying");
}
