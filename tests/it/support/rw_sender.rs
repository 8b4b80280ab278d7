//! A remote_write sender that behaves like one Prometheus queue shard:
//! batches are made on a fixed tick (Prometheus' WAL keeps them while the
//! receiver refuses), sent one at a time and in order, and a batch is
//! retried until it gets a 2xx: on 5xx, on a timeout and on a refused
//! connection, with doubling backoff (Prometheus: 30 ms up to `max_backoff`,
//! 5 s by default; capped lower here to keep the test short). Any other
//! 4xx would drop the batch, as Prometheus does, and fails the test.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use sluice_model::bus::{self, WriteRequest};
use sluice_model::{Labels, Sample, TimeSeries};

/// A remote_write 1.0 body: the series as a snappy-compressed `WriteRequest`.
pub(crate) fn encode(series: &[TimeSeries]) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series.iter().map(bus::to_pb).collect(),
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// What the senders saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct SendStats {
    /// Samples answered 2xx (each exactly once: a batch is sent until then).
    pub accepted: Vec<(u64, i64)>,
    /// Of those, answered while the broker was down.
    pub accepted_during_outage: usize,
    /// Refused attempts by outcome ("503", "timeout", ...), in requests.
    pub refused: BTreeMap<String, usize>,
}

/// One shard's settings.
#[derive(Debug, Clone)]
pub(crate) struct Shard {
    pub url: String,
    pub index: usize,
    pub series: usize,
    pub tick: Duration,
    /// The sender's `remote_timeout`.
    pub timeout: Duration,
    pub max_backoff: Duration,
    pub t0_ms: i64,
}

impl Shard {
    /// Batch `k`: one sample per series at `t0 + k * tick`, so (series,
    /// timestamp) names every sample ever sent.
    pub(crate) fn batch(&self, k: i64) -> Vec<TimeSeries> {
        let ts = self.t0_ms + k * self.tick.as_millis() as i64;
        (0..self.series)
            .map(|s| TimeSeries {
                labels: Labels::new([
                    ("__name__", "outage_test".to_string()),
                    ("series", s.to_string()),
                    ("shard", self.index.to_string()),
                ]),
                samples: vec![Sample::new(ts, k as f64)],
            })
            .collect()
    }

    /// Sends every batch made before `stop_making` turns true, in order,
    /// each until accepted; `broker_down` marks acceptances during the
    /// outage.
    pub(crate) async fn run(
        self,
        stop_making: Arc<AtomicBool>,
        broker_down: Arc<AtomicBool>,
        stats: Arc<Mutex<SendStats>>,
    ) {
        let client = reqwest::Client::builder().timeout(self.timeout).build().unwrap();
        let start = Instant::now();
        // Batches made so far: one per tick until told to stop.
        let mut made: i64 = 0;
        let mut k: i64 = 0;
        loop {
            if !stop_making.load(Ordering::SeqCst) {
                made = (start.elapsed().as_millis() / self.tick.as_millis()) as i64 + 1;
            }
            if k >= made {
                if stop_making.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(self.tick / 4).await;
                continue;
            }
            let series = self.batch(k);
            let body = encode(&series);
            let mut backoff = Duration::from_millis(30);
            loop {
                let outcome = client
                    .post(&self.url)
                    .header("Content-Type", "application/x-protobuf")
                    .header("Content-Encoding", "snappy")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body.clone())
                    .send()
                    .await;
                let refused = match outcome {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) if r.status().is_server_error() => Some(r.status().as_u16().to_string()),
                    Ok(r) => {
                        let status = r.status();
                        panic!(
                            "shard {}: batch {k} dropped with {status}: {}",
                            self.index,
                            r.text().await.unwrap_or_default()
                        );
                    }
                    Err(e) if e.is_timeout() => Some("timeout".to_string()),
                    Err(e) if e.is_connect() => Some("connection refused".to_string()),
                    Err(e) => Some(format!("error: {e}")),
                };
                {
                    let mut st = stats.lock().unwrap();
                    match &refused {
                        None => {
                            st.accepted.extend(
                                series
                                    .iter()
                                    .map(|s| (s.labels.hash(), s.samples[0].timestamp_ms)),
                            );
                            if broker_down.load(Ordering::SeqCst) {
                                st.accepted_during_outage += series.len();
                            }
                        }
                        Some(why) => *st.refused.entry(why.clone()).or_insert(0) += 1,
                    }
                }
                if refused.is_none() {
                    break;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.max_backoff);
            }
            k += 1;
        }
    }
}
