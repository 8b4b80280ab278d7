//! Prometheus text format 0.0.4.
//!
//! Checked like Prometheus' scrape parser does: line syntax, names, label
//! sets (valid names, no duplicates), values and integer millisecond
//! timestamps. Blank lines and free-form `#` comments are allowed, `# EOF`
//! is not needed, and there are no per-type semantics (a sample need not
//! follow its TYPE line). Stricter than Prometheus in one place: a second
//! HELP or TYPE line for the same name is an error, as in client_golang's
//! reference parser, because the two would contradict each other.

use std::collections::HashMap;

use super::lexer::{self, Cursor, Dialect, Line, RawLabel};
use super::{
    Exposition, MetricMetadata, MetricType, ParseError, ParsedSample, SampleSink, SampleView, number,
};

pub(super) fn parse(input: &str) -> Result<Exposition, ParseError> {
    let mut collect = Collect(Vec::with_capacity(input.len() / 64));
    let metadata = parse_into(input, &mut collect)?;
    Ok(Exposition {
        samples: collect.0,
        metadata,
    })
}

/// Keeps every sample, parsed in full.
struct Collect(Vec<ParsedSample>);

impl SampleSink for Collect {
    fn caches(&self) -> bool {
        false
    }
    fn known(&mut self, _: &str, _: f64, _: Option<i64>) -> bool {
        false
    }
    fn parsed(&mut self, _: Option<&str>, sample: SampleView<'_>) {
        self.0.push(sample.to_parsed());
    }
}

/// Parses `input`, handing each sample to `sink` (see [`SampleSink`]);
/// returns the family metadata.
pub(super) fn parse_into(input: &str, sink: &mut impl SampleSink) -> Result<Vec<MetricMetadata>, ParseError> {
    let mut metadata_out = Vec::new();
    // Family name -> index in `metadata_out`, and which lines it has seen.
    let mut families: HashMap<&str, (usize, bool, bool)> = HashMap::new();
    let mut scratch = Vec::new();
    let caches = sink.caches();
    for line in lexer::lines(input) {
        let err = |reason: String| ParseError {
            line: line.number,
            reason,
        };
        let t = line.text.trim_start_matches([' ', '\t']);
        if t.trim_end_matches([' ', '\t']).is_empty() {
            continue;
        }
        if t.starts_with('#') {
            metadata(t, &mut metadata_out, &mut families).map_err(err)?;
            continue;
        }
        let split = if caches { split_series(t) } else { None };
        if let Some((series, rest)) = split {
            let mut c = Cursor::new(rest);
            let blanks = c.skip_blanks();
            if let Ok((value, ts)) = value_and_timestamp(&mut c, blanks)
                && sink.known(series, value, ts)
            {
                continue;
            }
        }
        // Unknown series, or a line the split cannot vouch for: the full
        // parse checks everything and reports errors.
        let (name, value, timestamp_ms) = sample(line, &mut scratch).map_err(err)?;
        let view = SampleView {
            name,
            labels: &scratch,
            value,
            timestamp_ms,
        };
        sink.parsed(split.map(|(series, _)| series), view);
    }
    Ok(metadata_out)
}

/// Splits a (left-trimmed) sample line into its series text — the metric
/// name and label set exactly as written — and the rest (value,
/// timestamp). Neither a value nor a timestamp can hold `{`, `}` or a
/// blank, so the series text ends at the last `}` of a line with a `{`,
/// else at the first blank. `None` for lines this cannot split; the full
/// parse handles (and rejects) those.
fn split_series(t: &str) -> Option<(&str, &str)> {
    let b = t.as_bytes();
    let end = if memchr::memchr(b'{', b).is_some() {
        memchr::memrchr(b'}', b)? + 1
    } else {
        memchr::memchr2(b' ', b'\t', b)?
    };
    Some(t.split_at(end))
}

/// `# HELP name text` or `# TYPE name type`; any other `#` line is a comment.
fn metadata<'a>(
    t: &'a str,
    metadata: &mut Vec<MetricMetadata>,
    families: &mut HashMap<&'a str, (usize, bool, bool)>,
) -> Result<(), String> {
    let mut c = Cursor::new(&t[1..]);
    // Like Prometheus: `#HELP` without a blank is an ordinary comment.
    if c.skip_blanks() == 0 {
        return Ok(());
    }
    let keyword = c.token_until(b" \t");
    let is_help = match keyword {
        "HELP" => true,
        "TYPE" => false,
        _ => return Ok(()),
    };
    if c.skip_blanks() == 0 {
        return Err(format!("expected a metric name after # {keyword}"));
    }
    let name = c.metric_name()?;
    if !c.at_end() && c.skip_blanks() == 0 {
        return Err(format!("expected whitespace after the metric name {name:?}"));
    }
    let rest = c.token_until(b"");
    let (index, seen_help, seen_type) = families.entry(name).or_insert_with(|| {
        metadata.push(MetricMetadata {
            family: name.to_string(),
            kind: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
        });
        (metadata.len() - 1, false, false)
    });
    let m = &mut metadata[*index];
    if is_help {
        if std::mem::replace(seen_help, true) {
            return Err(format!("second # HELP line for {name}"));
        }
        m.help = lexer::unescape_help(rest, Dialect::Text);
    } else {
        if std::mem::replace(seen_type, true) {
            return Err(format!("second # TYPE line for {name}"));
        }
        let kind = rest.trim_end_matches([' ', '\t']);
        m.kind = MetricType::from_text(kind).ok_or_else(|| format!("invalid metric type {kind:?}"))?;
    }
    Ok(())
}

/// `name[{labels}] value [timestamp_ms]`, blank-separated: the metric
/// name, value and timestamp; the labels, normalized, in `labels`.
fn sample<'a>(line: Line<'a>, labels: &mut Vec<RawLabel<'a>>) -> Result<(&'a str, f64, Option<i64>), String> {
    labels.clear();
    let mut c = Cursor::new(line.text);
    c.skip_blanks();
    let name = c.metric_name()?;
    let mut blanks = c.skip_blanks();
    if c.peek() == Some(b'{') {
        c.label_set(Dialect::Text, labels)?;
        blanks = c.skip_blanks();
    }
    let (value, timestamp_ms) = value_and_timestamp(&mut c, blanks)?;
    lexer::normalize_labels(labels)?;
    Ok((name, value, timestamp_ms))
}

/// `value [timestamp_ms]` after a series, `blanks` being the blanks just
/// skipped before it (at least one is needed).
fn value_and_timestamp(c: &mut Cursor<'_>, blanks: usize) -> Result<(f64, Option<i64>), String> {
    if c.at_end() {
        return Err("missing value".to_string());
    }
    if blanks == 0 {
        return Err(format!(
            "expected whitespace before the value, found {}",
            c.describe_next()
        ));
    }
    let raw = c.token_until(b" \t");
    let value = number::text_value(raw).ok_or_else(|| format!("invalid value {raw:?}"))?;
    c.skip_blanks();
    let mut timestamp_ms = None;
    if !c.at_end() {
        let raw = c.token_until(b" \t");
        timestamp_ms = Some(
            number::text_timestamp_ms(raw)
                .ok_or_else(|| format!("invalid timestamp {raw:?} (integer milliseconds)"))?,
        );
        c.skip_blanks();
        if !c.at_end() {
            return Err(format!("unexpected {} after the timestamp", c.describe_next()));
        }
    }
    Ok((value, timestamp_ms))
}

#[cfg(test)]
mod tests {
    use super::super::{Format, MetricType, ParseError, parse};
    use super::Exposition;

    fn ok(s: &str) -> Exposition {
        parse(s.as_bytes(), Format::PrometheusText).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> ParseError {
        match parse(s.as_bytes(), Format::PrometheusText) {
            Ok(_) => panic!("{s:?} should be rejected"),
            Err(e) => e,
        }
    }

    #[test]
    fn no_eof_needed_and_comments_and_blank_lines_are_skipped() {
        let e = ok("# just a comment\n\n   \nup 1\n#another\n  # TYPEWRITER x\n#TYPE x bogus\nx 2");
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.samples[1].value, 2.0);
        assert!(e.metadata.is_empty());
    }

    #[test]
    fn untyped_and_typed_metadata() {
        let e = ok("# HELP a Some help\n# TYPE a untyped\na 1\n# TYPE b counter\nb 2\n");
        assert_eq!(e.metadata.len(), 2);
        assert_eq!(e.metadata[0].kind, MetricType::Unknown);
        assert_eq!(e.metadata[0].help, "Some help");
        assert_eq!(e.metadata[1].kind, MetricType::Counter);
        assert!(err("# TYPE a unknown\n").reason.contains("invalid metric type"));
        assert!(
            err("# TYPE a counter\n# TYPE a gauge\n")
                .reason
                .contains("second")
        );
    }

    #[test]
    fn histograms_parse_as_plain_series() {
        let e = ok(concat!(
            "# TYPE h histogram\n",
            "h_bucket{le=\"0.5\"} 1\n",
            "h_bucket{le=\"+Inf\"} 3\n",
            "h_sum 2.5\n",
            "h_count 3\n",
        ));
        assert_eq!(e.samples.len(), 4);
        assert_eq!(e.samples[1].labels.get("le"), Some("+Inf"));
        assert_eq!(e.samples[1].labels.metric_name(), Some("h_bucket"));
        assert_eq!(e.metadata[0].kind, MetricType::Histogram);
    }

    #[test]
    fn no_openmetrics_type_semantics() {
        // Negative counters, interleaved series and a sample before its TYPE
        // are all accepted, as Prometheus accepts them in this format.
        let e = ok("c_total -1\n# TYPE c_total counter\nb 1\nc_total 2\n");
        assert_eq!(e.samples.len(), 3);
        assert_eq!(e.samples[0].value, -1.0);
    }

    #[test]
    fn escaping_in_label_values_and_help() {
        let e = ok("# HELP m a\\\\b\\nc\\\"d\nm{v=\"q\\\"x\\\\y\\nz\"} 1\n");
        assert_eq!(e.samples[0].labels.get("v"), Some("q\"x\\y\nz"));
        // Text 0.0.4 HELP only knows \\ and \n.
        assert_eq!(e.metadata[0].help, "a\\b\nc\\\"d");
    }

    #[test]
    fn timestamps_are_integer_milliseconds_and_whitespace_is_lenient() {
        let e = ok("a{b=\"c\", } 1.5e3 -1234\n\ta  NaN\t 17 \nb +Inf\n");
        assert_eq!(e.samples[0].timestamp_ms, Some(-1234));
        assert_eq!(e.samples[0].value, 1500.0);
        assert!(e.samples[1].value.is_nan());
        assert_eq!(e.samples[1].timestamp_ms, Some(17));
        assert_eq!(e.samples[2].value, f64::INFINITY);
        assert_eq!(e.samples[2].timestamp_ms, None);
        assert!(err("a 1 1.5\n").reason.contains("timestamp"));
    }

    #[test]
    fn errors_report_the_line_number() {
        let cases = [
            ("a 1\nb{c=\"d\",c=\"e\"} 1\n", 2, "duplicate"),
            ("a 1\n\nb{1c=\"d\"} 1\n", 3, "label name"),
            ("a 1\nb\n", 2, "missing value"),
            ("a 1\nb x\n", 2, "invalid value"),
            ("a 1\nb{c=\"d\"}1\n", 2, "whitespace"),
            ("a 1\nb 1 2 3\n", 2, "after the timestamp"),
            ("a 1\n0b 1\n", 2, "metric name"),
        ];
        for (input, line, reason) in cases {
            let e = err(input);
            assert_eq!(e.line, line, "{input:?}: {e}");
            assert!(e.reason.contains(reason), "{input:?}: {e}");
        }
        let e = parse(b"a 1\n\xff 1\n", Format::PrometheusText).unwrap_err();
        assert_eq!((e.line, e.reason.contains("UTF-8")), (2, true), "{e}");
    }
}
