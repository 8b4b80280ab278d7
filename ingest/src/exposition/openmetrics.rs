//! OpenMetrics 1.0 text: line grammar, metric families and `# EOF`.
//!
//! A family is opened by a metadata line or by a sample whose name the
//! current family does not own, and closed when the next one opens. Closing
//! enforces what can only be judged per family: histogram consistency, the
//! UNIT rules and that no family (or sample name) appears twice.

use std::collections::HashSet;

use super::lexer::{self, Cursor, Dialect, Line, RawLabel};
use super::validate::{self, FamilyChecker, SampleRef, Suffix};
use super::{
    CreatedSeries, Exposition, MetricMetadata, MetricType, ParseError, ParseOptions, ParsedSample, number,
};

/// Exemplar label sets are capped at 128 UTF-8 code points (names plus values).
const EXEMPLAR_MAX_CHARS: usize = 128;

pub(super) fn parse(input: &str, opts: &ParseOptions) -> Result<Exposition, ParseError> {
    let mut p = Parser {
        opts,
        family: None,
        checker: FamilyChecker::new(opts.validation),
        claimed: HashSet::new(),
        scratch: Vec::new(),
        out: Exposition {
            samples: Vec::with_capacity(input.len() / 64),
            metadata: Vec::new(),
        },
    };
    let mut lines_seen = 0;
    let mut eof = false;
    for line in lexer::lines(input) {
        let err = |reason: String| ParseError {
            line: line.number,
            reason,
        };
        if eof {
            return Err(err("content after # EOF".to_string()));
        }
        lines_seen = line.number;
        if line.text == "# EOF" {
            p.close_family()?;
            eof = true;
        } else if line.text.starts_with('#') {
            let (keyword, name, text) = metadata_line(line.text).map_err(err)?;
            if p.family.as_ref().is_none_or(|f| f.name != name) {
                p.open_family(name, line.number)?;
            }
            p.metadata(keyword, text, line.number).map_err(err)?;
        } else {
            p.sample(line)?;
        }
    }
    if !eof {
        return Err(ParseError {
            line: lines_seen + 1,
            reason: "missing # EOF at the end of the exposition".to_string(),
        });
    }
    Ok(p.out)
}

struct Parser<'a, 'o> {
    opts: &'o ParseOptions,
    family: Option<Family<'a>>,
    checker: FamilyChecker,
    /// Sample names owned by already closed families.
    claimed: HashSet<String>,
    /// Label buffer reused across samples.
    scratch: Vec<RawLabel<'a>>,
    out: Exposition,
}

struct Family<'a> {
    name: &'a str,
    kind: MetricType,
    typed: bool,
    help: Option<String>,
    unit: Option<&'a str>,
    has_samples: bool,
    first_line: usize,
    last_line: usize,
}

impl<'a> Family<'a> {
    fn new(name: &'a str, line: usize) -> Self {
        Family {
            name,
            kind: MetricType::Unknown,
            typed: false,
            help: None,
            unit: None,
            has_samples: false,
            first_line: line,
            last_line: line,
        }
    }
}

/// A parsed sample line before validation.
struct SampleLine<'a> {
    name: &'a str,
    value: f64,
    timestamp_ms: Option<i64>,
    has_exemplar: bool,
}

impl<'a> Parser<'a, '_> {
    fn open_family(&mut self, name: &'a str, line: usize) -> Result<(), ParseError> {
        self.close_family()?;
        self.checker.reset(MetricType::Unknown);
        self.family = Some(Family::new(name, line));
        Ok(())
    }

    fn close_family(&mut self) -> Result<(), ParseError> {
        let Some(f) = self.family.take() else {
            return Ok(());
        };
        self.checker.finish().map_err(|reason| ParseError {
            line: f.last_line,
            reason: format!("metric family {}: {reason}", f.name),
        })?;
        let at_start = |reason: String| ParseError {
            line: f.first_line,
            reason,
        };
        if let Some(unit) = f.unit.filter(|u| !u.is_empty()) {
            if matches!(f.kind, MetricType::Info | MetricType::StateSet) {
                return Err(at_start(format!(
                    "{} metric {} must not have a unit",
                    f.kind.as_str(),
                    f.name
                )));
            }
            let suffixed = f.name.strip_suffix(unit).is_some_and(|stem| stem.ends_with('_'));
            if !suffixed {
                return Err(at_start(format!(
                    "unit {unit:?} must be a suffix of the metric name {}",
                    f.name
                )));
            }
        }
        for name in validate::claimed_names(f.kind, f.name) {
            if !self.claimed.insert(name.clone()) {
                return Err(at_start(format!(
                    "metric family {} clashes with an earlier family over the name {name} \
                     (families must be contiguous and unique)",
                    f.name
                )));
            }
        }
        if f.typed || f.help.is_some() || f.unit.is_some() {
            self.out.metadata.push(MetricMetadata {
                family: f.name.to_string(),
                kind: f.kind,
                help: f.help.unwrap_or_default(),
                unit: f.unit.unwrap_or_default().to_string(),
            });
        }
        Ok(())
    }

    /// Applies one metadata line to the (already opened) family.
    fn metadata(&mut self, keyword: &str, text: &'a str, line: usize) -> Result<(), String> {
        let f = self.family.as_mut().expect("family is open");
        let name = f.name;
        if f.has_samples {
            return Err(format!("# {keyword} for {name} after its samples"));
        }
        f.last_line = line;
        let dup = || format!("second # {keyword} line for {name}");
        match keyword {
            "HELP" => {
                if f.help.is_some() {
                    return Err(dup());
                }
                f.help = Some(lexer::unescape_help(text, Dialect::OpenMetrics));
            }
            "TYPE" => {
                if f.typed {
                    return Err(dup());
                }
                f.kind = MetricType::from_openmetrics(text)
                    .ok_or_else(|| format!("invalid metric type {text:?}"))?;
                f.typed = true;
                self.checker.reset(f.kind);
            }
            _ => {
                if f.unit.is_some() {
                    return Err(dup());
                }
                f.unit = Some(text);
            }
        }
        Ok(())
    }

    fn sample(&mut self, line: Line<'a>) -> Result<(), ParseError> {
        let err = |reason: String| ParseError {
            line: line.number,
            reason,
        };
        let mut labels = std::mem::take(&mut self.scratch);
        labels.clear();
        let s = parse_sample_line(line.text, &mut labels).map_err(err)?;
        lexer::normalize_labels(&mut labels).map_err(err)?;

        let owned = self
            .family
            .as_ref()
            .and_then(|f| validate::suffix_of(f.kind, f.name, s.name));
        let suffix = match owned {
            Some(suffix) => suffix,
            None => {
                // Not the current family's: an untyped family of its own.
                self.open_family(s.name, line.number)?;
                Suffix::None
            }
        };
        let f = self.family.as_mut().expect("family is open");
        f.has_samples = true;
        f.last_line = line.number;
        let sample = SampleRef {
            suffix,
            labels: &labels,
            value: s.value,
            timestamp_ms: s.timestamp_ms,
            has_exemplar: s.has_exemplar,
        };
        self.checker
            .sample(f.name, &sample)
            .map_err(|r| err(format!("{}: {r}", s.name)))?;

        if suffix != Suffix::Created || self.opts.created_series == CreatedSeries::Keep {
            self.out.samples.push(ParsedSample {
                labels: lexer::with_metric_name(s.name, &mut labels),
                value: s.value,
                timestamp_ms: s.timestamp_ms,
            });
        }
        self.scratch = labels;
        Ok(())
    }
}

/// Splits `# HELP name text`, `# TYPE name type` or `# UNIT name unit` into
/// keyword, name and text. Free-form comments do not exist in OpenMetrics.
fn metadata_line(line: &str) -> Result<(&str, &str, &str), String> {
    const EXPECTED: &str = "expected '# HELP', '# TYPE', '# UNIT' or '# EOF'";
    let rest = line.strip_prefix("# ").ok_or(EXPECTED)?;
    let (keyword, rest) = rest.split_once(' ').ok_or(EXPECTED)?;
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Err(format!("unknown metadata keyword {keyword:?}"));
    }
    // The separating space is required even when the text is empty.
    let (name, text) = rest
        .split_once(' ')
        .ok_or_else(|| format!("expected a metric name and a space after # {keyword}"))?;
    if !lexer::is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    Ok((keyword, name, text))
}

/// `name[{labels}] value [timestamp] [# {labels} value [timestamp]]`, single
/// spaces only, nothing trailing.
fn parse_sample_line<'a>(text: &'a str, labels: &mut Vec<RawLabel<'a>>) -> Result<SampleLine<'a>, String> {
    let mut c = Cursor::new(text);
    let name = c.metric_name()?;
    if c.peek() == Some(b'{') {
        c.label_set(Dialect::OpenMetrics, labels)?;
    }
    c.expect(b' ', "expected a space before the value")?;
    let raw = c.token_until(b" ");
    let value = number::om_value(raw).ok_or_else(|| format!("invalid value {raw:?}"))?;
    let mut sample = SampleLine {
        name,
        value,
        timestamp_ms: None,
        has_exemplar: false,
    };
    if c.at_end() {
        return Ok(sample);
    }
    c.expect(b' ', "expected a space")?;
    if c.peek() != Some(b'#') {
        let raw = c.token_until(b" ");
        sample.timestamp_ms =
            Some(number::om_timestamp_ms(raw).ok_or_else(|| format!("invalid timestamp {raw:?}"))?);
        if c.at_end() {
            return Ok(sample);
        }
        c.expect(b' ', "expected a space")?;
    }
    exemplar(&mut c)?;
    sample.has_exemplar = true;
    Ok(sample)
}

/// `# {labels} value [timestamp]` to the end of the line. Exemplars are
/// validated and then dropped: Sluice's bus carries remote-write 1.0
/// samples, which have no place for them.
fn exemplar(c: &mut Cursor<'_>) -> Result<(), String> {
    c.expect(b'#', "expected '#' to start an exemplar")?;
    c.expect(b' ', "expected a space after '#'")?;
    let mut labels = Vec::new();
    c.label_set(Dialect::OpenMetrics, &mut labels)?;
    let chars: usize = labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if chars > EXEMPLAR_MAX_CHARS {
        return Err(format!(
            "exemplar labels have {chars} characters, more than {EXEMPLAR_MAX_CHARS}"
        ));
    }
    lexer::normalize_labels(&mut labels).map_err(|e| format!("exemplar: {e}"))?;
    c.expect(b' ', "expected a space before the exemplar value")?;
    let raw = c.token_until(b" ");
    number::om_value(raw).ok_or_else(|| format!("invalid exemplar value {raw:?}"))?;
    if c.at_end() {
        return Ok(());
    }
    c.expect(b' ', "expected a space")?;
    let raw = c.token_until(b" ");
    number::om_timestamp_ms(raw).ok_or_else(|| format!("invalid exemplar timestamp {raw:?}"))?;
    if !c.at_end() {
        return Err(format!("unexpected {} after the exemplar", c.describe_next()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Format, parse};

    fn ok(s: &str) -> super::Exposition {
        parse(s.as_bytes(), Format::OpenMetrics).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> super::ParseError {
        match parse(s.as_bytes(), Format::OpenMetrics) {
            Ok(_) => panic!("{s:?} should be rejected"),
            Err(e) => e,
        }
    }

    #[test]
    fn timestamps_are_seconds_and_metadata_is_collected() {
        let e = ok(
            "# TYPE a counter\n# HELP a h\\\"i\n# UNIT a \na_total{x=\"1\"} 2 1.5 # {t=\"1\"} 1 2\n# EOF\n",
        );
        assert_eq!(e.samples.len(), 1);
        assert_eq!(e.samples[0].timestamp_ms, Some(1500));
        assert_eq!(e.samples[0].labels.get("x"), Some("1"));
        assert_eq!(e.metadata[0].help, "h\"i");
        assert_eq!(e.metadata[0].kind, super::MetricType::Counter);
    }

    #[test]
    fn errors_carry_line_numbers() {
        assert_eq!(err("a 1\n\n# EOF\n").line, 2);
        assert_eq!(err("a 1\n").line, 2);
        assert_eq!(err("a 1\n# EOF\nb 1\n").line, 3);
        let e = err("# TYPE a counter\na_total -1\n# EOF\n");
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("negative"), "{e}");
    }

    #[test]
    fn created_series_are_kept_by_default_and_droppable() {
        let text = "# TYPE a counter\na_total 1\na_created 1700000000.5\n# EOF\n";
        assert_eq!(ok(text).samples.len(), 2);
        let opts = super::ParseOptions {
            created_series: super::CreatedSeries::Drop,
            ..Default::default()
        };
        let e = super::super::parse_with(text.as_bytes(), Format::OpenMetrics, &opts).unwrap();
        assert_eq!(e.samples.len(), 1);
        assert_eq!(e.samples[0].labels.metric_name(), Some("a_total"));
    }
}
