//! The properties the exposition fuzz targets assert (`fuzz/`), here so the
//! corpus replay test of the normal build (`tests/it/fuzz_corpus.rs`)
//! checks the same things. A failed property panics, which is what a fuzzer
//! reports as a crash.

use std::fmt::Write;

use sluice_model::fuzz_check::check_labels;

use super::{
    CreatedSeries, Exposition, Format, MetricType, ParseError, ParseOptions, ParsedSample, Validation, parse,
    parse_with,
};

/// A text 0.0.4 scrape body: parsing never panics, an error names a line of
/// the input, parsed samples are well formed, and writing the result back
/// out as text 0.0.4 parses to the same samples and metadata.
pub fn text(body: &[u8]) {
    let parsed = parse(body, Format::PrometheusText);
    let exposition = match parsed {
        Ok(e) => e,
        Err(e) => return check_error_line(body, &e),
    };
    check_samples(&exposition.samples);
    let rendered = render_text(&exposition);
    let again = parse(rendered.as_bytes(), Format::PrometheusText)
        .unwrap_or_else(|e| panic!("the re-rendered exposition does not parse: {e}\n{rendered}"));
    assert_eq!(again.metadata, exposition.metadata, "metadata after a round trip");
    assert_same_samples(&exposition.samples, &again.samples, "text round trip");
}

/// An OpenMetrics scrape body: parsing never panics, an error names a line
/// of the input (or the one after it, for a missing `# EOF`), parsed samples
/// are well formed, the scrape relaxation only ever accepts more than the
/// strict spec (and then the same samples), and dropping `_created` series
/// leaves the other samples as they were.
pub fn openmetrics(body: &[u8]) {
    let with = |validation, created_series| {
        parse_with(
            body,
            Format::OpenMetrics,
            &ParseOptions {
                validation,
                created_series,
            },
        )
    };
    let scrape = with(Validation::Scrape, CreatedSeries::Keep);
    let strict = with(Validation::Strict, CreatedSeries::Keep);
    if let Ok(strict) = &strict {
        let scrape = scrape
            .as_ref()
            .unwrap_or_else(|e| panic!("strict parsing accepts what scrape parsing refuses ({e})"));
        assert_same_samples(&strict.samples, &scrape.samples, "strict vs scrape");
        assert_eq!(strict.metadata, scrape.metadata, "strict vs scrape metadata");
    }
    let exposition = match scrape {
        Ok(e) => e,
        Err(e) => return check_error_line(body, &e),
    };
    check_samples(&exposition.samples);
    let dropped = with(Validation::Scrape, CreatedSeries::Drop)
        .unwrap_or_else(|e| panic!("dropping _created series made the exposition invalid: {e}"));
    let families: Vec<MetadataFamily<'_>> = exposition
        .metadata
        .iter()
        .map(|m| MetadataFamily {
            family: &m.family,
            kind: m.kind,
        })
        .collect();
    let kept: Vec<ParsedSample> = exposition
        .samples
        .iter()
        .filter(|s| {
            let name = s.labels.metric_name().unwrap_or_default();
            !families.iter().any(|f| f.owns_created(name))
        })
        .cloned()
        .collect();
    assert_same_samples(&kept, &dropped.samples, "CreatedSeries::Drop");
}

/// A family's name and type: enough to tell its `_created` samples.
struct MetadataFamily<'a> {
    family: &'a str,
    kind: MetricType,
}

impl MetadataFamily<'_> {
    /// OpenMetrics gives `_created` samples to counters, histograms and
    /// summaries (and their gauge variants have none).
    fn owns_created(&self, name: &str) -> bool {
        matches!(
            self.kind,
            MetricType::Counter | MetricType::Histogram | MetricType::Summary
        ) && name.strip_suffix("_created") == Some(self.family)
    }
}

/// Error lines are 1-based and at most one past the last line (where a
/// missing `# EOF` is reported).
fn check_error_line(body: &[u8], e: &ParseError) {
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    let lines = newlines + usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    assert!(
        (1..=lines + 1).contains(&e.line),
        "error {e:?} names line {} of a {lines}-line input",
        e.line
    );
}

fn check_samples(samples: &[ParsedSample]) {
    for s in samples {
        check_labels(&s.labels).unwrap_or_else(|e| panic!("parsed sample {}: {e}", s.labels));
    }
}

/// Samples equal label by label and timestamp by timestamp; values equal or
/// both NaN (the text format has one NaN spelling, so payloads do not
/// survive a round trip, and need not: scrapes carry no staleness markers).
fn assert_same_samples(a: &[ParsedSample], b: &[ParsedSample], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: sample count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.labels, y.labels, "{what}: labels");
        assert_eq!(
            x.timestamp_ms, y.timestamp_ms,
            "{what}: timestamp of {}",
            x.labels
        );
        assert!(
            x.value == y.value && x.value.is_sign_negative() == y.value.is_sign_negative()
                || x.value.is_nan() && y.value.is_nan(),
            "{what}: value of {}: {:?} vs {:?}",
            x.labels,
            x.value,
            y.value
        );
    }
}

/// Text 0.0.4 as client libraries write it: HELP and TYPE for every family
/// with metadata, then the samples. `Labels`' display form is the
/// exposition's label syntax; Rust's float formatting is the shortest text
/// that parses back to the same value.
fn render_text(e: &Exposition) -> String {
    let mut out = String::new();
    for m in &e.metadata {
        let help = m.help.replace('\\', "\\\\").replace('\n', "\\n");
        let kind = match m.kind {
            MetricType::Unknown => "untyped",
            k => k.as_str(),
        };
        let _ = writeln!(out, "# HELP {} {help}\n# TYPE {} {kind}", m.family, m.family);
    }
    for s in &e.samples {
        let _ = write!(out, "{} {:?}", s.labels, s.value);
        if let Some(t) = s.timestamp_ms {
            let _ = write!(out, " {t}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_holds_for_escapes_specials_and_metadata() {
        text(
            b"# HELP a Help with \\\\ and \\n.\n# TYPE a counter\n\
              a{x=\"q\\\"\\n\\\\\",y=\"\"} -Inf 1\nb NaN\nc 1e300 -5\n# TYPE d untyped\n",
        );
    }

    #[test]
    #[should_panic(expected = "names line 3 of a 1-line input")]
    fn error_lines_are_checked() {
        let e = ParseError {
            line: 3,
            reason: "x".into(),
        };
        check_error_line(b"one line", &e);
    }

    #[test]
    fn created_samples_are_told_by_family_type() {
        openmetrics(b"# TYPE a counter\na_total 1\na_created 5\n# TYPE b gauge\nb_created 2\n# EOF\n");
        let counter = MetadataFamily {
            family: "a",
            kind: MetricType::Counter,
        };
        assert!(counter.owns_created("a_created"));
        assert!(!counter.owns_created("b_created"));
    }
}
