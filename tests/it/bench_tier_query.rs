//! A 30-day range query over the 1 h tier against the same query over raw
//! samples, on one `sluice query` server, interleaved. Ignored by default
//! (a measurement, not a check); `tests/bench/tier_query.sh` runs it with
//! optimised code and the figures go to BENCHMARKS.md.
//!
//! The data is written straight into segments with the sink's writer (raw
//! table) and with the downsampler's own window code (the `samples_1h`
//! table), so the benchmark measures the query path, not ingestion.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::downsample::partition::{DownsampleSpec, PartitionState};
use sluice_processor::downsample::window_series;
use sluice_sink::segment::layout::SegmentKey;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

use crate::support::sluice::TestConfig;

const SERIES: usize = 200;
const DAYS: i64 = 30;
const STEP_MS: i64 = 60_000;
const T0: i64 = 1_700_006_400_000; // a multiple of 1 d
const HOUR: i64 = 3_600_000;

fn sample_at(i: usize, step: i64) -> f64 {
    // Counters with a reset every ~5 days per series.
    let period = 7_000 + (i as i64 * 37) % 500;
    ((step % period) * (1 + i as i64 % 7)) as f64
}

fn labels(i: usize) -> Labels {
    Labels::new([
        ("__name__", "container_network_receive_bytes_total".to_string()),
        ("namespace", format!("ns-{}", i % 8)),
        ("pod", format!("pod-{i}")),
    ])
}

/// One segment per day (series in label order), in `table`.
async fn write_days(
    store: &SegmentStore,
    table: &str,
    per_day: BTreeMap<i64, BTreeMap<Labels, Vec<Sample>>>,
) -> i64 {
    let mut rows = 0;
    for (day, series) in per_day {
        let series: Vec<TimeSeries> = series
            .into_iter()
            .map(|(labels, samples)| TimeSeries { labels, samples })
            .collect();
        let spec = SegmentSpec {
            table,
            key: SegmentKey {
                partition: 0,
                first_offset: day,
                last_offset: day,
            },
        };
        rows += write_segment(store, &spec, series)
            .await
            .unwrap()
            .map_or(0, |m| m.rows);
    }
    rows
}

async fn query(api: &str, expr: &str, resolution: &str) -> (f64, usize, String) {
    let end = T0 + DAYS * 24 * HOUR;
    let url = format!(
        "{api}/api/v1/query_range?query={}&start={}&end={}&step=3600&max_source_resolution={resolution}",
        url_escape(expr),
        (T0 + 24 * HOUR) / 1000,
        end / 1000
    );
    let t = Instant::now();
    let resp = reqwest::get(&url).await.unwrap();
    let tables = resp
        .headers()
        .get("sluice-tables-read")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(body["status"], "success", "{body}");
    let points = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    (ms, points, tables)
}

fn url_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by tests/bench/tier_query.sh"]
async fn bench_30_day_query_tier_vs_raw() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TestConfig::new(dir.path(), "127.0.0.1:1".into());
    cfg.sections = "downsample:\n  enabled: true\n  resolutions: [1h]\n".into();
    let store = SegmentStore::local(&cfg.segments()).unwrap();

    // Raw samples and the 1 h windows the downsampler computes from them.
    let spec = DownsampleSpec {
        resolutions_ms: vec![HOUR],
        lateness_ms: 0,
    };
    let mut state = PartitionState::default();
    let mut raw: BTreeMap<i64, BTreeMap<Labels, Vec<Sample>>> = BTreeMap::new();
    let mut closed = Vec::new();
    let steps = DAYS * 24 * HOUR / STEP_MS;
    let all: Vec<Labels> = (0..SERIES).map(labels).collect();
    for step in 0..steps {
        let t = T0 + step * STEP_MS;
        let record: Vec<TimeSeries> = (0..SERIES)
            .map(|i| TimeSeries {
                labels: all[i].clone(),
                samples: vec![Sample::new(t, sample_at(i, step))],
            })
            .collect();
        state.on_record(&spec, &record, &mut closed);
        let day = raw.entry((t - T0) / (24 * HOUR)).or_default();
        for s in record {
            day.entry(s.labels).or_default().extend(s.samples);
        }
    }
    let mut tier: BTreeMap<i64, BTreeMap<Labels, Vec<Sample>>> = BTreeMap::new();
    for w in &closed {
        for s in window_series(w) {
            let day = (s.samples[0].timestamp_ms - T0) / (24 * HOUR);
            tier.entry(day)
                .or_default()
                .entry(s.labels)
                .or_default()
                .extend(s.samples);
        }
    }
    for day in tier.values_mut() {
        for samples in day.values_mut() {
            samples.sort_by_key(|s| s.timestamp_ms);
        }
    }
    let raw_rows = write_days(&store, "samples", raw).await;
    let tier_rows = write_days(&store, "samples_1h", tier).await;
    eprintln!("data: {raw_rows} raw samples, {tier_rows} tier samples ({SERIES} series, {DAYS} d at 60 s)");

    let _q = cfg.start("query");
    let api = cfg.api();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{api}/-/healthy")).await.is_err() {
        assert!(Instant::now() < deadline, "query role did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let queries = [
        "sum by (namespace) (rate(container_network_receive_bytes_total[6h]))",
        "max(max_over_time(container_network_receive_bytes_total[6h]))",
        "sum(increase(container_network_receive_bytes_total[1d]))",
    ];
    for expr in queries {
        // Cold: the first run of each; then five interleaved pairs.
        let (cold_raw, points_raw, tables_raw) = query(&api, expr, "0s").await;
        let (cold_tier, points_tier, tables_tier) = query(&api, expr, "1h").await;
        assert_eq!(points_raw, points_tier, "{expr}: same number of points");
        assert!(
            tables_tier.starts_with("samples_1h"),
            "{expr}: read {tables_tier}"
        );
        assert_eq!(tables_raw, "samples");
        let (mut raw_ms, mut tier_ms) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            raw_ms.push(query(&api, expr, "0s").await.0);
            tier_ms.push(query(&api, expr, "1h").await.0);
        }
        let (r, t) = (median(raw_ms.clone()), median(tier_ms.clone()));
        eprintln!(
            "tier query: {expr} | 30 d at 1 h step, {points_raw} points | raw: cold {cold_raw:.0} ms, hot median {r:.0} ms \
             (min {:.0}, max {:.0}) | 1h tier: cold {cold_tier:.0} ms, hot median {t:.0} ms (min {:.0}, max {:.0}) | raw/tier {:.1}x",
            raw_ms.iter().copied().fold(f64::MAX, f64::min),
            raw_ms.iter().copied().fold(0.0, f64::max),
            tier_ms.iter().copied().fold(f64::MAX, f64::min),
            tier_ms.iter().copied().fold(0.0, f64::max),
            r / t
        );
    }
}
