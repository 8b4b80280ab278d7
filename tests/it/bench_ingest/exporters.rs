//! Loopback scrape targets for the ingest benchmark: each one a Kubernetes
//! node as a scraper sees it, in one exposition (node-exporter network and
//! CPU counters, cAdvisor's per-pod network counters with its long label
//! sets, request-latency histograms of the services on the node), text
//! format 0.0.4 without timestamps, as live exporters serve it.
//!
//! The series are fixed per target; every scrape of a target advances its
//! counters (by a per-series rate) and moves its gauges, so neither
//! scraper sees a body it could have cached. Bodies are rendered per
//! request from pre-built line prefixes, which keeps the exporters' own
//! CPU (in the test process, not measured) small next to the scrapers'.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;

const DEVICES: [&str; 4] = ["eth0", "eth1", "cni0", "lo"];
const NODE_COUNTERS: [&str; 8] = [
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
];
const CPU_MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];
const CADVISOR_COUNTERS: [&str; 4] = [
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_network_receive_packets_dropped_total",
    "container_network_transmit_packets_dropped_total",
];
const NAMESPACES: [&str; 8] = [
    "default",
    "kube-system",
    "payments",
    "checkout",
    "search",
    "monitoring",
    "ingress-nginx",
    "auth",
];
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// Pods per node: 150 pods × 2 interfaces × 4 counters = 1 200 series.
const PODS: usize = 150;
/// Services per node with a latency histogram, × 3 codes × 2 methods,
/// 14 series each (12 buckets, _sum, _count) = 672 series.
const SERVICES: usize = 8;

/// One line of the exposition without its value.
struct Line {
    prefix: String,
    /// Counter increment per scrape; 0 for a gauge.
    rate: u64,
    base: u64,
}

/// Header lines (`# HELP`/`# TYPE`) and series of one family.
struct Family {
    header: String,
    lines: Vec<Line>,
}

/// The fixed series of node `n`.
fn families(n: usize) -> Vec<Family> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (n as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut rnd = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m.max(1)
    };
    let mut fams = Vec::new();
    let head = |name: &str, kind: &str, help: &str| format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
    for name in NODE_COUNTERS {
        let lines = DEVICES
            .iter()
            .map(|d| Line {
                prefix: format!("{name}{{device=\"{d}\"}} "),
                rate: 1 + rnd(50_000),
                base: rnd(1 << 40),
            })
            .collect();
        fams.push(Family {
            header: head(name, "counter", "Network device statistic."),
            lines,
        });
    }
    for (name, help) in [
        ("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise."),
        ("node_network_mtu_bytes", "Network device property mtu_bytes."),
    ] {
        let lines = DEVICES
            .iter()
            .map(|d| Line {
                prefix: format!("{name}{{device=\"{d}\"}} "),
                rate: 0,
                base: 1500,
            })
            .collect();
        fams.push(Family {
            header: head(name, "gauge", help),
            lines,
        });
    }
    let cpu = (0..4)
        .flat_map(|c| CPU_MODES.iter().map(move |m| (c, m)))
        .map(|(c, m)| Line {
            prefix: format!("node_cpu_seconds_total{{cpu=\"{c}\",mode=\"{m}\"}} "),
            rate: 1 + rnd(200),
            base: rnd(1 << 30),
        })
        .collect();
    fams.push(Family {
        header: head(
            "node_cpu_seconds_total",
            "counter",
            "Seconds the CPUs spent in each mode.",
        ),
        lines: cpu,
    });
    let pods: Vec<(String, String, String)> = (0..PODS)
        .map(|p| {
            let ns = NAMESPACES[p % NAMESPACES.len()];
            let pod = format!(
                "app{:03}-{:08x}-{:05x}",
                p % 40,
                rnd(u32::MAX as u64),
                rnd(1 << 20)
            );
            let uid = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                rnd(u32::MAX as u64),
                rnd(1 << 16),
                rnd(1 << 16),
                rnd(1 << 16),
                rnd(1 << 48)
            );
            (ns.to_string(), pod, uid)
        })
        .collect();
    for name in CADVISOR_COUNTERS {
        let mut lines = Vec::new();
        for (ns, pod, uid) in &pods {
            for iface in ["eth0", "tunl0"] {
                lines.push(Line {
                    prefix: format!(
                        "{name}{{container=\"\",id=\"/kubepods/burstable/pod{uid}\",image=\"registry.k8s.io/pause:3.9\",\
                         interface=\"{iface}\",name=\"k8s_POD_{pod}_{ns}_{uid}_0\",namespace=\"{ns}\",pod=\"{pod}\"}} "
                    ),
                    rate: 1 + rnd(20_000),
                    base: rnd(1 << 36),
                });
            }
        }
        fams.push(Family {
            header: head(name, "counter", "Cumulative count of network statistics."),
            lines,
        });
    }
    let name = "http_request_duration_seconds";
    let mut lines = Vec::new();
    for s in 0..SERVICES {
        let ns = NAMESPACES[s % NAMESPACES.len()];
        for code in ["200", "404", "500"] {
            for method in ["GET", "POST"] {
                let labels =
                    format!("code=\"{code}\",method=\"{method}\",namespace=\"{ns}\",service=\"svc-{s:02}\"");
                let rate = 1 + rnd(500);
                for (i, le) in BUCKETS.iter().enumerate() {
                    // Cumulative buckets: each gets a larger share of the rate.
                    let share = rate * (i as u64 + 1) / BUCKETS.len() as u64;
                    lines.push(Line {
                        prefix: format!("{name}_bucket{{{labels},le=\"{le}\"}} "),
                        rate: share.max(1),
                        base: 0,
                    });
                }
                lines.push(Line {
                    prefix: format!("{name}_sum{{{labels}}} "),
                    rate: rate / 10 + 1,
                    base: 0,
                });
                lines.push(Line {
                    prefix: format!("{name}_count{{{labels}}} "),
                    rate,
                    base: 0,
                });
            }
        }
    }
    fams.push(Family {
        header: head(name, "histogram", "Request latency."),
        lines,
    });
    fams
}

/// One exporter: its series and how many times it was scraped.
struct Node {
    families: Vec<Family>,
    scrapes: AtomicU64,
}

impl Node {
    /// The body of the `k`-th scrape.
    fn render(&self, k: u64) -> String {
        let mut out = String::with_capacity(400 * 1024);
        for f in &self.families {
            out.push_str(&f.header);
            for l in &f.lines {
                out.push_str(&l.prefix);
                let v = if l.rate == 0 {
                    // A gauge that moves a little between scrapes.
                    l.base + k % 3
                } else {
                    l.base + l.rate * k
                };
                let _ = writeln!(out, "{v}");
            }
        }
        out
    }

    fn series(&self) -> usize {
        self.families.iter().map(|f| f.lines.len()).sum()
    }
}

/// `count` exporters on loopback, each serving `/metrics`.
pub(crate) struct Exporters {
    pub(crate) targets: Vec<String>,
    /// Series each exporter serves (the same count for all).
    pub(crate) series_per_target: usize,
    nodes: Vec<Arc<Node>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Exporters {
    pub(crate) async fn start(count: usize) -> Exporters {
        let mut targets = Vec::new();
        let mut nodes = Vec::new();
        let mut tasks = Vec::new();
        for n in 0..count {
            let node = Arc::new(Node {
                families: families(n),
                scrapes: AtomicU64::new(0),
            });
            let app = Router::new()
                .route(
                    "/metrics",
                    get(|State(node): State<Arc<Node>>| async move {
                        (
                            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                            node.render(node.scrapes.fetch_add(1, Ordering::Relaxed)),
                        )
                    }),
                )
                .with_state(node.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            targets.push(format!("127.0.0.1:{}", listener.local_addr().unwrap().port()));
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            nodes.push(node);
        }
        let series_per_target = nodes[0].series();
        assert!(nodes.iter().all(|n| n.series() == series_per_target));
        Exporters {
            targets,
            series_per_target,
            nodes,
            tasks,
        }
    }

    /// Scrapes served so far, over all exporters.
    pub(crate) fn scrapes(&self) -> u64 {
        self.nodes.iter().map(|n| n.scrapes.load(Ordering::Relaxed)).sum()
    }

    /// The first body of the first exporter, for checking it parses.
    pub(crate) fn sample_body(&self) -> String {
        self.nodes[0].render(0)
    }
}

impl Drop for Exporters {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
