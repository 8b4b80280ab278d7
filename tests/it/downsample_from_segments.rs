//! `sluice process --replay-from-segments`: the tiers recomputed from the
//! raw Parquet segments alone (the broker is gone, so the raw topic is
//! too) equal, point for point and bit for bit, the tier tables the live
//! pipeline (downsampler → tier topics → sink) wrote over the same range;
//! with `--from`, they equal a stream started at `--from`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::downsample::partition::{ClosedWindow, DownsampleSpec, PartitionState};
use sluice_processor::downsample::window_series;
use sluice_sink::segment::read::decode_series;

use crate::downsample::{points, read_topic};
use crate::support::broker::Broker;
use crate::support::process::Proc;
use crate::support::sluice::{TestConfig, binary};

const M: i64 = 60_000;
const H: i64 = 60 * M;
/// A multiple of 1 h: window boundaries of both tiers.
const T0: i64 = 1_699_920_000_000;
const SCRAPE: i64 = 15_000;

type Points = BTreeSet<(Labels, i64, u64)>;

/// 10 counters with resets and 10 gauges at 15 s; `pod-0` is silent for
/// 70 minutes (its window state is dropped and restarts, as in the stream).
fn step(i: i64) -> Vec<TimeSeries> {
    let t = T0 + i * SCRAPE;
    let mut out = Vec::new();
    for s in 0..10i64 {
        if s == 0 && (T0 + 70 * M..T0 + 140 * M).contains(&t) {
            continue;
        }
        let pod = format!("pod-{s}");
        out.push(TimeSeries {
            labels: Labels::new([("__name__", "net_bytes_total"), ("pod", pod.as_str())]),
            samples: vec![Sample::new(t, ((i * (s + 3)) % (600 + s * 13)) as f64)],
        });
        out.push(TimeSeries {
            labels: Labels::new([("__name__", "queue_depth"), ("pod", pod.as_str())]),
            samples: vec![Sample::new(t, ((i * 7 + s) % 23) as f64 * 0.5 - 3.0)],
        });
    }
    out
}

/// Every point of a segment table (every segment file, superseded ones
/// included: points are a set).
fn table_points(root: &Path, table: &str) -> Points {
    let mut files = Vec::new();
    for part in std::fs::read_dir(root.join(table))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(part.path()).into_iter().flatten().flatten() {
            if f.file_name().to_string_lossy().ends_with(".parquet") {
                files.push(bytes::Bytes::from(std::fs::read(f.path()).unwrap()));
            }
        }
    }
    points(decode_series(files).unwrap())
}

fn within(p: &Points, from: i64, to: i64) -> Points {
    p.iter()
        .filter(|(_, t, _)| *t > from && *t <= to)
        .cloned()
        .collect()
}

/// The windows inside `(from, to]` a stream computes from the raw topic's
/// records, each record cut to its samples after `from` (a stream started
/// at `from`).
fn stream_reference(records: &[(i32, i64, Vec<TimeSeries>)], from: i64, to: i64) -> Vec<Points> {
    let res = [5 * M, H];
    let spec = DownsampleSpec {
        resolutions_ms: res.to_vec(),
        lateness_ms: M,
    };
    let mut states: BTreeMap<i32, PartitionState> = BTreeMap::new();
    let mut closed: Vec<ClosedWindow> = Vec::new();
    for (p, _, series) in records {
        let cut: Vec<TimeSeries> = series
            .iter()
            .map(|s| TimeSeries {
                labels: s.labels.clone(),
                samples: s
                    .samples
                    .iter()
                    .filter(|x| x.timestamp_ms > from)
                    .copied()
                    .collect(),
            })
            .collect();
        states.entry(*p).or_default().on_record(&spec, &cut, &mut closed);
    }
    (0..res.len())
        .map(|tier| {
            points(
                closed
                    .iter()
                    .filter(|w| {
                        w.tier == tier && w.window.start_ms >= from && w.window.start_ms + res[tier] <= to
                    })
                    .flat_map(window_series),
            )
        })
        .collect()
}

/// A copy of `live`'s raw table alone under a new segment root, with the
/// same downsampling settings.
fn raw_only(live: &TestConfig, dir: &Path) -> TestConfig {
    let from = live.segments();
    let mut cfg = TestConfig::new(dir, "127.0.0.1:1".into());
    cfg.sections = live.sections.clone();
    copy_dir(&from.join("samples"), &cfg.segments().join("samples"));
    cfg
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Runs `sluice process --replay-from-segments ARGS` to completion.
fn replay_from_segments(cfg: &TestConfig, args: &[String]) -> String {
    let mut cmd = Command::new(binary());
    cmd.args(["process", "--replay-from-segments", "--config"])
        .arg(cfg.write())
        .args(args);
    cmd.env("RUST_LOG", "info");
    let mut p = Proc::spawn(
        "sluice process --replay-from-segments",
        cmd,
        &cfg.dir.join("replay.log"),
    );
    let status = p.child.wait().unwrap();
    assert!(status.success(), "recomputation failed:\n{}", p.output());
    p.output()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downsample_tiers_recomputed_from_raw_segments_equal_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&dir.path().join("broker"));
    std::fs::create_dir_all(dir.path().join("live")).unwrap();
    let mut cfg = TestConfig::new(&dir.path().join("live"), broker.address());
    cfg.sections =
        "downsample:\n  enabled: true\n  resolutions: [5m, 1h]\n  allowed_lateness: 1m\n  checkpoint_interval: 300ms\n"
            .into();
    let (kafka, publisher) = broker.samples_publisher().await;
    // 3 h of data and 10 minutes more, so the watermark closes every
    // window up to T0 + 3h.
    for i in 1..=(3 * H + 10 * M) / SCRAPE {
        publisher.write(step(i)).await.unwrap();
    }
    let records = read_topic(&kafka, &kafka.samples_topic());
    let to = T0 + 3 * H;
    let want = stream_reference(&records, T0, to);
    assert!(want.iter().all(|w| !w.is_empty()));

    // The live pipeline: raw and tier tables.
    let mut sink = cfg.start("sink");
    let mut process = cfg.start("process");
    let live = cfg.segments();
    let deadline = Instant::now() + Duration::from_secs(120);
    let raw_points = points(records.iter().flat_map(|(_, _, s)| s.clone()));
    loop {
        let done = table_points(&live, "samples") == raw_points
            && within(&table_points(&live, "samples_5m"), T0, to) == want[0]
            && within(&table_points(&live, "samples_1h"), T0, to) == want[1];
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the live pipeline did not write the expected tables:\n{}\n{}",
            process.output(),
            sink.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    process.terminate();
    sink.terminate();
    // The raw topic is gone with the broker: only the raw segments remain.
    broker.kill();

    // Whole history up to `to`.
    let full = raw_only(&cfg, &dir.path().join("full"));
    let out = replay_from_segments(&full, &["--to".into(), (to / 1000).to_string()]);
    for (tier, table) in ["samples_5m", "samples_1h"].iter().enumerate() {
        let got = table_points(&full.segments(), table);
        let stream = within(&table_points(&live, table), T0, to);
        assert_eq!(
            got.len(),
            stream.len(),
            "{table}: recomputed vs live point count\n{out}"
        );
        assert_eq!(
            got, stream,
            "{table}: recomputed from segments equals the live tier"
        );
        assert_eq!(got, want[tier]);
    }

    // A later range: as a stream started at `--from`.
    let from = T0 + H;
    let part = raw_only(&cfg, &dir.path().join("part"));
    let out = replay_from_segments(
        &part,
        &[
            "--from".into(),
            (from / 1000).to_string(),
            "--to".into(),
            (to / 1000).to_string(),
        ],
    );
    let want_part = stream_reference(&records, from, to);
    for (tier, table) in ["samples_5m", "samples_1h"].iter().enumerate() {
        let got = table_points(&part.segments(), table);
        assert!(!got.is_empty());
        assert_eq!(got, want_part[tier], "{table} over ({from}, {to}]\n{out}");
        // Every aggregate but the counter one depends on its window's
        // samples alone: those equal the live tier's. (The counter
        // aggregate carries the resets seen since the stream started.)
        let not_counter = |p: &Points| -> Points {
            p.iter()
                .filter(|(l, _, _)| l.get("__aggr__") != Some("counter"))
                .cloned()
                .collect()
        };
        assert_eq!(
            not_counter(&got),
            not_counter(&within(&table_points(&live, table), from, to)),
            "{table}: count, sum, min and max"
        );
    }
    eprintln!(
        "replay from segments: 5m {} points, 1h {} points equal to the live tiers; --from range {} + {} points",
        want[0].len(),
        want[1].len(),
        want_part[0].len(),
        want_part[1].len()
    );
}
