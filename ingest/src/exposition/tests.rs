//! Real-world expositions from `testdata/exposition`, and a rough
//! throughput measurement.

use std::path::Path;
use std::time::Instant;

use super::*;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/exposition");

/// `None` (and a notice) when the shared test data is absent.
#[allow(clippy::print_stderr)]
fn read(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(DIR).join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("SKIPPED: {}: {e}", path.display());
            None
        }
    }
}

fn format_of(name: &str) -> Format {
    if name.ends_with(".om.txt") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

fn value(e: &Exposition, series: &str) -> f64 {
    let found: Vec<_> = e
        .samples
        .iter()
        .filter(|s| s.labels.to_string() == series)
        .collect();
    assert_eq!(found.len(), 1, "{series}");
    found[0].value
}

#[test]
fn every_exposition_file_parses() {
    let Ok(entries) = std::fs::read_dir(DIR) else {
        return;
    };
    let mut seen = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let e = parse(&input, format_of(&name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!e.samples.is_empty(), "{name}");
        seen += 1;
    }
    assert!(seen >= 4);
}

#[test]
fn text_files_values_and_metadata() {
    let (Some(meta), Some(nometa)) = (
        read("alltypes.237mfs.prom.txt"),
        read("alltypes.237mfs.nometa.prom.txt"),
    ) else {
        return;
    };
    let meta = parse(&meta, Format::PrometheusText).unwrap();
    let nometa = parse(&nometa, Format::PrometheusText).unwrap();
    // Same samples; only comments differ. (Compared by bits: NaN != NaN.)
    let key = |e: &Exposition| -> Vec<_> {
        e.samples
            .iter()
            .map(|s| (s.labels.clone(), s.value.to_bits(), s.timestamp_ms))
            .collect()
    };
    assert_eq!(meta.samples.len(), 1857);
    assert_eq!(key(&meta), key(&nometa));
    assert!(nometa.metadata.is_empty());
    assert_eq!(meta.metadata.len(), 237);
    assert_eq!(value(&meta, "go_gc_cycles_automatic_gc_cycles_total{}"), 190932.0);
    assert_eq!(
        value(&meta, "prometheus_tsdb_head_chunks_created_total{}"),
        4.893432e6
    );
    let gc = meta
        .metadata
        .iter()
        .find(|m| m.family == "go_gc_duration_seconds")
        .unwrap();
    assert_eq!(gc.kind, MetricType::Summary);
    assert!(meta.samples.iter().all(|s| s.timestamp_ms.is_none()));
}

#[test]
fn openmetrics_files_values_metadata_and_created() {
    let (Some(all), Some(hist)) = (read("alltypes.5mfs.om.txt"), read("1histogram.om.txt")) else {
        return;
    };
    let e = parse(&all, Format::OpenMetrics).unwrap();
    assert_eq!(value(&e, r#"rpc_requests_total{service="exponential"}"#), 22.0);
    // Empty label values are dropped, as everywhere in Prometheus.
    assert_eq!(value(&e, "go_build_info{}"), 1.0);
    assert_eq!(
        value(&e, r#"rpc_durations_seconds{quantile="0.5", service="normal"}"#),
        -5.066758674917046e-06
    );
    // _created samples are kept as series (what Prometheus 2.42 does).
    assert_eq!(
        value(&e, r#"rpc_requests_created{service="normal"}"#),
        1.726839813016717e9
    );
    let kinds: Vec<_> = e.metadata.iter().map(|m| (m.family.as_str(), m.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("go_build_info", MetricType::Gauge),
            ("promhttp_metric_handler_errors", MetricType::Counter),
            ("rpc_durations_histogram_seconds", MetricType::Histogram),
            ("rpc_durations_seconds", MetricType::Summary),
            ("rpc_requests", MetricType::Counter),
        ]
    );
    assert_eq!(e.metadata[3].help, "RPC latency distributions.");

    let dropped = ParseOptions {
        created_series: CreatedSeries::Drop,
        ..ParseOptions::default()
    };
    let without = parse_with(&all, Format::OpenMetrics, &dropped).unwrap();
    let created = e.samples.len() - without.samples.len();
    assert_eq!(created, 9);

    // This client_golang output breaks the spec's value rules (negative
    // summary sums, _sum on a histogram with negative buckets): strict mode
    // says so, scrape mode accepts it as Prometheus does.
    let strict = ParseOptions {
        validation: Validation::Strict,
        ..ParseOptions::default()
    };
    let err = parse_with(&all, Format::OpenMetrics, &strict).unwrap_err();
    assert!(err.reason.contains("rpc_durations"), "{err}");

    let h = parse_with(&hist, Format::OpenMetrics, &strict).unwrap();
    assert_eq!(
        value(
            &h,
            r#"golang_manual_histogram_seconds_bucket{address="0.0.0.0", generation="20", le="+Inf", port="5001"}"#
        ),
        1.0
    );
    assert_eq!(h.metadata[0].kind, MetricType::Histogram);
}

/// Rough throughput on the largest test files. Meaningful only with
/// optimisation, e.g.:
/// `cargo test -p sluice-ingest --lib --config 'profile.dev.package.sluice-ingest.opt-level=3' -- --ignored --nocapture throughput`
#[test]
#[ignore = "measurement; run explicitly with optimisation"]
#[allow(clippy::print_stderr)]
fn throughput() {
    for (name, format) in [
        ("alltypes.237mfs.prom.txt", Format::PrometheusText),
        ("alltypes.5mfs.om.txt", Format::OpenMetrics),
        ("1histogram.om.txt", Format::OpenMetrics),
    ] {
        let Some(input) = read(name) else { return };
        let rounds = (64 << 20) / input.len();
        let start = Instant::now();
        let mut samples = 0;
        for _ in 0..rounds {
            samples += parse(&input, format).unwrap().samples.len();
        }
        let secs = start.elapsed().as_secs_f64();
        let mib = (input.len() * rounds) as f64 / (1 << 20) as f64;
        eprintln!(
            "{name}: {:.0} MiB/s, {:.2} M samples/s",
            mib / secs,
            samples as f64 / secs / 1e6
        );
    }
}
