//! Rough timing of a few dashboard-style queries over synthetic data:
//! `cargo run -p sluice-promql --example bench [--release]`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::{Engine, MemorySource};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let series: usize = std::env::var("SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let points: i64 = 5760; // one day at 15 s
    let data: Vec<TimeSeries> = (0..series)
        .map(|i| TimeSeries {
            labels: Labels::new([
                ("__name__".to_string(), "http_requests_total".to_string()),
                ("job".to_string(), format!("job{}", i % 10)),
                ("instance".to_string(), format!("i{i}")),
            ]),
            samples: (0..points)
                .map(|k| Sample::new(k * 15_000, (k * (i as i64 % 7 + 1)) as f64))
                .collect(),
        })
        .collect();
    let src = MemorySource::new(data);
    let e = Engine::default();
    for q in [
        "sum by (job) (rate(http_requests_total[5m]))",
        "http_requests_total",
        "topk(5, rate(http_requests_total[5m]))",
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
        "rate(http_requests_total[5m]) / on(instance) group_left rate(http_requests_total[5m] offset 1h)",
    ] {
        let t = Instant::now();
        let r = e.range(&src, q, 3_600_000, 86_400_000, 60_000).await;
        println!(
            "{:>8.1} ms  {q}  ok={}",
            t.elapsed().as_secs_f64() * 1e3,
            r.is_ok()
        );
    }
}
