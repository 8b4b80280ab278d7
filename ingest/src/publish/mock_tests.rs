//! The publisher against librdkafka's own mock cluster (a real protocol
//! broker inside librdkafka, with fault injection): a broker that goes down
//! and comes back, produce requests that fail, a slow broker. Each test
//! reads the topic back to its end and checks that every sample written is
//! there exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use sluice_model::kafka::KafkaConfig;
use sluice_model::{Labels, Sample, TimeSeries, bus};

use super::{Hold, KafkaPublisher, SampleWriter};
use crate::IngestError;

const TOPIC: &str = "mock.samples";
const PARTITIONS: i32 = 2;

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster() -> Cluster {
    let c = MockCluster::new(1).unwrap();
    c.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    c
}

async fn publisher(c: &Cluster, budget: usize) -> KafkaPublisher {
    let kafka = KafkaConfig {
        brokers: c.bootstrap_servers(),
        producer_buffer_bytes: budget,
        ..Default::default()
    };
    KafkaPublisher::connect_with(&kafka, TOPIC.into(), Hold::UntilDelivered)
        .await
        .unwrap()
}

/// One sample per series at step `i`: (series, timestamp) names the sample.
fn batch(i: i64, series: usize) -> Vec<TimeSeries> {
    (0..series)
        .map(|k| TimeSeries {
            labels: Labels::new([("__name__", "mock_total".to_string()), ("series", k.to_string())]),
            samples: vec![Sample::new(1_700_000_000_000 + i * 1000, i as f64)],
        })
        .collect()
}

/// How often each (series id, timestamp) is in the topic, read from the
/// beginning to the high watermark of every partition.
fn read_back(c: &Cluster) -> HashMap<(u64, i64), usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .set("group.id", "mock-check")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
        let (_, high) = consumer
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .unwrap();
        ends.insert(p, high);
    }
    consumer.assign(&tpl).unwrap();
    let mut next: HashMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    let mut seen = HashMap::new();
    // Bounded: a topic that never reaches its watermarks is a failure.
    for _ in 0..10_000 {
        if next.iter().all(|(p, o)| *o >= ends[p]) {
            return seen;
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.unwrap();
        next.insert(m.partition(), m.offset() + 1);
        for s in bus::decode(None, m.payload().unwrap()).unwrap() {
            for x in &s.samples {
                *seen.entry((s.labels.hash(), x.timestamp_ms)).or_insert(0) += 1;
            }
        }
    }
    panic!("topic not read to its end: at {next:?}, end {ends:?}");
}

/// Asserts the topic holds the samples of `steps` exactly once each.
fn assert_exactly_once(c: &Cluster, steps: impl Iterator<Item = i64>, series: usize) {
    let seen = read_back(c);
    let mut expected = 0;
    for i in steps {
        for s in batch(i, series) {
            let key = (s.labels.hash(), s.samples[0].timestamp_ms);
            assert_eq!(seen.get(&key), Some(&1), "step {i}, series {}", s.labels);
            expected += 1;
        }
    }
    assert_eq!(seen.len(), expected, "samples that were never written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_fills_the_budget_then_refuses_at_once_and_recovers() {
    const SERIES: usize = 50;
    const BUDGET: usize = 64 * 1024;
    let c = cluster();
    let p = publisher(&c, BUDGET).await;
    p.write(batch(0, SERIES)).await.unwrap();

    c.broker_down(1).unwrap();
    // Writes are queued until the budget is full, then refused whole and at
    // once: nothing of a refused write is queued.
    let mut pending = Vec::new();
    let mut step = 1;
    let refused = loop {
        match p.submit(batch(step, SERIES)) {
            Ok(delivery) => pending.push(delivery),
            Err(IngestError::Backpressure(why)) => break why,
            Err(e) => panic!("step {step}: {e}"),
        }
        step += 1;
        assert!(step < 10_000, "the budget never filled");
    };
    assert!(refused.contains("producer buffer full"), "{refused}");
    assert!(pending.len() > 1, "{} writes queued", pending.len());
    assert!(p.budget().in_flight() <= BUDGET);
    assert_eq!(p.budget().peak(), p.budget().in_flight());
    // Still full while the broker is away.
    assert!(matches!(
        p.submit(batch(step, SERIES)),
        Err(IngestError::Backpressure(_))
    ));

    c.broker_up(1).unwrap();
    for d in pending {
        d.await.unwrap();
    }
    assert_eq!(p.budget().in_flight(), 0);
    // The refused step, written again (as a retrying sender would).
    p.write(batch(step, SERIES)).await.unwrap();
    assert_exactly_once(&c, 0..=step, SERIES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_produce_requests_are_retried_without_duplicates() {
    const SERIES: usize = 20;
    let c = cluster();
    let p = publisher(&c, 1 << 20).await;
    p.write(batch(0, SERIES)).await.unwrap();
    // Retriable errors and a dropped connection on the next produce
    // requests: the idempotent producer retries each record under its
    // sequence number.
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
        ],
    );
    for step in 1..=20 {
        p.write(batch(step, SERIES)).await.unwrap();
    }
    assert_eq!(p.budget().in_flight(), 0);
    assert_exactly_once(&c, 0..=20, SERIES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_broker_still_gets_everything_once() {
    const SERIES: usize = 10;
    let c = cluster();
    let p = Arc::new(publisher(&c, 1 << 20).await);
    c.broker_round_trip_time(1, Duration::from_millis(300)).unwrap();
    for step in 0..5 {
        p.write(batch(step, SERIES)).await.unwrap();
    }
    // A remote_write request whose acknowledgement takes longer than
    // ack_wait is answered 204 with its samples still queued, and they
    // arrive (once) all the same.
    let limits = crate::receive::ReceiveLimits {
        ack_wait: Duration::ZERO,
        ..Default::default()
    };
    let store = Arc::new(crate::receive::push::PushStore::new(Arc::new(
        sluice_model::clock::SystemClock,
    )));
    let app = crate::receive::router(p.clone(), store, limits);
    let body = {
        use prost::Message as _;
        let req = bus::WriteRequest {
            timeseries: batch(5, SERIES).iter().map(bus::to_pb).collect(),
            metadata: vec![],
        };
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    };
    let resp = tower::ServiceExt::oneshot(
        app,
        axum::http::Request::post("/api/v1/write")
            .header("content-type", "application/x-protobuf")
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), axum::http::StatusCode::NO_CONTENT);
    p.flush(Duration::from_secs(30));
    assert_eq!(p.budget().in_flight(), 0);
    assert_exactly_once(&c, 0..6, SERIES);
}
