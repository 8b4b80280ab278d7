//! One scrape: fetch a target, parse it, label it, and add Prometheus'
//! synthetic series and staleness markers.
//!
//! A scrape never fails the worker: any error (connect, timeout, HTTP
//! status, parse) becomes `up 0` plus a visible `last_error` for the target.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries, stale_nan};

use crate::exposition::{self, Format};
use crate::relabel::relabel;
use crate::target::Target;

/// What one scrape produced.
#[derive(Debug)]
pub struct ScrapeOutcome {
    /// Series to publish: scraped samples, staleness markers, synthetic series.
    pub series: Vec<TimeSeries>,
    /// Why the scrape failed, if it did.
    pub error: Option<String>,
    /// Wall time of the HTTP request and parse.
    pub duration: Duration,
    /// Samples in the exposition.
    pub samples_scraped: usize,
}

/// Per-target memory between scrapes: which series the last successful
/// scrape produced, so the ones that vanish get a staleness marker.
#[derive(Debug, Default)]
pub struct ScrapeState {
    previous: HashMap<u64, Labels>,
}

impl ScrapeState {
    /// Staleness markers for every series of the last scrape: used when the
    /// target goes away.
    pub fn stale_all(&mut self, t_ms: i64) -> Vec<TimeSeries> {
        self.previous
            .drain()
            .map(|(_, labels)| TimeSeries {
                labels,
                samples: vec![Sample::new(t_ms, stale_nan())],
            })
            .collect()
    }
}

/// Fetches the body, honouring the timeout; returns the body and its format.
async fn fetch(client: &reqwest::Client, target: &Target) -> Result<(Vec<u8>, Format), String> {
    let resp = client
        .get(&target.url)
        .header(ACCEPT, HeaderValue::from_static(exposition::ACCEPT_HEADER))
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        )
        .timeout(target.timeout)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("context deadline exceeded (timeout {:?})", target.timeout)
            } else {
                format!("Get \"{}\": {}", target.url, error_chain(&e))
            }
        })?;
    if !resp.status().is_success() {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let format = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(Format::from_content_type)
        .unwrap_or(Format::PrometheusText);
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("reading body: {}", error_chain(&e)))?;
    Ok((body.to_vec(), format))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Scrapes `target` once at scrape time `t_ms`.
pub async fn scrape_once(
    client: &reqwest::Client,
    target: &Target,
    state: &mut ScrapeState,
    t_ms: i64,
) -> ScrapeOutcome {
    let started = Instant::now();
    let parsed = match fetch(client, target).await {
        Ok((body, format)) => exposition::parse(&body, format).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let duration = started.elapsed();
    let mut series = Vec::new();
    let mut current: HashMap<u64, Labels> = HashMap::new();
    let (error, samples_scraped) = match parsed {
        Ok(expo) => {
            let n = expo.samples.len();
            for s in expo.samples {
                let labels = target.merge_labels(&s.labels);
                let labels = if target.metric_relabel.is_empty() {
                    labels
                } else {
                    match relabel(&labels, &target.metric_relabel) {
                        Some(l) if l.metric_name().is_some_and(|n| !n.is_empty()) => l,
                        _ => continue,
                    }
                };
                let h = labels.hash();
                // Prometheus drops a repeated series within one scrape.
                if current.contains_key(&h) {
                    continue;
                }
                let ts = match s.timestamp_ms {
                    Some(ts) if target.honor_timestamps => ts,
                    _ => t_ms,
                };
                current.insert(h, labels.clone());
                series.push(TimeSeries {
                    labels,
                    samples: vec![Sample::new(ts, s.value)],
                });
            }
            (None, n)
        }
        Err(e) => (Some(e), 0),
    };
    // Series that were there last time and are not now get a staleness
    // marker; after a failed scrape that is all of them, as in Prometheus.
    let gone: Vec<u64> = state
        .previous
        .keys()
        .filter(|h| !current.contains_key(h))
        .copied()
        .collect();
    let added = current.keys().filter(|h| !state.previous.contains_key(h)).count();
    for h in gone {
        if let Some(labels) = state.previous.remove(&h) {
            series.push(TimeSeries {
                labels,
                samples: vec![Sample::new(t_ms, stale_nan())],
            });
        }
    }
    state.previous = current;
    let post_relabel = state.previous.len();
    let up = if error.is_none() { 1.0 } else { 0.0 };
    for (name, value) in [
        ("up", up),
        ("scrape_duration_seconds", duration.as_secs_f64()),
        ("scrape_samples_scraped", samples_scraped as f64),
        ("scrape_samples_post_metric_relabeling", post_relabel as f64),
        ("scrape_series_added", added as f64),
    ] {
        series.push(TimeSeries {
            labels: target.synthetic_labels(name),
            samples: vec![Sample::new(t_ms, value)],
        });
    }
    debug_assert!(series.iter().all(|s| s.labels.get(METRIC_NAME).is_some()));
    ScrapeOutcome {
        series,
        error,
        duration,
        samples_scraped,
    }
}

/// Distinct series hashes in a batch (for tests and metrics).
pub fn distinct_series(series: &[TimeSeries]) -> usize {
    series
        .iter()
        .map(|s| s.labels.hash())
        .collect::<HashSet<_>>()
        .len()
}
