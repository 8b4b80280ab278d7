//! Resolution-aware PromQL over the real pipeline: raw samples on the
//! broker, `sluice process` writing the 5m and 1h tiers, `sluice sink`
//! writing all three tables, `sluice query` answering through the HTTP API.
//! With `max_source_resolution` the tiered functions answer from a tier
//! (the `Sluice-Tables-Read` header says which table) like the raw data,
//! and still answer once the raw segments are deleted; what a tier cannot
//! answer reads raw data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sluice_ingest::publish::SampleWriter;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_processor::downsample::partition::{DownsampleSpec, PartitionState};
use sluice_processor::downsample::window_series;

use crate::downsample::{points, read_topic};
use crate::support::broker::Broker;
use crate::support::eventually;
use crate::support::http::sql_scalar;
use crate::support::sluice::TestConfig;

const M: i64 = 60_000;
const H: i64 = 60 * M;
/// A multiple of 1 h, so evaluation times at whole hours are window ends.
const T0: i64 = 1_699_920_000_000;
const HOURS: i64 = 8;
const SCRAPE: i64 = 15_000;

/// 8 counters (with resets) and 8 gauges at 15 s, one record per step.
fn step(i: i64) -> Vec<TimeSeries> {
    let mut out = Vec::new();
    for s in 0..8i64 {
        let pod = format!("pod-{s}");
        out.push(TimeSeries {
            labels: Labels::new([("__name__", "net_bytes_total"), ("pod", pod.as_str())]),
            samples: vec![Sample::new(
                T0 + i * SCRAPE,
                ((i * (s + 3)) % (700 + s * 11)) as f64,
            )],
        });
        out.push(TimeSeries {
            labels: Labels::new([("__name__", "queue_depth"), ("pod", pod.as_str())]),
            samples: vec![Sample::new(T0 + i * SCRAPE, ((i * 7 + s) % 23) as f64 - 5.5)],
        });
    }
    out
}

/// One query's answer: HTTP status, the tables it read, `pod` → value.
struct Answer {
    status: u16,
    tables: String,
    values: BTreeMap<String, f64>,
    body: Value,
}

async fn query(api: &str, q: &str, time_ms: i64, max_res: &str) -> Answer {
    let time = format!("{}", time_ms / 1000);
    get(
        &format!("{api}/api/v1/query"),
        &[("query", q), ("time", &time), ("max_source_resolution", max_res)],
    )
    .await
}

async fn query_range(api: &str, q: &str, start: i64, end: i64, step: &str, max_res: &str) -> Answer {
    let (start, end) = (format!("{}", start / 1000), format!("{}", end / 1000));
    get(
        &format!("{api}/api/v1/query_range"),
        &[
            ("query", q),
            ("start", &start),
            ("end", &end),
            ("step", step),
            ("max_source_resolution", max_res),
        ],
    )
    .await
}

/// GET with URL parameters; values keyed by `pod` (and the step time, for
/// a matrix).
async fn get(url: &str, params: &[(&str, &str)]) -> Answer {
    let qs: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let r = reqwest::get(format!("{url}?{qs}")).await.expect("HTTP request");
    let status = r.status().as_u16();
    let tables = r
        .headers()
        .get("sluice-tables-read")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let mut values = BTreeMap::new();
    for s in body["data"]["result"].as_array().into_iter().flatten() {
        let pod = s["metric"]["pod"].as_str().unwrap_or("").to_string();
        let num = |v: &Value| v.as_str().and_then(|x| x.parse::<f64>().ok()).unwrap();
        if let Some(v) = s.get("value") {
            values.insert(pod, num(&v[1]));
        } else {
            for p in s["values"].as_array().into_iter().flatten() {
                values.insert(format!("{pod}@{}", p[0]), num(&p[1]));
            }
        }
    }
    Answer {
        status,
        tables,
        values,
        body,
    }
}

/// Same keys; values within `rel` of each other (relative to the raw one).
fn assert_agree(what: &str, raw: &Answer, tier: &Answer, rel: f64) {
    assert_eq!(raw.status, 200, "{what}: {}", raw.body);
    assert_eq!(tier.status, 200, "{what}: {}", tier.body);
    assert!(!raw.values.is_empty(), "{what}: empty raw answer");
    assert_eq!(
        raw.values.keys().collect::<Vec<_>>(),
        tier.values.keys().collect::<Vec<_>>(),
        "{what}"
    );
    let mut worst: f64 = 0.0;
    for (k, a) in &raw.values {
        let b = tier.values[k];
        let err = (a - b).abs() / a.abs().max(1.0);
        worst = worst.max(err);
        assert!(
            err <= rel,
            "{what} {k}: raw {a}, tier {b} (relative error {err}, bound {rel})"
        );
    }
    eprintln!(
        "resolution: {what}: {} values, largest relative difference {worst:.2e}",
        raw.values.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_reads_tiers_like_raw_data_and_after_raw_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.sections = "downsample:\n  enabled: true\n  resolutions: [5m, 1h]\n  allowed_lateness: 1m\n  checkpoint_interval: 300ms\n".into();
    let (kafka, publisher) = broker.samples_publisher().await;
    let steps = HOURS * H / SCRAPE;
    for i in 1..=steps {
        publisher.write(step(i)).await.unwrap();
    }
    // What the tiers will hold once the downsampler is through (computed
    // here over the same records), to know when the tables are complete.
    let spec = DownsampleSpec {
        resolutions_ms: vec![5 * M, H],
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
    let want: Vec<usize> = (0..2)
        .map(|tier| points(closed.iter().filter(|w| w.tier == tier).flat_map(window_series)).len())
        .collect();
    let raw_points = (steps * 16) as usize;

    let _process = cfg.start("process");
    let mut sink = cfg.start("sink");
    let _query = cfg.start("query");
    let api = cfg.api();
    eventually(Duration::from_secs(60), "query API", || async {
        crate::support::http::get_json(&format!("{api}/-/ready"))
            .await
            .0
            .eq(&200)
            .then_some(())
    })
    .await;
    for (table, n) in [
        ("samples", raw_points),
        ("samples_5m", want[0]),
        ("samples_1h", want[1]),
    ] {
        let sql =
            format!("select count(*) as n from (select distinct __series_id__, __timestamp__ from {table})");
        eventually(Duration::from_secs(180), table, || async {
            (sql_scalar(&api, &sql).await == n.to_string()).then_some(())
        })
        .await;
    }
    sink.terminate();
    let api = api.as_str();

    // The 1h tier's newest window (7h, 8h] is still open (the watermark is
    // 8h - 1m) and (6h, 7h] may be split across flushes, so it counts as
    // complete up to 6h; the 5m tier up to 7h 55m.
    let funcs = [
        ("rate", "net_bytes_total"),
        ("increase", "net_bytes_total"),
        ("min_over_time", "queue_depth"),
        ("max_over_time", "queue_depth"),
        ("count_over_time", "queue_depth"),
        ("sum_over_time", "queue_depth"),
        ("avg_over_time", "queue_depth"),
    ];
    // rate/increase: Prometheus stops extrapolating a raw counter where it
    // would reach zero, judged from the value after the last reset; the
    // tier's counter is reset-adjusted, so at most the extrapolated part
    // (one scrape interval at the range start) differs.
    let bound = |f: &str, range_ms: i64| {
        if f == "rate" || f == "increase" {
            1.1 * SCRAPE as f64 / range_ms as f64
        } else {
            1e-9
        }
    };
    for (f, metric) in funcs {
        let q = format!("{f}({metric}[1h])");
        let t = T0 + 6 * H;
        let raw = query(api, &q, t, "0s").await;
        assert_eq!(raw.tables, "samples", "{q}");
        for max in ["5m", "auto"] {
            let tier = query(api, &q, t, max).await;
            assert_eq!(tier.tables, "samples_5m", "{q} max_source_resolution={max}");
            assert_agree(&format!("{q} @6h, {max}"), &raw, &tier, bound(f, H));
        }
        // A 1h range is too short for the 1h tier: the 5m tier answers.
        assert_eq!(query(api, &q, t, "1h").await.tables, "samples_5m", "{q}");

        let q = format!("{f}({metric}[5h])");
        let raw = query(api, &q, t, "0s").await;
        let tier = query(api, &q, t, "1h").await;
        assert_eq!(tier.tables, "samples_1h", "{q}");
        assert_agree(&format!("{q} @6h, 1h"), &raw, &tier, bound(f, 5 * H));

        // A range query past the 1h tier's complete part: 5h and 6h from
        // the tier, 7h and 8h from raw data.
        let raw = query_range(api, &q, T0 + 5 * H, T0 + 8 * H, "1h", "0s").await;
        let tier = query_range(api, &q, T0 + 5 * H, T0 + 8 * H, "1h", "1h").await;
        assert_eq!(tier.tables, "samples_1h,samples", "{q}");
        assert_eq!(raw.values.len(), 8 * 4, "{q}: 8 series x 4 steps");
        assert_agree(&format!("{q} 5h..8h step 1h, 1h"), &raw, &tier, bound(f, 5 * H));
        // `auto` at a 1h step allows 12m: the 5m tier.
        let auto = query_range(api, &q, T0 + 5 * H, T0 + 8 * H, "1h", "auto").await;
        assert_eq!(auto.tables, "samples_5m,samples", "{q}");
        assert_agree(&format!("{q} 5h..8h step 1h, auto"), &raw, &auto, bound(f, 5 * H));
    }

    // What no tier answers reads raw data.
    for q in [
        "irate(net_bytes_total[1h])",
        "last_over_time(queue_depth[1h])",
        "queue_depth",
        "max_over_time(queue_depth[20m])",
    ] {
        let a = query(api, q, T0 + 6 * H, "1h").await;
        assert_eq!((a.status, a.tables.as_str()), (200, "samples"), "{q}: {}", a.body);
        assert_eq!(a.values.len(), 8, "{q}");
    }
    let bad = query(api, "queue_depth", T0 + 6 * H, "soon").await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    // Raw data expired: delete every raw segment. The tiers still answer
    // what they answered before; raw-only queries find nothing.
    let before: Vec<(String, Answer)> = {
        let mut v = Vec::new();
        for (f, metric) in funcs {
            let q = format!("{f}({metric}[5h])");
            let a = query(api, &q, T0 + 6 * H, "1h").await;
            v.push((q, a));
        }
        v
    };
    let raw_dir = cfg.segments().join("samples");
    std::fs::remove_dir_all(&raw_dir).unwrap();
    let gone = query(api, "queue_depth", T0 + 6 * H, "0s").await;
    assert!(gone.values.is_empty(), "raw data deleted: {}", gone.body);
    for (q, a) in before {
        let after = query(api, &q, T0 + 6 * H, "1h").await;
        assert_eq!(after.tables, "samples_1h", "{q}");
        assert_eq!(after.values, a.values, "{q} after the raw segments were deleted");
        assert_eq!(query(api, &q, T0 + 6 * H, "0s").await.values.len(), 0, "{q} raw");
    }
    let irate = query(api, "irate(net_bytes_total[1h])", T0 + 6 * H, "1h").await;
    assert!(
        irate.values.is_empty(),
        "irate reads raw data only: {}",
        irate.body
    );
}
