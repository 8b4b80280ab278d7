//! The downsampled tier answers like the raw data: the same PromQL over
//! both, through Sluice's own engine.

use std::collections::BTreeMap;

use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::{Engine, EngineOptions, MemorySource, Value};

use super::partition::{ClosedWindow, DownsampleSpec, PartitionState};
use super::window_series;

const M: i64 = 60_000;
const H: i64 = 60 * M;

fn spec() -> DownsampleSpec {
    DownsampleSpec {
        resolutions_ms: vec![5 * M, H],
        lateness_ms: 2 * M,
    }
}

/// A 15 s counter over 6 h with resets, a 20 minute gap, and every 7th
/// sample delivered late (30 s after its successors); plus a gauge.
fn records() -> (Vec<TimeSeries>, Vec<Vec<TimeSeries>>) {
    let c = Labels::new([("__name__", "net_bytes_total"), ("pod", "a")]);
    let g = Labels::new([("__name__", "queue_depth"), ("pod", "a")]);
    let (mut raw_c, mut raw_g) = (Vec::new(), Vec::new());
    let mut v = 0.0;
    let mut t = 15_000;
    while t <= 6 * H {
        let in_gap = (2 * H..2 * H + 20 * M).contains(&t);
        if !in_gap {
            v += ((t / 15_000) % 11) as f64 * 10.0;
            if t % (97 * M) == 0 {
                v = 3.0; // reset
            }
            raw_c.push(Sample::new(t, v));
            raw_g.push(Sample::new(t, ((t / 15_000) % 13) as f64 - 4.5));
        }
        t += 15_000;
    }
    // Delivery order: mostly in order, every 7th sample two records late.
    let mut order: Vec<usize> = (0..raw_c.len()).collect();
    for i in (7..order.len().saturating_sub(2)).step_by(7) {
        order.swap(i, i + 2);
    }
    let recs = order
        .iter()
        .map(|&i| {
            vec![
                TimeSeries {
                    labels: c.clone(),
                    samples: vec![raw_c[i]],
                },
                TimeSeries {
                    labels: g.clone(),
                    samples: vec![raw_g[i]],
                },
            ]
        })
        .collect();
    let raw = vec![
        TimeSeries {
            labels: c,
            samples: raw_c,
        },
        TimeSeries {
            labels: g,
            samples: raw_g,
        },
    ];
    (raw, recs)
}

/// Runs the records through one partition, then a far-future record to
/// close every window; returns the tier's series.
fn downsample(recs: &[Vec<TimeSeries>], tier: usize) -> (Vec<TimeSeries>, u64) {
    let spec = spec();
    let mut st = PartitionState::default();
    let mut out: Vec<ClosedWindow> = Vec::new();
    for r in recs {
        st.on_record(&spec, r, &mut out);
    }
    let flush = TimeSeries {
        labels: Labels::new([("__name__", "flush")]),
        samples: vec![Sample::new(100 * H, 0.0)],
    };
    st.on_record(&spec, &[flush], &mut out);
    let mut by_labels: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for w in out.iter().filter(|w| w.tier == tier) {
        for s in window_series(w) {
            by_labels.entry(s.labels).or_default().extend(s.samples);
        }
    }
    let series = by_labels
        .into_iter()
        .map(|(labels, mut samples)| {
            samples.sort_by_key(|s| s.timestamp_ms);
            TimeSeries { labels, samples }
        })
        .collect();
    (series, st.late_dropped)
}

async fn scalar(src: &MemorySource, q: &str, t: i64) -> f64 {
    let engine = Engine::new(EngineOptions::default());
    match engine.instant(src, q, t).await.unwrap().value {
        Value::Vector(v) if v.len() == 1 => v[0].value,
        other => panic!("{q} at {t}: {other:?}"),
    }
}

#[tokio::test]
async fn tier_answers_like_raw_data() {
    let (raw, recs) = records();
    let raw_src = MemorySource::new(raw);
    for (tier, res) in [(0usize, 5 * M), (1, H)] {
        let (tier_series, late) = downsample(&recs, tier);
        assert_eq!(late, 0, "every late sample was within the allowed lateness");
        let tier_src = MemorySource::new(tier_series);
        let range = if tier == 0 { "1h" } else { "3h" };
        // Evaluate at window boundaries, so ranges cover whole windows.
        for t in (3 * H..=6 * H).step_by(res as usize) {
            for (raw_q, tier_q) in [
                (
                    "max_over_time(net_bytes_total[R])",
                    "max_over_time(net_bytes_total{__aggr__=\"max\"}[R])",
                ),
                (
                    "min_over_time(queue_depth[R])",
                    "min_over_time(queue_depth{__aggr__=\"min\"}[R])",
                ),
                (
                    "count_over_time(queue_depth[R])",
                    "sum_over_time(queue_depth{__aggr__=\"count\"}[R])",
                ),
                (
                    "sum_over_time(queue_depth[R])",
                    "sum_over_time(queue_depth{__aggr__=\"sum\"}[R])",
                ),
                (
                    "avg_over_time(queue_depth[R])",
                    "sum_over_time(queue_depth{__aggr__=\"sum\"}[R]) / ignoring(__aggr__) sum_over_time(queue_depth{__aggr__=\"count\"}[R])",
                ),
            ] {
                let (rq, tq) = (
                    raw_q.replace('R', range),
                    tier_q.replace("[R]", &format!("[{range}]")),
                );
                let (a, b) = (scalar(&raw_src, &rq, t).await, scalar(&tier_src, &tq, t).await);
                let range_ms = if tier == 0 { H } else { 3 * H };
                let edge_in_gap = (2 * H..2 * H + 20 * M).contains(&(t - range_ms));
                let bound = if edge_in_gap {
                    a.abs() * res as f64 / range_ms as f64
                } else {
                    1e-9 * a.abs().max(1.0)
                };
                assert!(
                    (a - b).abs() <= bound,
                    "{rq} = {a}, tier {tq} = {b} at {t} (bound {bound})"
                );
            }
            // Counters: the tier has the first and last sample of every
            // window, so a range sees the same first and last times and
            // resets are already folded in. Equal up to rounding, unless a
            // range edge falls in a gap of the raw data, where Prometheus
            // decides whether to extrapolate from the average sample
            // spacing, which differs on the tier (documented bound: the
            // extrapolated part, at most one resolution's worth).
            for f in ["increase", "rate"] {
                let rq = format!("{f}(net_bytes_total[{range}])");
                let tq = format!("{f}(net_bytes_total{{__aggr__=\"counter\"}}[{range}])");
                let (a, b) = (scalar(&raw_src, &rq, t).await, scalar(&tier_src, &tq, t).await);
                let range_ms = if tier == 0 { H } else { 3 * H };
                let edge_in_gap = (2 * H..2 * H + 20 * M).contains(&(t - range_ms));
                let bound = if edge_in_gap {
                    a.abs() * res as f64 / range_ms as f64
                } else {
                    1e-9 * a.abs().max(1.0)
                };
                assert!(
                    (a - b).abs() <= bound,
                    "{rq} = {a}, tier {tq} = {b} at {t} (bound {bound})"
                );
            }
        }
    }
}

#[test]
fn samples_later_than_the_lateness_are_counted_not_folded() {
    let spec = spec();
    let mut st = PartitionState::default();
    let mut out = Vec::new();
    let s = |t: i64| {
        vec![TimeSeries {
            labels: Labels::new([("__name__", "x")]),
            samples: vec![Sample::new(t, 1.0)],
        }]
    };
    st.on_record(&spec, &s(20 * M), &mut out);
    // Watermark 18m: (10m, 15m] is final; a sample at 12m is dropped, one
    // at 17m is still on time.
    st.on_record(&spec, &s(12 * M), &mut out);
    st.on_record(&spec, &s(17 * M), &mut out);
    assert_eq!(st.late_dropped, 1);
}

#[test]
fn state_round_trips_through_a_checkpoint() {
    let (_, recs) = records();
    let spec = spec();
    let (mut a, mut out_a) = (PartitionState::default(), Vec::new());
    for r in &recs {
        a.on_record(&spec, r, &mut out_a);
    }
    // Checkpoint halfway, restore, continue: same windows as straight through.
    let (mut b, mut out_b) = (PartitionState::default(), Vec::new());
    let half = recs.len() / 2;
    for r in &recs[..half] {
        b.on_record(&spec, r, &mut out_b);
    }
    let json = serde_json::to_string(&b).unwrap();
    let mut c: PartitionState = serde_json::from_str(&json).unwrap();
    assert_eq!(c, b);
    for r in &recs[half..] {
        c.on_record(&spec, r, &mut out_b);
    }
    assert_eq!(out_a, out_b);
    assert_eq!(a, c);
}

/// The engine's own tier planning (`max_source_resolution`) over the
/// downsampler's output: each mapped function answers from the tier like
/// the raw data, including when the raw data is gone; evaluation times past
/// the tier's complete part read raw data; what a tier cannot answer reads
/// raw data.
#[tokio::test]
async fn engine_plans_tier_reads_that_answer_like_raw_data() {
    use sluice_promql::{MaxSourceResolution, QueryOptions, Reads, Tier};

    let (raw, recs) = records();
    let (t5, _) = downsample(&recs, 0);
    let (t1h, _) = downsample(&recs, 1);
    // The 5m tier is complete up to 5h only (as if its last hour were not
    // published yet); the 1h tier up to 6h.
    let tiers = |s: MemorySource| {
        s.with_tier(
            Tier {
                resolution_ms: 5 * M,
                complete_until_ms: 5 * H,
            },
            t5.clone(),
        )
        .with_tier(
            Tier {
                resolution_ms: H,
                complete_until_ms: 6 * H,
            },
            t1h.clone(),
        )
    };
    let src = tiers(MemorySource::new(raw.clone()));
    let expired = tiers(MemorySource::new(Vec::new()));
    let raw_only = MemorySource::new(raw);
    let engine = Engine::new(EngineOptions::default());
    let opts = |s: &str| QueryOptions {
        max_source_resolution: MaxSourceResolution::parse(s).unwrap(),
        ..Default::default()
    };
    let value = |v: &Value| match v {
        Value::Vector(v) if v.len() == 1 => v[0].value,
        other => panic!("{other:?}"),
    };
    let close = |a: f64, b: f64, bound: f64| (a - b).abs() <= bound;

    let funcs = [
        ("rate", "net_bytes_total"),
        ("increase", "net_bytes_total"),
        ("min_over_time", "queue_depth"),
        ("max_over_time", "queue_depth"),
        ("count_over_time", "queue_depth"),
        ("sum_over_time", "queue_depth"),
        ("avg_over_time", "queue_depth"),
    ];
    for (f, metric) in funcs {
        // Instant queries, range 1h: `auto` picks the 5m tier (a 1h range
        // is too short for the 1h tier) while it is complete.
        let q = format!("{f}({metric}[1h])");
        for t in (3 * H..=6 * H).step_by((15 * M) as usize) {
            let want = value(&engine.instant(&raw_only, &q, t).await.unwrap().value);
            let got = engine.instant_with(&src, &q, t, opts("auto")).await.unwrap();
            let want_reads = if t <= 5 * H {
                Reads {
                    raw: false,
                    tiers_ms: vec![5 * M],
                }
            } else {
                Reads {
                    raw: true,
                    tiers_ms: vec![],
                }
            };
            assert_eq!(got.reads, want_reads, "{q} at {t}");
            let edge_in_gap = (2 * H..2 * H + 20 * M).contains(&(t - H));
            let bound = if edge_in_gap {
                want.abs() * (5 * M) as f64 / H as f64
            } else {
                1e-9 * want.abs().max(1.0)
            };
            assert!(
                close(value(&got.value), want, bound),
                "{q} at {t}: {got:?} vs {want}"
            );
            if t <= 5 * H {
                // Raw data expired: the tier still answers.
                let gone = engine.instant_with(&expired, &q, t, opts("auto")).await.unwrap();
                assert!(
                    close(value(&gone.value), want, bound),
                    "{q} at {t} without raw data"
                );
            }
            // `0s` and a limit below the tiers read raw data only.
            for o in ["0s", "1m"] {
                let r = engine.instant_with(&src, &q, t, opts(o)).await.unwrap();
                assert_eq!(r.reads.tiers_ms, Vec::<i64>::new(), "{q} with {o}");
                assert_eq!(value(&r.value), want);
            }
        }

        // A range query across the 5m tier's complete part: steps up to 5h
        // from the tier, later steps from raw data, one series.
        let want = engine.range(&raw_only, &q, 4 * H, 6 * H, 30 * M).await.unwrap();
        let got = engine
            .range_with(&src, &q, 4 * H, 6 * H, 30 * M, opts("5m"))
            .await
            .unwrap();
        assert_eq!(
            got.reads,
            Reads {
                raw: true,
                tiers_ms: vec![5 * M]
            },
            "{q}"
        );
        let (Value::Matrix(w), Value::Matrix(g)) = (&want.value, &got.value) else {
            panic!("{q}: not matrices");
        };
        assert_eq!((w.len(), g.len()), (1, 1), "{q}");
        assert_eq!(w[0].labels, g[0].labels, "{q}");
        assert_eq!(w[0].samples.len(), g[0].samples.len(), "{q}");
        for (a, b) in w[0].samples.iter().zip(&g[0].samples) {
            assert_eq!(a.timestamp_ms, b.timestamp_ms);
            assert!(
                close(a.value, b.value, 1e-9 * a.value.abs().max(1.0)),
                "{q} at {}: {} vs {}",
                a.timestamp_ms,
                a.value,
                b.value
            );
        }

        // A 5h range at a 1h step under `auto`: the 1h tier, even without
        // raw data.
        let q = format!("{f}({metric}[5h])");
        let want = engine.range(&raw_only, &q, 5 * H, 6 * H, H).await.unwrap();
        let got = engine
            .range_with(&expired, &q, 5 * H, 6 * H, H, opts("auto"))
            .await
            .unwrap();
        // Step 1h: `auto` allows up to 12m, so the 5m tier (complete to 5h)
        // answers the first step and the second finds no raw data.
        assert_eq!(got.reads.tiers_ms, vec![5 * M], "{q}");
        let got = engine
            .range_with(&expired, &q, 5 * H, 6 * H, H, opts("1h"))
            .await
            .unwrap();
        assert_eq!(
            got.reads,
            Reads {
                raw: false,
                tiers_ms: vec![H]
            },
            "{q}"
        );
        let (Value::Matrix(w), Value::Matrix(g)) = (&want.value, &got.value) else {
            panic!("{q}: not matrices");
        };
        assert_eq!(w[0].samples.len(), g[0].samples.len(), "{q}");
        for (a, b) in w[0].samples.iter().zip(&g[0].samples) {
            // The 5h ranges start at 0h and 1h: no edge in the raw gap.
            assert!(
                close(a.value, b.value, 1e-9 * a.value.abs().max(1.0)),
                "{q} at {}: {} vs {}",
                a.timestamp_ms,
                a.value,
                b.value
            );
        }
    }

    // What no tier answers reads raw data, whatever the limit.
    for q in [
        "irate(net_bytes_total[1h])",
        "last_over_time(queue_depth[1h])",
        "quantile_over_time(0.5, queue_depth[1h])",
        "queue_depth",
        "max_over_time(queue_depth[20m])",
        "max_over_time(queue_depth[1h:5m])",
    ] {
        let r = engine.instant_with(&src, q, 4 * H, opts("1h")).await.unwrap();
        assert_eq!(
            r.reads,
            Reads {
                raw: true,
                tiers_ms: vec![]
            },
            "{q}"
        );
        let want = engine.instant(&raw_only, q, 4 * H).await.unwrap();
        assert_eq!(format!("{:?}", r.value), format!("{:?}", want.value), "{q}");
    }
    // Composite expressions tier each call on its own.
    let q = "max_over_time(queue_depth[1h]) - irate(net_bytes_total[5m])";
    let r = engine.instant_with(&src, q, 4 * H, opts("auto")).await.unwrap();
    assert_eq!(
        r.reads,
        Reads {
            raw: true,
            tiers_ms: vec![5 * M]
        }
    );
}

#[test]
fn records_read_in_place_close_the_same_windows_as_decoded_ones() {
    let (_, recs) = records();
    let (mut decoded, mut in_place) = (PartitionState::default(), PartitionState::default());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut read = 0;
    for r in &recs {
        decoded.on_record(&spec(), r, &mut a);
        let rec = sluice_model::bus::indexed::IndexedRecord::read(&sluice_model::bus::encode(r)).unwrap();
        read += in_place.on_indexed(&spec(), &rec, &mut b);
    }
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(decoded, in_place);
    assert_eq!(
        read,
        recs.iter().flatten().map(|s| s.samples.len()).sum::<usize>()
    );
}

/// Checkpoints keep pending samples as a JSON object (timestamp → value
/// bits), the form they had when `pending` was a `BTreeMap`: a state saved
/// by either build restores in the other.
#[test]
fn pending_samples_checkpoint_as_a_timestamp_map() {
    let (_, recs) = records();
    let mut st = PartitionState::default();
    let mut out: Vec<ClosedWindow> = Vec::new();
    for r in &recs[..50] {
        st.on_record(&spec(), r, &mut out);
    }
    let json = serde_json::to_value(&st).unwrap();
    let series = json["series"].as_object().unwrap();
    let pending: Vec<_> = series
        .values()
        .map(|s| s["pending"].as_object().expect("pending is an object").clone())
        .collect();
    assert!(pending.iter().any(|p| !p.is_empty()));
    for p in &pending {
        let ts: Vec<i64> = p.keys().map(|k| k.parse().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]));
    }
    let back: PartitionState = serde_json::from_value(json).unwrap();
    assert_eq!(back, st);
    // Restored, it continues exactly as the original.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut x, mut y) = (st, back);
    for r in &recs[50..] {
        x.on_record(&spec(), r, &mut a);
        y.on_record(&spec(), r, &mut b);
    }
    assert_eq!(a, b);
}
