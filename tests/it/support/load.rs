//! A closed-loop HTTP load generator: N clients, each sending its next
//! request as soon as the previous one is answered (as Prometheus'
//! remote_write shards and dashboard panels do), for a fixed time. Tallies
//! answers by status and the latencies of the 2xx ones.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One answered (or failed) request.
pub(crate) struct Answer {
    /// The HTTP status, or `timeout` / `error` when there was none.
    pub status: String,
    pub latency: Duration,
    /// Samples the request carried (remote_write), counted when 2xx.
    pub samples: u64,
}

/// Sends `req`, reads the whole body, and classifies the outcome.
pub(crate) async fn send(req: reqwest::RequestBuilder, samples: u64) -> Answer {
    let t = Instant::now();
    let status = match req.send().await {
        Ok(r) => {
            let s = r.status();
            match r.bytes().await {
                Ok(_) => s.as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".into(),
                Err(_) => "error".into(),
            }
        }
        Err(e) if e.is_timeout() => "timeout".into(),
        Err(_) => "error".into(),
    };
    Answer {
        status,
        latency: t.elapsed(),
        samples,
    }
}

/// What one load level saw.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Answers by status.
    pub by_status: BTreeMap<String, u64>,
    /// Latencies of 2xx answers, sorted once the level is over.
    pub ok_latencies: Vec<Duration>,
    /// Samples in 2xx answers.
    pub ok_samples: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
}

impl Tally {
    fn add(&mut self, a: Answer) {
        if a.status.starts_with('2') {
            self.ok_latencies.push(a.latency);
            self.ok_samples += a.samples;
        }
        *self.by_status.entry(a.status).or_insert(0) += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_insert(0) += v;
        }
        self.ok_latencies.extend(other.ok_latencies);
        self.ok_samples += other.ok_samples;
    }

    /// Every answer, whatever its status.
    pub(crate) fn requests(&self) -> u64 {
        self.by_status.values().sum()
    }

    /// The nearest-rank `p` quantile (0..=1) of the 2xx latencies, in ms.
    pub(crate) fn quantile_ms(&self, p: f64) -> f64 {
        if self.ok_latencies.is_empty() {
            return f64::NAN;
        }
        let n = self.ok_latencies.len();
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        self.ok_latencies[rank - 1].as_secs_f64() * 1000.0
    }

    /// `204: 5 210, 503: 17`
    pub(crate) fn statuses(&self) -> String {
        let parts: Vec<String> = self.by_status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        parts.join(", ")
    }
}

/// Runs `clients` clients for `duration`; `request(client, n)` makes and
/// sends client's `n`-th request. Requests in flight at the end are
/// awaited and counted.
pub(crate) async fn run<F, Fut>(clients: usize, duration: Duration, request: F) -> Tally
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let end = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut t = Tally::default();
                let mut n = 0;
                while Instant::now() < end {
                    t.add(request(c, n).await);
                    n += 1;
                }
                t
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("load client panicked"));
    }
    total.elapsed = start.elapsed();
    total.ok_latencies.sort();
    total
}

/// `/-/healthy` polled every 250 ms while a level runs, from a thread and
/// runtime of its own: on the load clients' runtime the probe would wait
/// behind their request encoding and time that, not the server.
pub(crate) struct HealthProbe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Duration, u64, u64)>,
}

impl HealthProbe {
    pub(crate) fn start(url: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let probe = {
            let stop = stop.clone();
            async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let (mut slowest, mut probes, mut failed) = (Duration::ZERO, 0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let ok = matches!(client.get(&url).send().await, Ok(r) if r.status().is_success());
                    slowest = slowest.max(t.elapsed());
                    probes += 1;
                    failed += u64::from(!ok);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                (slowest, probes, failed)
            }
        };
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(probe)
        });
        HealthProbe { stop, thread }
    }

    /// (slowest answer, probes, failed probes).
    pub(crate) fn stop(self) -> (Duration, u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("health probe panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut t = Tally::default();
        for ms in 1..=100 {
            t.add(Answer {
                status: "200".into(),
                latency: Duration::from_millis(ms),
                samples: 0,
            });
        }
        t.add(Answer {
            status: "503".into(),
            latency: Duration::from_secs(9),
            samples: 0,
        });
        t.ok_latencies.sort();
        assert_eq!(t.quantile_ms(0.5), 50.0);
        assert_eq!(t.quantile_ms(0.99), 99.0);
        assert_eq!(t.quantile_ms(1.0), 100.0);
        assert_eq!(t.requests(), 101);
        assert_eq!(t.statuses(), "200: 100, 503: 1");
    }
}
