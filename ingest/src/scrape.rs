//! One scrape: fetch a target, parse it, label it, and add Prometheus'
//! synthetic series and staleness markers.
//!
//! A scrape never fails the worker: any error (connect, timeout, HTTP
//! status, parse, a sample or label limit) becomes `up 0` plus a visible
//! `last_error` for the target, and none of that scrape's samples are
//! published — only the synthetic series and staleness markers.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use sluice_model::{Labels, METRIC_NAME, Sample, TimeSeries, stale_nan};

use crate::config::ScrapeLimits;
use crate::exposition::{self, Format};
use crate::http_client::ScrapeClient;
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
    /// TYPE/HELP/UNIT of the exposition's families; empty when the scrape
    /// failed.
    pub metadata: Vec<exposition::MetricMetadata>,
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
async fn fetch(client: &ScrapeClient, target: &Target) -> Result<(Vec<u8>, Format), String> {
    let resp = client
        .get(&target.url)?
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

/// The series a scrape keeps, after labeling, relabeling and the limits.
struct Accepted {
    series: Vec<TimeSeries>,
    current: HashMap<u64, Labels>,
    /// Samples left after metric relabeling (counted up to a label limit
    /// error).
    post_relabel: usize,
    /// A limit the scrape broke: then none of its samples are kept.
    error: Option<String>,
}

/// Labels the scraped samples, applies `metric_relabel_configs`, and
/// checks the job's limits as Prometheus does: a label limit stops the
/// scrape at the first offending series, the sample limit is checked on
/// the count after relabeling.
fn accept(target: &Target, samples: Vec<exposition::ParsedSample>, t_ms: i64) -> Accepted {
    let mut series = Vec::new();
    let mut current: HashMap<u64, Labels> = HashMap::new();
    let mut error = None;
    for s in samples {
        let labels = target.merge_labels(&s.labels);
        let labels = if target.metric_relabel.is_empty() {
            labels
        } else {
            match relabel(&labels, &target.metric_relabel) {
                Some(l) if l.metric_name().is_some_and(|n| !n.is_empty()) => l,
                _ => continue,
            }
        };
        if let Err(e) = check_label_limits(&labels, &target.limits) {
            error = Some(e);
            break;
        }
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
    let post_relabel = current.len();
    let limit = target.limits.sample_limit;
    if error.is_none() && limit > 0 && post_relabel as u64 > limit {
        error = Some("sample limit exceeded".to_string());
    }
    if error.is_some() {
        series.clear();
        current.clear();
    }
    Accepted {
        series,
        current,
        post_relabel,
        error,
    }
}

/// `label_limit`, `label_name_length_limit` and `label_value_length_limit`
/// (lengths in bytes), with Prometheus' messages.
fn check_label_limits(labels: &Labels, limits: &ScrapeLimits) -> Result<(), String> {
    let metric = truncate(labels.metric_name().unwrap_or_default(), 50);
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            limits.label_limit
        ));
    }
    if limits.label_name_length_limit == 0 && limits.label_value_length_limit == 0 {
        return Ok(());
    }
    for l in labels.iter() {
        let name = truncate(&l.name, 50);
        if limits.label_name_length_limit > 0 && l.name.len() as u64 > limits.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {}, limit: {})",
                l.name.len(),
                limits.label_name_length_limit
            ));
        }
        if limits.label_value_length_limit > 0 && l.value.len() as u64 > limits.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {:?}, length: {}, limit: {})",
                truncate(&l.value, 50),
                l.value.len(),
                limits.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// At most `n` characters of `s` (Go's `%.50s`).
fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Scrapes `target` once at scrape time `t_ms` with the job's `client`.
pub async fn scrape_once(
    client: &ScrapeClient,
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
    let (accepted, samples_scraped, metadata) = match parsed {
        Ok(expo) => {
            let n = expo.samples.len();
            (accept(target, expo.samples, t_ms), n, expo.metadata)
        }
        Err(e) => (
            Accepted {
                series: Vec::new(),
                current: HashMap::new(),
                post_relabel: 0,
                error: Some(e),
            },
            0,
            Vec::new(),
        ),
    };
    let mut outcome = report(target, state, t_ms, duration, samples_scraped, accepted);
    // Metadata of a scrape that failed a limit is not published either:
    // the scrape as a whole did not count.
    if outcome.error.is_none() {
        outcome.metadata = metadata;
    }
    outcome
}

/// A scrape that is not made because the job is failed as a whole (its
/// `target_limit` is exceeded): `up` 0 with `error`, and the target's
/// series end, as in Prometheus.
pub fn forced_failure(target: &Target, state: &mut ScrapeState, t_ms: i64, error: String) -> ScrapeOutcome {
    let accepted = Accepted {
        series: Vec::new(),
        current: HashMap::new(),
        post_relabel: 0,
        error: Some(error),
    };
    report(target, state, t_ms, Duration::ZERO, 0, accepted)
}

/// Adds staleness markers and the synthetic series to what a scrape kept.
fn report(
    target: &Target,
    state: &mut ScrapeState,
    t_ms: i64,
    duration: Duration,
    samples_scraped: usize,
    accepted: Accepted,
) -> ScrapeOutcome {
    let Accepted {
        mut series,
        current,
        post_relabel,
        error,
    } = accepted;
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
        metadata: Vec::new(),
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

#[cfg(test)]
mod tests {
    use sluice_model::is_stale_nan;

    use super::*;
    use crate::config::{GlobalConfig, ScrapeConfig};

    fn target(yaml: &str) -> Target {
        let sc: ScrapeConfig = serde_yaml::from_str(yaml).unwrap();
        crate::target::static_targets(&GlobalConfig::default(), &[sc]).remove(0)
    }

    fn samples(text: &str) -> Vec<exposition::ParsedSample> {
        exposition::parse(text.as_bytes(), Format::PrometheusText)
            .unwrap()
            .samples
    }

    fn value(out: &ScrapeOutcome, name: &str) -> f64 {
        out.series
            .iter()
            .find(|s| s.labels.metric_name() == Some(name))
            .map(|s| s.samples[0].value)
            .unwrap()
    }

    #[test]
    fn sample_limit_counts_after_metric_relabeling_and_fails_the_whole_scrape() {
        let t = target(
            "job_name: j\nsample_limit: 2\nstatic_configs: [{targets: ['h:1']}]\n\
             metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}]",
        );
        let mut state = ScrapeState::default();
        // Two samples left after relabeling: within the limit.
        let ok = accept(&t, samples("a 1\nb 1\ndropped 1\n"), 1000);
        assert!(ok.error.is_none());
        let out = report(&t, &mut state, 1000, Duration::ZERO, 3, ok);
        assert_eq!(out.series.len(), 2 + 5);
        // Three: the scrape fails, keeps nothing and ends the earlier series.
        let over = accept(&t, samples("a 1\nb 1\nc 1\ndropped 1\n"), 2000);
        assert_eq!(over.error.as_deref(), Some("sample limit exceeded"));
        let out = report(&t, &mut state, 2000, Duration::ZERO, 4, over);
        assert_eq!(out.error.as_deref(), Some("sample limit exceeded"));
        assert_eq!(value(&out, "up"), 0.0);
        assert_eq!(value(&out, "scrape_samples_scraped"), 4.0);
        assert_eq!(value(&out, "scrape_samples_post_metric_relabeling"), 3.0);
        let scraped: Vec<_> = out
            .series
            .iter()
            .filter(|s| {
                !s.labels.metric_name().unwrap().starts_with("scrape_")
                    && s.labels.metric_name() != Some("up")
            })
            .collect();
        assert_eq!(scraped.len(), 2);
        assert!(scraped.iter().all(|s| is_stale_nan(s.samples[0].value)));
    }

    #[test]
    fn label_limits_use_prometheus_messages() {
        let t = target("job_name: j\nlabel_limit: 3\nstatic_configs: [{targets: ['h:1']}]");
        // __name__, instance, job and one more: 4 labels.
        let a = accept(&t, samples("ok 1\nmetric_with_labels{a=\"1\"} 1\n"), 0);
        assert_eq!(
            a.error.as_deref(),
            Some("label_limit exceeded (metric: metric_with_labels, number of labels: 4, limit: 3)")
        );
        assert!(a.series.is_empty());

        // `__name__` counts as a label name (8 bytes), as in Prometheus.
        let t = target("job_name: j\nlabel_name_length_limit: 8\nstatic_configs: [{targets: ['h:1']}]");
        let a = accept(&t, samples("m{longername=\"x\"} 1\n"), 0);
        assert_eq!(
            a.error.as_deref(),
            Some(
                "label_name_length_limit exceeded (metric: m, label name: longername, length: 10, limit: 8)"
            )
        );

        let t = target("job_name: j\nlabel_value_length_limit: 4\nstatic_configs: [{targets: ['h:1']}]");
        let a = accept(&t, samples("m{v=\"abc\"} 1\n"), 0);
        assert!(a.error.is_none());
        // The target's own labels count too (instance "h:1" is 3 bytes).
        let a = accept(&t, samples("m{v=\"abcdef\"} 1\n"), 0);
        assert_eq!(
            a.error.as_deref(),
            Some(
                "label_value_length_limit exceeded (metric: m, label name: v, value: \"abcdef\", length: 6, limit: 4)"
            )
        );
    }

    #[test]
    fn a_forced_failure_reports_down_and_ends_the_series() {
        let t = target("job_name: j\nstatic_configs: [{targets: ['h:1']}]");
        let mut state = ScrapeState::default();
        let ok = accept(&t, samples("a 1\n"), 1000);
        report(&t, &mut state, 1000, Duration::ZERO, 1, ok);
        let out = forced_failure(&t, &mut state, 2000, "target_limit exceeded".into());
        assert_eq!(value(&out, "up"), 0.0);
        assert!(
            out.series
                .iter()
                .any(|s| s.labels.metric_name() == Some("a") && is_stale_nan(s.samples[0].value))
        );
        assert_eq!(out.error.as_deref(), Some("target_limit exceeded"));
    }
}
