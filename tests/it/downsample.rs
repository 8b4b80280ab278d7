//! The downsampler on a real broker, SIGKILLed again and again while it
//! works through a backlog: the windows on the tier topics are exactly
//! those an uninterrupted run computes over the same records (repeats
//! allowed, nothing missing, no differing value), and the sink writes them
//! to the tier tables.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use sluice_ingest::publish::SampleWriter;
use sluice_ingest::topics::client_config;
use sluice_model::kafka::KafkaConfig;
use sluice_model::{Labels, Sample, TimeSeries, bus};
use sluice_processor::downsample::partition::{DownsampleSpec, PartitionState};
use sluice_processor::downsample::window_series;

use crate::support::broker::Broker;
use crate::support::duckdb;
use crate::support::process::strip_ansi;
use crate::support::sluice::TestConfig;

const M: i64 = 60_000;
const T0: i64 = 1_699_920_000_000;

/// Every record of `topic` from the beginning, as (partition, offset, series).
pub(crate) fn read_topic(kafka: &KafkaConfig, topic: &str) -> Vec<(i32, i64, Vec<TimeSeries>)> {
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", "sluice-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in md.topics()[0].partitions() {
        let (_, high) = consumer
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .unwrap();
        ends.insert(p.id(), high);
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let total: i64 = ends.values().sum();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (out.len() as i64) < total && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let header = m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == bus::FORMAT_HEADER)
                    .and_then(|h| h.value)
            });
            let series = bus::decode(header, m.payload().unwrap_or_default()).unwrap_or_default();
            out.push((m.partition(), m.offset(), series));
        }
    }
    assert_eq!(out.len() as i64, total, "read all of {topic}");
    out
}

/// Records on the checkpoint topic so far (0 before it exists).
fn checkpoints_written(kafka: &KafkaConfig) -> i64 {
    let consumer: BaseConsumer = client_config(kafka).create().unwrap();
    let topic = "sluice.state.downsample";
    (0..kafka.partitions)
        .filter_map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).ok())
        .map(|(_, high)| high)
        .sum()
}

/// (labels, timestamp, value bits) of every sample.
pub(crate) fn points(series: impl IntoIterator<Item = TimeSeries>) -> BTreeSet<(Labels, i64, u64)> {
    series
        .into_iter()
        .flat_map(|s| {
            let l = s.labels;
            s.samples
                .into_iter()
                .map(move |x| (l.clone(), x.timestamp_ms, x.value.to_bits()))
        })
        .collect()
}

/// 40 counters at 15 s, with resets; one record per partition per step.
fn step(i: i64) -> Vec<TimeSeries> {
    (0..40)
        .map(|s| TimeSeries {
            labels: Labels::new([
                ("__name__", "pod_network_receive_bytes_total".to_string()),
                ("pod", format!("pod-{s}")),
            ]),
            samples: vec![Sample::new(
                T0 + i * 15_000,
                ((i * (s + 1)) % (500 + s * 7)) as f64,
            )],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downsampler_survives_sigkill_with_identical_windows() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections = "downsample:\n  enabled: true\n  resolutions: [5m, 1h]\n  allowed_lateness: 1m\n  checkpoint_interval: 300ms\n".into();
    let (kafka, publisher) = broker.samples_publisher().await;
    const STEPS: i64 = 6 * 240;
    for i in 0..STEPS {
        publisher.write(step(i)).await.unwrap();
    }

    // The reference: an uninterrupted run over the very same records.
    let spec = DownsampleSpec {
        resolutions_ms: vec![5 * M, 60 * M],
        lateness_ms: M,
    };
    let mut states: BTreeMap<i32, PartitionState> = BTreeMap::new();
    let mut closed = Vec::new();
    for (p, _, series) in read_topic(&kafka, &kafka.samples_topic()) {
        states
            .entry(p)
            .or_default()
            .on_record(&spec, &series, &mut closed);
    }
    let expected: Vec<BTreeSet<_>> = (0..2)
        .map(|tier| points(closed.iter().filter(|w| w.tier == tier).flat_map(window_series)))
        .collect();
    assert!(expected[0].len() > 1000 && !expected[1].is_empty());

    // The processor, killed while it works through the backlog: each life
    // is killed a varying time after it wrote a new checkpoint (or after 10 s
    // if it wrote none), so restarts resume from checkpoints however slow
    // the machine is.
    let mut kills = 0;
    let mut proc = cfg.start("process");
    for ms in [0u64, 400, 150, 700, 250, 500] {
        let before = checkpoints_written(&kafka);
        let deadline = Instant::now() + Duration::from_secs(10);
        while checkpoints_written(&kafka) <= before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        proc.kill9();
        kills += 1;
        proc = cfg.start("process");
    }
    let mut sink = cfg.start("sink");
    let topics = ["sluice.samples.5m", "sluice.samples.1h"];
    let deadline = Instant::now() + Duration::from_secs(120);
    let got: Vec<BTreeSet<_>> = loop {
        let got: Vec<BTreeSet<_>> = topics
            .iter()
            .map(|t| points(read_topic(&kafka, t).into_iter().flat_map(|(_, _, s)| s)))
            .collect();
        if got[0].len() >= expected[0].len() && got[1].len() >= expected[1].len() {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "tiers incomplete after 120 s: {}/{} and {}/{} points; log:\n{}",
            got[0].len(),
            expected[0].len(),
            got[1].len(),
            expected[1].len(),
            proc.output()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    proc.terminate();
    // The restarts really resumed from checkpoints (not all from scratch).
    let log = strip_ansi(&proc.output());
    let resumed = log
        .lines()
        .filter(|l| l.contains("downsampler started") && !l.contains("restored=0"))
        .count();
    eprintln!(
        "downsample: {resumed} of {} starts resumed from checkpoints",
        kills + 1
    );
    assert!(
        resumed >= 2,
        "only {resumed} starts restored a checkpoint:\n{log}"
    );
    for tier in 0..2 {
        let missing = expected[tier].difference(&got[tier]).count();
        let extra = got[tier].difference(&expected[tier]).count();
        eprintln!(
            "downsample tier {}: expected {} points, got {} distinct, {missing} missing, {extra} unexpected, after {kills} SIGKILLs",
            topics[tier],
            expected[tier].len(),
            got[tier].len()
        );
        assert_eq!((missing, extra), (0, 0), "tier {}", topics[tier]);
    }

    // The sink writes the 5m tier to its own table: one row per point.
    let root = cfg.segments();
    let want = expected[0].len().to_string();
    let glob = format!(
        "read_parquet('{}/samples_5m/*/*.parquet', union_by_name = true)",
        root.display()
    );
    let sql = format!("SELECT count(DISTINCT (__series_id__, __timestamp__)) FROM {glob}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let has_files = std::fs::read_dir(root.join("samples_5m"))
            .map(|parts| {
                parts.flatten().any(|p| {
                    std::fs::read_dir(p.path())
                        .map(|fs| {
                            fs.flatten()
                                .any(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
                        })
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false);
        let n = if has_files {
            duckdb::scalar(&sql)
        } else {
            "0".into()
        };
        if n == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "samples_5m has {n} distinct points, want {want}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    sink.terminate();

    // Sluice's SQL serves the tier table too.
    let _query = cfg.start("query");
    let api = cfg.api();
    crate::support::eventually(Duration::from_secs(30), "query API", || async {
        crate::support::http::get_json(&format!("{api}/-/ready"))
            .await
            .0
            .eq(&200)
            .then_some(())
    })
    .await;
    let via_sql = crate::support::http::sql_scalar(
        &api,
        "select count(*) as n from (select distinct __series_id__, __timestamp__ from samples_5m)",
    )
    .await;
    assert_eq!(via_sql, want);
}

/// Waits until `topic` holds at least `want` distinct points.
async fn wait_for_points(
    kafka: &KafkaConfig,
    topic: &str,
    want: &BTreeSet<(Labels, i64, u64)>,
) -> BTreeSet<(Labels, i64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = points(read_topic(kafka, topic).into_iter().flat_map(|(_, _, s)| s));
        if got.len() >= want.len() {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {} points after 120 s",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A resolution added to a running deployment: a normal start refuses the
/// old checkpoints (they hold no state for the new tier) and says to
/// replay; `sluice process --replay` recomputes every tier from the
/// retained raw topic, so the new tier gets the windows of the whole past
/// and the old tier only identical repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_fills_a_resolution_added_later() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    let sections = |res: &str| {
        format!(
            "downsample:\n  enabled: true\n  resolutions: [{res}]\n  allowed_lateness: 1m\n  checkpoint_interval: 300ms\n"
        )
    };
    cfg.sections = sections("5m");
    let (kafka, publisher) = broker.samples_publisher().await;
    for i in 0..3 * 240 {
        publisher.write(step(i)).await.unwrap();
    }
    let reference = |res: Vec<i64>| {
        let spec = DownsampleSpec {
            resolutions_ms: res.clone(),
            lateness_ms: M,
        };
        let mut states: BTreeMap<i32, PartitionState> = BTreeMap::new();
        let mut closed = Vec::new();
        for (p, _, series) in read_topic(&kafka, &kafka.samples_topic()) {
            states
                .entry(p)
                .or_default()
                .on_record(&spec, &series, &mut closed);
        }
        (0..res.len())
            .map(|tier| points(closed.iter().filter(|w| w.tier == tier).flat_map(window_series)))
            .collect::<Vec<_>>()
    };
    let want = reference(vec![5 * M, 60 * M]);

    // First the 5m tier alone, to the end of the backlog.
    let mut proc = cfg.start("process");
    let got5 = wait_for_points(&kafka, "sluice.samples.5m", &want[0]).await;
    assert_eq!(got5, want[0]);
    while checkpoints_written(&kafka) == 0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proc.terminate();

    // 1h added: a normal start refuses to continue from the old state.
    cfg.sections = sections("5m, 1h");
    let mut refused = cfg.start("process");
    let status = refused.child.wait().unwrap();
    assert!(!status.success(), "a start with changed resolutions must fail");
    assert!(
        refused.output().contains("--replay"),
        "the error says what to do:\n{}",
        refused.output()
    );

    // The replay fills the 1h tier from the raw topic.
    let mut cmd = std::process::Command::new(crate::support::sluice::binary());
    cmd.args(["process", "--replay", "--config"]).arg(cfg.write());
    cmd.env("RUST_LOG", "info");
    let mut replay =
        crate::support::process::Proc::spawn("sluice process --replay", cmd, &dir.path().join("replay.log"));
    let got1h = wait_for_points(&kafka, "sluice.samples.1h", &want[1]).await;
    assert_eq!(got1h, want[1], "the added tier holds every window of the past");
    let got5 = wait_for_points(&kafka, "sluice.samples.5m", &want[0]).await;
    assert_eq!(got5, want[0], "the old tier got identical repeats only");
    eprintln!(
        "downsample replay: 1h tier {} points recomputed from the raw topic, 5m tier unchanged ({} points)",
        got1h.len(),
        got5.len()
    );
    replay.terminate();
}
