//! Parsing scrape responses: Prometheus text format 0.0.4 and OpenMetrics
//! 1.0 text.
//!
//! [`parse`] turns a response body into [`ParsedSample`]s (labels including
//! `__name__`, value, optional timestamp in milliseconds) and the families'
//! [`MetricMetadata`]. Pick the format with [`Format::from_content_type`].
//!
//! Choices worth knowing:
//! - **Exemplars** (OpenMetrics) are fully validated (syntax, 128-character
//!   label limit, only on counter `_total` and histogram `_bucket` samples)
//!   and then dropped: the bus carries remote-write 1.0 samples, which have
//!   no exemplars.
//! - **`_created` samples** are kept as ordinary series by default, which is
//!   what Prometheus 2.42 does when scraping OpenMetrics: its parser had no
//!   created-timestamp handling (prometheus/prometheus#6541 was still open),
//!   so `foo_created` became a series like any other. Skipping them only
//!   arrived later with the created-timestamp work. [`CreatedSeries::Drop`]
//!   leaves them out; it applies to OpenMetrics, where the TYPE says which
//!   samples are `_created` ones (in text 0.0.4 a `_created` name is just a
//!   name).
//! - **Validation**: text 0.0.4 is checked like Prometheus' scrape parser
//!   (syntax, names, duplicate labels, values, timestamps). OpenMetrics is
//!   checked against the 1.0 spec, including the per-family rules; see
//!   [`Validation`] for the one relaxation used when scraping.
//! - Timestamps: text 0.0.4 carries integer milliseconds, OpenMetrics
//!   decimal seconds, converted exactly and truncated to milliseconds;
//!   OpenMetrics timestamp order is checked at that resolution.
//!   Out-of-range values saturate at the `i64` limits.
//! - Samples are returned as exposed: repeated samples of one series (the
//!   suite's `duplicate_timestamps_*` cases) are all kept, in order.

pub mod fuzz_check;
mod lexer;
mod number;
mod openmetrics;
mod suite;
mod text;
mod validate;

#[cfg(test)]
mod tests;

use lexer::RawLabel;
pub use suite::{CaseOutcome, CaseReport, SuiteReport, run_openmetrics_suite, run_openmetrics_suite_with};

use sluice_model::Labels;
use sluice_model::bus::PbMetricMetadata;
use sluice_model::bus::metadata::type_number;

/// The Accept header Prometheus 2.x sends when scraping.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    PrometheusText,
    /// OpenMetrics 1.0 text (`application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// Picks the parser from a scrape response's Content-Type
    /// (OpenMetrics for application/openmetrics-text, else text 0.0.4).
    pub fn from_content_type(content_type: &str) -> Format {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    StateSet,
    /// OpenMetrics `unknown`, text 0.0.4 `untyped`, or no TYPE line.
    Unknown,
}

impl MetricType {
    /// The OpenMetrics keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// An OpenMetrics TYPE keyword (`untyped` is not one).
    fn from_openmetrics(s: &str) -> Option<MetricType> {
        [
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::StateSet,
            MetricType::Unknown,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// A text 0.0.4 TYPE keyword.
    fn from_text(s: &str) -> Option<MetricType> {
        match s {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            "summary" => Some(MetricType::Summary),
            "untyped" => Some(MetricType::Unknown),
            _ => None,
        }
    }
}

/// TYPE, HELP and UNIT of one family (only for families that had any of
/// those lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    /// Family name, e.g. `http_requests` for `http_requests_total` in OpenMetrics.
    pub family: String,
    /// The declared type, [`MetricType::Unknown`] without a TYPE line.
    pub kind: MetricType,
    /// Unescaped HELP text, empty if none.
    pub help: String,
    /// UNIT (OpenMetrics only), empty if none.
    pub unit: String,
}

impl MetricMetadata {
    /// As the bus and remote_write carry it (`prometheus.MetricMetadata`).
    pub fn to_pb(&self) -> PbMetricMetadata {
        PbMetricMetadata {
            // Every MetricType keyword is one of the enum's names.
            r#type: type_number(self.kind.as_str()).unwrap_or(0),
            metric_family_name: self.family.clone(),
            help: self.help.clone(),
            unit: self.unit.clone(),
        }
    }
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// Labels including `__name__`; empty-valued labels are dropped.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch, if the exposition gave a timestamp.
    pub timestamp_ms: Option<i64>,
}

/// A sample of the text format as the parser hands it to a [`SampleSink`]:
/// checked in full, borrowed from the exposition (label values with
/// escapes aside). Its labels are sorted by name, without `__name__` and
/// empty values. A sink that keeps it makes a [`ParsedSample`] with
/// [`Self::to_parsed`]; one that only looks allocates nothing.
#[derive(Debug, Clone, Copy)]
pub struct SampleView<'v> {
    name: &'v str,
    labels: &'v [RawLabel<'v>],
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch, if the exposition gave a timestamp.
    pub timestamp_ms: Option<i64>,
}

impl<'v> SampleView<'v> {
    /// The metric name.
    pub fn metric_name(&self) -> &'v str {
        self.name
    }

    /// The labels other than `__name__`, sorted by name.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&'v str, &'v str)> + '_ {
        self.labels.iter().map(|l| (l.name, &*l.value))
    }

    /// An owned copy, as [`parse`] returns samples.
    pub fn to_parsed(&self) -> ParsedSample {
        ParsedSample {
            labels: lexer::owned_with_metric_name(self.name, self.labels),
            value: self.value,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// Everything parsed from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Samples in input order.
    pub samples: Vec<ParsedSample>,
    /// Family metadata in input order.
    pub metadata: Vec<MetricMetadata>,
}

/// Why an exposition was rejected. The whole scrape is rejected, as
/// Prometheus does: a partially parsed scrape would make series flap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// How strictly OpenMetrics value rules are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Validation {
    /// For scraping (the default). Identical to [`Validation::Strict`]
    /// except that histogram and summary `_sum` and summary quantile values
    /// may be negative, and histograms with negative buckets may have a
    /// `_sum`. The spec forbids those, but client_golang emits them for
    /// observations below zero (see `alltypes.5mfs.om.txt` in the test data)
    /// and Prometheus ingests them; rejecting the whole scrape would lose
    /// every series of such a target.
    #[default]
    Scrape,
    /// Everything OpenMetrics 1.0 says, as the conformance suite checks it.
    Strict,
}

/// What to do with OpenMetrics `_created` samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CreatedSeries {
    /// Keep them as ordinary series, like Prometheus 2.42 (the default).
    #[default]
    Keep,
    /// Leave them out of [`Exposition::samples`].
    Drop,
}

/// Knobs for [`parse_with`]; the defaults are what scraping wants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// OpenMetrics value rules.
    pub validation: Validation,
    /// OpenMetrics `_created` samples.
    pub created_series: CreatedSeries,
}

/// Parses a scrape response body with the default [`ParseOptions`].
pub fn parse(input: &[u8], format: Format) -> Result<Exposition, ParseError> {
    parse_with(input, format, &ParseOptions::default())
}

/// Parses a scrape response body.
pub fn parse_with(input: &[u8], format: Format, options: &ParseOptions) -> Result<Exposition, ParseError> {
    let input = utf8(input)?;
    match format {
        Format::PrometheusText => text::parse(input),
        Format::OpenMetrics => openmetrics::parse(input, options),
    }
}

/// Where [`parse_text_with_cache`] puts samples: lets a caller that
/// remembers series (a scrape loop, like Prometheus' scrape cache) skip
/// parsing the label sets it has seen before.
pub trait SampleSink {
    /// Whether to offer samples to [`Self::known`] at all.
    fn caches(&self) -> bool {
        true
    }

    /// A sample whose series text (the metric name and label set exactly
    /// as written, e.g. `m{a="1"}`) was seen in a line that parsed before:
    /// `true` when the sink took the sample; `false` has the line parsed in
    /// full and handed to [`Self::parsed`].
    fn known(&mut self, series: &str, value: f64, timestamp_ms: Option<i64>) -> bool;

    /// A sample parsed and checked in full; `series` is its series text
    /// (to remember) when the line has a clean one.
    fn parsed(&mut self, series: Option<&str>, sample: SampleView<'_>);
}

/// Parses a Prometheus text 0.0.4 body into `sink`, with the same checks
/// and errors as [`parse`]. A line whose series text the sink knows is
/// only checked from the value on: its series text is the same bytes as
/// a line that passed every check before.
pub fn parse_text_with_cache(
    input: &[u8],
    sink: &mut impl SampleSink,
) -> Result<Vec<MetricMetadata>, ParseError> {
    let input = utf8(input)?;
    text::parse_into(input, sink)
}

fn utf8(input: &[u8]) -> Result<&str, ParseError> {
    // One up-front check (fast, vectorised in std) lets the lexer slice
    // `&str`s freely instead of validating every label value.
    std::str::from_utf8(input).map_err(|e| {
        let valid = &input[..e.valid_up_to()];
        ParseError {
            line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            reason: "invalid UTF-8".to_string(),
        }
    })
}

#[cfg(test)]
mod api_tests {
    use super::*;

    #[test]
    fn content_type_selects_the_parser() {
        assert_eq!(
            Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type("Application/OpenMetrics-Text"),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type("text/plain; version=0.0.4; charset=utf-8"),
            Format::PrometheusText
        );
        assert_eq!(Format::from_content_type(""), Format::PrometheusText);
    }

    #[test]
    fn every_type_maps_to_its_prompb_enum_value() {
        let pb = |kind| {
            MetricMetadata {
                family: "f".into(),
                kind,
                help: "h".into(),
                unit: "u".into(),
            }
            .to_pb()
        };
        let all = [
            (MetricType::Unknown, 0),
            (MetricType::Counter, 1),
            (MetricType::Gauge, 2),
            (MetricType::Histogram, 3),
            (MetricType::GaugeHistogram, 4),
            (MetricType::Summary, 5),
            (MetricType::Info, 6),
            (MetricType::StateSet, 7),
        ];
        for (kind, number) in all {
            let m = pb(kind);
            assert_eq!(m.r#type, number, "{kind:?}");
            assert_eq!(
                (m.metric_family_name.as_str(), m.help.as_str(), m.unit.as_str()),
                ("f", "h", "u")
            );
        }
    }
}
