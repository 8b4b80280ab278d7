//! Exposition parsing speed: MiB/s of Prometheus text format on one core,
//! Sluice's scrape parser in this process, and `promtool check metrics`
//! (Prometheus' parser plus its lint) on the same bytes as a peer. Ignored
//! by default (a measurement, not a check); `tests/bench/parse_throughput.sh`
//! runs it with optimised code and the figures go to BENCHMARKS.md.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use sluice_ingest::exposition::{Format, SampleSink, SampleView, parse, parse_text_with_cache};

/// Looks at every sample (all checks done) without keeping it: the parse
/// alone, labels borrowed from the input, as a scrape meets a line before
/// deciding whether it needs owned labels.
struct Look {
    samples: usize,
    label_bytes: usize,
}

impl SampleSink for Look {
    fn caches(&self) -> bool {
        false
    }
    fn known(&mut self, _: &str, _: f64, _: Option<i64>) -> bool {
        false
    }
    fn parsed(&mut self, _: Option<&str>, s: SampleView<'_>) {
        self.samples += 1;
        self.label_bytes += s.metric_name().len() + s.labels().map(|(n, v)| n.len() + v.len()).sum::<usize>();
    }
}

/// A cAdvisor/kubelet-like exposition: per pod and interface network
/// counters, per container CPU, and a request-latency histogram per
/// service, with HELP and TYPE lines as exporters write them.
fn exposition(pods: usize) -> String {
    let mut out = String::new();
    let families = [
        (
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
        ),
        (
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
        ),
        (
            "container_network_receive_packets_dropped_total",
            "Cumulative count of packets dropped while receiving",
        ),
        (
            "container_network_receive_errors_total",
            "Cumulative count of errors encountered while receiving",
        ),
    ];
    for (name, help) in families {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
        for p in 0..pods {
            for iface in ["eth0", "lo"] {
                out.push_str(&format!(
                    "{name}{{container=\"\",id=\"/kubepods/burstable/pod{p:08x}\",image=\"\",interface=\"{iface}\",name=\"k8s_POD_web-{p}\",namespace=\"ns-{}\",pod=\"web-{p}\"}} {} 1700000000000\n",
                    p % 20,
                    p as u64 * 7919 + 12_345_678
                ));
            }
        }
    }
    out.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n");
    for p in 0..pods / 10 {
        let mut cum = 0;
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
        ] {
            cum += p % 7 + 1;
            out.push_str(&format!(
                "http_request_duration_seconds_bucket{{service=\"svc-{p}\",namespace=\"ns-{}\",le=\"{le}\"}} {cum}\n",
                p % 20
            ));
        }
        out.push_str(&format!(
            "http_request_duration_seconds_sum{{service=\"svc-{p}\",namespace=\"ns-{}\"}} {}.25\n",
            p % 20,
            cum
        ));
        out.push_str(&format!(
            "http_request_duration_seconds_count{{service=\"svc-{p}\",namespace=\"ns-{}\"}} {cum}\n",
            p % 20
        ));
    }
    out
}

#[test]
#[ignore = "benchmark: run by tests/bench/parse_throughput.sh"]
fn bench_parse_throughput() {
    let text = exposition(5_000);
    let bytes = text.as_bytes();
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    let samples = parse(bytes, Format::PrometheusText)
        .expect("the exposition parses")
        .samples
        .len();

    let mut rounds = 0u32;
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < 3.0 {
        let e = parse(bytes, Format::PrometheusText).unwrap();
        assert_eq!(e.samples.len(), samples);
        rounds += 1;
    }
    let sluice_s = started.elapsed().as_secs_f64() / f64::from(rounds);

    let mut borrowed_rounds = 0u32;
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < 3.0 {
        let mut look = Look {
            samples: 0,
            label_bytes: 0,
        };
        parse_text_with_cache(bytes, &mut look).unwrap();
        assert_eq!(look.samples, samples);
        assert!(look.label_bytes > 0);
        borrowed_rounds += 1;
    }
    let borrowed_s = started.elapsed().as_secs_f64() / f64::from(borrowed_rounds);

    // promtool reads the exposition from stdin; best of three runs.
    let promtool_s = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut child = Command::new("promtool")
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("promtool (Debian package prometheus)");
            child.stdin.take().unwrap().write_all(bytes).unwrap();
            child.wait().unwrap();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "parse throughput: {:.1} MiB exposition, {samples} samples: sluice {:.1} MiB/s ({:.1} M samples/s, {rounds} rounds, one core, owned samples); \
         borrowed labels {:.1} MiB/s ({:.1} M samples/s, {borrowed_rounds} rounds); \
         promtool check metrics (parse + lint, incl. process start) {:.1} MiB/s; ratio {:.2}",
        mib,
        mib / sluice_s,
        samples as f64 / sluice_s / 1e6,
        mib / borrowed_s,
        samples as f64 / borrowed_s / 1e6,
        mib / promtool_s,
        promtool_s / sluice_s
    );
}
