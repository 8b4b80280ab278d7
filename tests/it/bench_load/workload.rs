//! The workload of `bench_load`: the fleet loaded before the phases, the
//! dashboard query mix, and the remote_write requests of the load clients.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sluice_model::{Labels, Sample, TimeSeries};

use crate::support::load;
use crate::support::rw_sender::encode;

/// What a load client's `request(client, n)` returns.
pub(super) type Request = Pin<Box<dyn Future<Output = load::Answer> + Send>>;

pub(super) const INSTANCES: usize = 50;
pub(super) const STEP_MS: i64 = 15_000;
/// One hour of 15 s steps (241 samples per series, both ends included).
pub(super) const STEPS: i64 = 240;
const HANDLERS: [&str; 4] = ["/api/v1/items", "/api/v1/orders", "/login", "/healthz"];
const METHODS: [(&str, f64); 2] = [("GET", 1.0), ("POST", 0.3)];
const CODES: [(&str, f64); 3] = [("200", 1.0), ("404", 0.05), ("500", 0.01)];
const BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
const MODES: [(&str, f64); 8] = [
    ("idle", 0.70),
    ("user", 0.15),
    ("system", 0.08),
    ("iowait", 0.03),
    ("irq", 0.01),
    ("softirq", 0.01),
    ("steal", 0.01),
    ("nice", 0.01),
];
/// Samples (= series, one sample each) per remote_write request of the
/// load phases: Prometheus' `max_samples_per_send` default.
pub(super) const RW_BATCH: usize = 2000;

/// The dashboard mix: (query, range step in s; 0 for an instant query).
/// Range queries cover the loaded hour, instant ones its end.
pub(super) const QUERIES: [(&str, i64); 7] = [
    ("sum by (code) (rate(http_requests_total[5m]))", 0),
    ("count by (job) (up == 1)", 0),
    (
        "topk(5, sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])))",
        0,
    ),
    ("sum by (handler) (rate(http_requests_total[5m]))", 15),
    (
        "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))",
        15,
    ),
    ("avg by (mode) (rate(node_cpu_seconds_total[5m]))", 15),
    (
        "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
        60,
    ),
];

pub(super) fn series(name: &str, labels: &[(&str, &str)], t: i64, v: f64) -> TimeSeries {
    let mut pairs: Vec<(String, String)> = vec![("__name__".into(), name.into())];
    pairs.extend(labels.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    TimeSeries {
        labels: Labels::new(pairs),
        samples: vec![Sample::new(t, v)],
    }
}

/// Instance `i` at step `k` (time `t`): `up`, request counters by handler,
/// method and code, a latency histogram per handler, CPU seconds by CPU
/// and mode: 89 series, counters growing at per-series rates.
pub(super) fn fleet(i: usize, k: i64, t: i64) -> Vec<TimeSeries> {
    let owned = format!("host-{i:02}:9100");
    let inst = owned.as_str();
    let secs = (k * STEP_MS / 1000) as f64;
    let mut out = vec![series("up", &[("instance", inst), ("job", "api")], t, 1.0)];
    for (h, handler) in HANDLERS.iter().enumerate() {
        let rate = 10.0 + 5.0 * h as f64 + (i % 7) as f64;
        let base = [("handler", *handler), ("instance", inst), ("job", "api")];
        for (method, m) in METHODS {
            for (code, c) in CODES {
                let l = [("code", code), base[0], base[1], base[2], ("method", method)];
                out.push(series(
                    "http_requests_total",
                    &l,
                    t,
                    (rate * m * c * secs).floor(),
                ));
            }
        }
        let count = (rate * secs).floor();
        let scale = 0.02 * (h + 1) as f64;
        for le in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_string()]) {
            let frac = le.parse::<f64>().map_or(1.0, |b| 1.0 - (-b / scale).exp());
            let l = [base[0], base[1], base[2], ("le", le.as_str())];
            out.push(series(
                "http_request_duration_seconds_bucket",
                &l,
                t,
                (count * frac).floor(),
            ));
        }
        out.push(series("http_request_duration_seconds_count", &base, t, count));
        out.push(series(
            "http_request_duration_seconds_sum",
            &base,
            t,
            count * scale,
        ));
    }
    for cpu in ["0", "1"] {
        for (mode, share) in MODES {
            let l = [("cpu", cpu), ("instance", inst), ("job", "node"), ("mode", mode)];
            let v = secs * share * (1.0 + (i % 3) as f64 * 0.1);
            out.push(series("node_cpu_seconds_total", &l, t, v));
        }
    }
    out
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(super) fn rw_request(
    client: &reqwest::Client,
    url: &str,
    series: &[TimeSeries],
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(encode(series))
}

/// The dashboard mix against `api`, client `c`'s `n`-th query.
pub(super) fn query_load(api: String, t_end: i64) -> impl Fn(usize, u64) -> Request + Send + Sync {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(150))
        .build()
        .unwrap();
    move |c, n| {
        let (q, step) = QUERIES[(c + n as usize) % QUERIES.len()];
        let url = if step == 0 {
            format!("{api}/api/v1/query?query={}&time={}", enc(q), t_end / 1000)
        } else {
            format!(
                "{api}/api/v1/query_range?query={}&start={}&end={}&step={step}",
                enc(q),
                t_end / 1000 - 3600,
                t_end / 1000
            )
        };
        Box::pin(load::send(client.get(url), 0))
    }
}

/// remote_write requests of [`RW_BATCH`] series of client `c`, each at a
/// timestamp after the client's previous one.
pub(super) fn rw_load(url: String, clients: usize) -> impl Fn(usize, u64) -> Request + Send + Sync {
    // Prometheus' default remote_timeout.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let last: Arc<Vec<AtomicI64>> = Arc::new((0..clients).map(|_| AtomicI64::new(0)).collect());
    move |c, n| {
        let t = now_ms().max(last[c].load(Ordering::SeqCst) + 1);
        last[c].store(t, Ordering::SeqCst);
        let inst = format!("client-{c:02}");
        let batch: Vec<TimeSeries> = (0..RW_BATCH)
            .map(|s| {
                let name = format!("rw_load_{}_total", s % 40);
                let shard = (s / 40).to_string();
                series(
                    &name,
                    &[("instance", &inst), ("job", "rw"), ("shard", &shard)],
                    t,
                    n as f64,
                )
            })
            .collect();
        Box::pin(load::send(rw_request(&client, &url, &batch), RW_BATCH as u64))
    }
}
