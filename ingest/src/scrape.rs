//! One scrape: fetch a target, parse it, label it, and add Prometheus'
//! synthetic series and staleness markers.
//!
//! A scrape never fails the worker: any error (connect, timeout, HTTP
//! status, parse, a sample or label limit) becomes `up 0` plus a visible
//! `last_error` for the target, and none of that scrape's samples are
//! published — only the synthetic series and staleness markers.

mod accept;
mod cache;
mod fetch;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_model::bus::EncodedSeries;
use sluice_model::{METRIC_NAME, Sample, TimeSeries, stale_nan};

use crate::exposition::{self, Format};
use crate::http_client::ScrapeClient;
use crate::publish::{ListedSamples, SeriesBatch, SeriesList};
use crate::target::Target;
use accept::{Accepted, accept};
use cache::SeriesCache;
use fetch::fetch;

/// Hashing for the scrape's maps: keys are series text or label hashes
/// from the exposition, not attacker-chosen in a way that matters here (a
/// target can only slow its own loop), and SipHash over every line's
/// series text was a visible share of a scrape.
type FastHash = foldhash::fast::RandomState;

/// What one scrape produced.
#[derive(Debug)]
pub struct ScrapeOutcome {
    /// Series to publish: scraped samples and staleness markers (encoded),
    /// synthetic series (plain).
    pub batch: SeriesBatch,
    /// Why the scrape failed, if it did.
    pub error: Option<String>,
    /// Wall time of the HTTP request, parse and labeling.
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
    /// Label hash -> the series and the last report that had it.
    previous: HashMap<u64, (Arc<EncodedSeries>, u64), FastHash>,
    /// The list whose series are exactly `previous`' (the last report
    /// succeeded with it): a report of the same list again leaves
    /// `previous` as it is, with no series added and none gone.
    reported: Option<Arc<SeriesList>>,
    /// Reports so far (to mark `previous`).
    reports: u64,
    /// Prometheus' scrape cache: what each series text of the text format
    /// became (labels after the target's labels and metric relabeling,
    /// with their hash and bus encoding), so a known line skips label
    /// parsing, relabeling, the limit checks, hashing and encoding.
    /// Entries a successful scrape did not see are dropped.
    cache: SeriesCache,
    /// Scrapes through the cache so far (to age its entries).
    scrapes: u64,
}

impl ScrapeState {
    /// Staleness markers for every series of the last scrape: used when the
    /// target goes away.
    pub fn stale_all(&mut self, t_ms: i64) -> SeriesBatch {
        self.reported = None;
        SeriesBatch {
            encoded: self
                .previous
                .drain()
                .map(|(_, (s, _))| (s, Sample::new(t_ms, stale_nan())))
                .collect(),
            ..SeriesBatch::default()
        }
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
    let (accepted, samples_scraped, metadata) = match fetch(client, target).await {
        Ok((body, Format::PrometheusText)) => state.accept_text(target, body, t_ms),
        Ok((body, format)) => match exposition::parse(&body, format) {
            Ok(expo) => {
                let n = expo.samples.len();
                (accept(target, expo.samples, t_ms), n, expo.metadata)
            }
            Err(e) => (Accepted::failed(e.to_string()), 0, Vec::new()),
        },
        Err(e) => (Accepted::failed(e), 0, Vec::new()),
    };
    // Fetch, parse and labeling (Prometheus' scrape_duration_seconds also
    // covers appending).
    let duration = started.elapsed();
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
    let accepted = Accepted::failed(error);
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
        kept,
        samples,
        post_relabel,
        error,
    } = accepted;
    state.reports += 1;
    let report = state.reports;
    let mut added = 0;
    let mut markers = Vec::new();
    // The same series as the last report's: `previous` has them all and
    // nothing else.
    let unchanged = state.reported.as_ref().is_some_and(|r| Arc::ptr_eq(r, &kept));
    if !unchanged {
        // Only new series are remembered: a series seen last time keeps
        // its entry (same hash, same labels), marked with this report.
        for s in kept.series() {
            match state.previous.entry(s.hash()) {
                Entry::Occupied(mut e) => e.get_mut().1 = report,
                Entry::Vacant(e) => {
                    e.insert((s.clone(), report));
                    added += 1;
                }
            }
        }
        // Series that were there last time and are not now get a
        // staleness marker; after a failed scrape that is all of them, as
        // in Prometheus.
        for (_, (s, _)) in state.previous.extract_if(|_, (_, seen)| *seen != report) {
            markers.push((s, Sample::new(t_ms, stale_nan())));
        }
        state.reported = error.is_none().then(|| kept.clone());
    }
    let mut series = Vec::with_capacity(5);
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
        batch: SeriesBatch {
            listed: (!samples.is_empty()).then_some(ListedSamples { list: kept, samples }),
            encoded: markers,
            series,
        },
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
    use bytes::Bytes;
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

    fn series(out: &ScrapeOutcome) -> Vec<TimeSeries> {
        out.batch.clone().into_series()
    }

    fn value(out: &ScrapeOutcome, name: &str) -> f64 {
        series(out)
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
        assert_eq!(out.batch.samples(), 2 + 5);
        // Three: the scrape fails, keeps nothing and ends the earlier series.
        let over = accept(&t, samples("a 1\nb 1\nc 1\ndropped 1\n"), 2000);
        assert_eq!(over.error.as_deref(), Some("sample limit exceeded"));
        let out = report(&t, &mut state, 2000, Duration::ZERO, 4, over);
        assert_eq!(out.error.as_deref(), Some("sample limit exceeded"));
        assert_eq!(value(&out, "up"), 0.0);
        assert_eq!(value(&out, "scrape_samples_scraped"), 4.0);
        assert_eq!(value(&out, "scrape_samples_post_metric_relabeling"), 3.0);
        let all = series(&out);
        let scraped: Vec<_> = all
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
        assert!(a.kept.series().is_empty() && a.samples.is_empty());

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

    /// The scrape cache's answer for `bodies` scraped one after the other
    /// must be the uncached one, scrape by scrape.
    fn cached_equals_uncached(t: &Target, bodies: &[&str]) {
        let mut state = ScrapeState::default();
        let mut plain_state = ScrapeState::default();
        for (i, body) in bodies.iter().enumerate() {
            let t_ms = 1000 * (i as i64 + 1);
            let (cached, n, cached_metadata) =
                state.accept_text(t, Bytes::copy_from_slice(body.as_bytes()), t_ms);
            let (plain, m, plain_metadata) = match exposition::parse(body.as_bytes(), Format::PrometheusText)
            {
                Ok(e) => {
                    let n = e.samples.len();
                    (accept(t, e.samples, t_ms), n, e.metadata)
                }
                Err(e) => (Accepted::failed(e.to_string()), 0, Vec::new()),
            };
            assert_eq!(cached_metadata, plain_metadata, "scrape {i}: {body:?}");
            assert_eq!((n, &cached.error), (m, &plain.error), "scrape {i}: {body:?}");
            assert_eq!(cached.kept.series(), plain.kept.series(), "scrape {i}: {body:?}");
            assert_eq!(cached.samples, plain.samples, "scrape {i}: {body:?}");
            // The records written from the cache's encoded labels are the
            // bytes the plain series encode to.
            let plain_series: Vec<TimeSeries> = plain
                .kept
                .series()
                .iter()
                .zip(&plain.samples)
                .map(|(s, sample)| TimeSeries {
                    labels: s.labels().clone(),
                    samples: vec![*sample],
                })
                .collect();
            let batch = SeriesBatch {
                listed: Some(ListedSamples {
                    list: cached.kept.clone(),
                    samples: cached.samples.clone(),
                }),
                ..SeriesBatch::default()
            };
            assert_eq!(
                crate::publish::encode_batch_records(&batch, 1),
                crate::publish::encode_records(plain_series, 1),
                "scrape {i}: {body:?}"
            );
            assert_eq!(cached.post_relabel, plain.post_relabel);
            // Staleness markers and the synthetic series (in any order:
            // each state's map has its own hash seed).
            let sorted = |out: ScrapeOutcome| {
                let mut v: Vec<(String, i64, u64)> = out
                    .batch
                    .into_series()
                    .into_iter()
                    .map(|s| {
                        (
                            s.labels.to_string(),
                            s.samples[0].timestamp_ms,
                            s.samples[0].value.to_bits(),
                        )
                    })
                    .collect();
                v.sort();
                v
            };
            let cached_out = report(t, &mut state, t_ms, Duration::ZERO, n, cached);
            let plain_out = report(t, &mut plain_state, t_ms, Duration::ZERO, m, plain);
            assert_eq!(sorted(cached_out), sorted(plain_out), "scrape {i}: {body:?}");
        }
    }

    #[test]
    fn the_scrape_cache_answers_as_a_full_parse_does() {
        let t = target(
            "job_name: j\nstatic_configs: [{targets: ['h:1']}]\n\
             metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}]",
        );
        let body = "# TYPE a counter\na{x=\"1\",y=\"} 2\"} 1\n a{x=\"2\"}  2 17\nb 3\ndropped 4\nb 5\n\
                    c{job=\"inner\"} 6\nh{le=\"+Inf\"} +Inf\n";
        let changed = body.replace(" 1\n", " 10\n").replace("b 3", "b 7");
        cached_equals_uncached(
            &t,
            &[
                body,
                &changed,
                body,
                // Known series text, bad rest: the full parse must reject it.
                "a{x=\"1\",y=\"} 2\"} 1 2 3\n",
                "a{x=\"2\"}1\n",
                "b\n",
                "b x\n",
                body,
                // A series gone and one new.
                "a{x=\"1\",y=\"} 2\"} 1\nnew 1\n",
                "# TYPE a counter\n# TYPE a gauge\nb 1\n",
                body,
            ],
        );
        let limited = target("job_name: j\nlabel_limit: 3\nstatic_configs: [{targets: ['h:1']}]");
        cached_equals_uncached(
            &limited,
            &[
                "ok 1\nm{a=\"1\"} 2\n",
                "ok 1\n",
                "ok 1\nm{a=\"1\"} 2\nm{a=\"1\"} 3\n",
            ],
        );
        let sample_limit = target("job_name: j\nsample_limit: 2\nstatic_configs: [{targets: ['h:1']}]");
        cached_equals_uncached(&sample_limit, &["a 1\nb 1\n", "a 1\nb 1\nc 1\n", "a 1\nb 1\n"]);
    }

    /// The cache predicts each line from the previous body's order; bodies
    /// whose series come, go, move, repeat or name the same labels in
    /// another spelling must still answer as a full parse does.
    #[test]
    fn the_scrape_cache_follows_series_that_move_repeat_or_alias() {
        let t = target(
            "job_name: j\nstatic_configs: [{targets: ['h:1']}]\n\
             metric_relabel_configs: [{regex: drop_me, action: labeldrop}]",
        );
        let lines: Vec<String> = (0..40).map(|i| format!("m{{i=\"{i:02}\"}} {i}\n")).collect();
        let body = |order: &[usize]| order.iter().map(|&i| lines[i].as_str()).collect::<String>();
        let all: Vec<usize> = (0..40).collect();
        let reversed: Vec<usize> = (0..40).rev().collect();
        let without_middle: Vec<usize> = (0..40).filter(|i| !(10..15).contains(i)).collect();
        let swapped: Vec<usize> = (0..40).map(|i| i ^ 1).collect();
        let repeated: Vec<usize> = (0..40).chain([3, 39, 0]).collect();
        let mut bodies = vec![
            body(&all),
            body(&all),
            body(&reversed),
            body(&without_middle),
            body(&all),
            body(&swapped),
            body(&repeated),
            body(&all),
            // New series between known ones, same lengths as their neighbours.
            format!("{}m{{i=\"xx\"}} 1\n{}", body(&all[..20]), body(&all[20..])),
        ];
        // The same series spelled three ways: label order, and a label
        // that relabeling drops; kept once per scrape, whichever comes first.
        let alias = [
            "a{x=\"1\",y=\"2\"} 1\n",
            "a{y=\"2\",x=\"1\"} 2\n",
            "a{x=\"1\",y=\"2\",drop_me=\"z\"} 3\n",
        ];
        bodies.push(format!("{}{}", alias[0], body(&all)));
        bodies.push(format!("{}{}{}", alias[0], body(&all), alias[1]));
        bodies.push(format!("{}{}{}", alias[1], body(&all), alias[0]));
        bodies.push(format!("{}{}", body(&all), alias[2]));
        bodies.push(format!("{}{}{}", alias[2], alias[1], alias[0]));
        bodies.push(body(&all));
        bodies.push(format!("{}{}", alias[0], alias[0]));
        let bodies: Vec<&str> = bodies.iter().map(String::as_str).collect();
        cached_equals_uncached(&t, &bodies);
    }

    /// A scrape that keeps the same series as the last one, in the same
    /// order, hands on the same list (its records and the staleness marks
    /// are reused); any other scrape a new one, and a report after a
    /// failed scrape marks every series again.
    #[test]
    fn only_the_same_series_hand_on_the_same_list() {
        let t = target(
            "job_name: j\nstatic_configs: [{targets: ['h:1']}]\n\
             metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}]",
        );
        let mut state = ScrapeState::default();
        let mut scrape = |body: &'static str, t_ms: i64| {
            let (a, n, _) = state.accept_text(&t, Bytes::from_static(body.as_bytes()), t_ms);
            let list = a.kept.clone();
            let out = report(&t, &mut state, t_ms, Duration::ZERO, n, a);
            let stale = out.batch.encoded.len();
            let listed: Vec<f64> = out
                .batch
                .listed
                .as_ref()
                .map(|l| l.samples.iter().map(|x| x.value).collect())
                .unwrap_or_default();
            (list, value(&out, "scrape_series_added"), stale, listed)
        };
        let (first, added, stale, _) = scrape("a 1\nb 2\ndropped 3\n", 1000);
        assert_eq!((added, stale), (2.0, 0));
        let (same, added, stale, values) = scrape("a 5\nb 6\ndropped 7\n", 2000);
        assert!(Arc::ptr_eq(&first, &same));
        assert_eq!((added, stale, values), (0.0, 0, vec![5.0, 6.0]));
        // Another order: another list, the same series.
        let (moved, added, stale, _) = scrape("b 6\na 5\ndropped 1\n", 3000);
        assert!(!Arc::ptr_eq(&same, &moved));
        assert_eq!((added, stale), (0.0, 0));
        // A failed scrape ends both series; the next scrape keeps the same
        // entries (the same list) but its report adds them again.
        let (_, _, stale, _) = scrape("b\n", 4000);
        assert_eq!(stale, 2);
        let (again, added, stale, _) = scrape("b 6\na 5\ndropped 1\n", 5000);
        assert!(Arc::ptr_eq(&moved, &again));
        assert_eq!((added, stale), (2.0, 0));
        let (_, added, stale, _) = scrape("b 7\na 8\ndropped 1\n", 6000);
        assert_eq!((added, stale), (0.0, 0));
        // A series gone: a new list and a staleness marker.
        let (fewer, added, stale, values) = scrape("b 7\n", 7000);
        assert!(!Arc::ptr_eq(&again, &fewer));
        assert_eq!((added, stale, values), (0.0, 1, vec![7.0]));
        // A new series: a new list.
        let (more, added, stale, _) = scrape("b 7\nc 1\n", 8000);
        assert!(!Arc::ptr_eq(&fewer, &more));
        assert_eq!((added, stale), (1.0, 0));
    }

    #[test]
    fn the_scrape_cache_forgets_series_a_scrape_did_not_have() {
        let t = target("job_name: j\nstatic_configs: [{targets: ['h:1']}]");
        let mut state = ScrapeState::default();
        state.accept_text(&t, Bytes::from_static(b"a 1\nb 2\n"), 1000);
        assert_eq!(state.cache.texts(), ["a", "b"]);
        state.accept_text(&t, Bytes::from_static(b"a 1\n"), 2000);
        assert_eq!(state.cache.texts(), ["a"]);
        // A failed scrape keeps what the cache had.
        let (failed, _, _) = state.accept_text(&t, Bytes::from_static(b"a 1\nb\n"), 3000);
        assert!(failed.error.is_some());
        assert_eq!(state.cache.texts(), ["a"]);
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
            series(&out)
                .iter()
                .any(|s| s.labels.metric_name() == Some("a") && is_stale_nan(s.samples[0].value))
        );
        assert_eq!(out.error.as_deref(), Some("target_limit exceeded"));
    }
}
