//! Sluice's own metrics, rendered on `/metrics` in the Prometheus text format.
//!
//! Deliberately tiny: counters and gauges with fixed label sets, registered
//! once and updated lock-free. Names follow `sluice_<stage>_<name>_<unit>`,
//! counters end in `_total`, and labels are bounded (partition, job, status),
//! never series labels.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
}

type LabelSet = Vec<(String, String)>;

struct Family {
    help: String,
    kind: Kind,
    series: BTreeMap<LabelSet, Arc<AtomicU64>>,
}

/// A set of metric families.
#[derive(Default)]
pub struct Registry {
    families: Mutex<BTreeMap<String, Family>>,
}

/// A monotonically increasing count.
#[derive(Clone, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Clone, Debug)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Adds `delta` (negative to subtract) atomically: for gauges that
    /// several tasks move, where a `set` computed elsewhere could land out
    /// of order.
    pub fn add(&self, delta: f64) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some((f64::from_bits(b) + delta).to_bits())
        });
    }
    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Registry {
    fn cell(&self, name: &str, help: &str, kind: Kind, labels: &[(&str, &str)]) -> Arc<AtomicU64> {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            series: BTreeMap::new(),
        });
        debug_assert_eq!(fam.kind, kind, "metric {name} registered with two kinds");
        let key: LabelSet = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fam.series
            .entry(key)
            .or_insert_with(|| Arc::new(AtomicU64::new(0)))
            .clone()
    }

    /// The counter `name{labels}`, created at 0 on first use.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        Counter(self.cell(name, help, Kind::Counter, labels))
    }

    /// The gauge `name{labels}`, created at 0 on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        Gauge(self.cell(name, help, Kind::Gauge, labels))
    }

    /// All families in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, fam) in fams.iter() {
            let kind = match fam.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, cell) in &fam.series {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                        let _ = write!(out, "{k}=\"{v}\"");
                    }
                    out.push('}');
                }
                let raw = cell.load(Ordering::Relaxed);
                match fam.kind {
                    Kind::Counter => {
                        let _ = writeln!(out, " {raw}");
                    }
                    Kind::Gauge => {
                        let _ = writeln!(out, " {}", f64::from_bits(raw));
                    }
                }
            }
        }
        out
    }
}

/// The process-wide registry every role registers into.
pub fn global() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let r = Registry::default();
        r.counter("sluice_x_total", "x things", &[("partition", "1")])
            .inc_by(3);
        r.gauge("sluice_y_bytes", "y size", &[]).set(2.5);
        // Same name and labels share one cell.
        r.counter("sluice_x_total", "x things", &[("partition", "1")])
            .inc();
        let text = r.render();
        assert!(text.contains("sluice_x_total{partition=\"1\"} 4\n"), "{text}");
        assert!(
            text.contains("# TYPE sluice_y_bytes gauge\nsluice_y_bytes 2.5\n"),
            "{text}"
        );
    }

    #[test]
    fn gauge_adds_from_many_threads() {
        let g = Registry::default().gauge("sluice_z", "z", &[]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        g.add(1.0);
                        g.add(-0.5);
                    }
                });
            }
        });
        assert_eq!(g.get(), 2000.0);
    }
}
