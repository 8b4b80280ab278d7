//! Runs the OpenMetrics conformance suite (`parsers/<case>/{metrics,test.json}`
//! from the OpenMetrics repository) through the OpenMetrics parser.

use std::fmt;
use std::path::Path;

use super::{Format, ParseOptions, Validation, parse_with};

/// Cases that cannot pass, with the reason. Empty: every case passes.
const SKIP: &[(&str, &str)] = &[];

/// How one case went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// Parsed when it should, rejected when it should.
    Passed,
    /// The opposite.
    Failed,
    /// On the skip list, or not a text case.
    Skipped,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseReport {
    /// Directory name, e.g. `bad_blank_line`.
    pub name: String,
    /// What `test.json` says.
    pub should_parse: bool,
    /// The verdict.
    pub outcome: CaseOutcome,
    /// The parse error (or "parsed"), or why the case was skipped.
    pub detail: String,
}

/// All cases of a suite run, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteReport {
    /// Per-case results.
    pub cases: Vec<CaseReport>,
}

impl SuiteReport {
    fn count(&self, o: CaseOutcome) -> usize {
        self.cases.iter().filter(|c| c.outcome == o).count()
    }
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(CaseOutcome::Passed)
    }
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.count(CaseOutcome::Failed)
    }
    /// Cases skipped.
    pub fn skipped(&self) -> usize {
        self.count(CaseOutcome::Skipped)
    }
}

/// Failures and skips, one per line, then `openmetrics: N passed, M failed`.
impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            let tag = match c.outcome {
                CaseOutcome::Passed => continue,
                CaseOutcome::Failed => "FAIL",
                CaseOutcome::Skipped => "SKIP",
            };
            let want = if c.should_parse { "parse" } else { "reject" };
            writeln!(f, "{tag} {} (should {want}): {}", c.name, c.detail)?;
        }
        write!(
            f,
            "openmetrics: {} passed, {} failed",
            self.passed(),
            self.failed()
        )
    }
}

/// Runs every case under `dir` with strict OpenMetrics validation, the
/// suite being the spec's own test of it.
pub fn run_openmetrics_suite(dir: &Path) -> SuiteReport {
    let strict = ParseOptions {
        validation: Validation::Strict,
        ..ParseOptions::default()
    };
    run_openmetrics_suite_with(dir, &strict)
}

/// Runs every case under `dir` with the given options (e.g. to see which
/// cases the scrape-time relaxations let through). An unreadable directory
/// or case shows up as a failed case.
pub fn run_openmetrics_suite_with(dir: &Path, options: &ParseOptions) -> SuiteReport {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            return SuiteReport {
                cases: vec![CaseReport {
                    name: dir.display().to_string(),
                    should_parse: true,
                    outcome: CaseOutcome::Failed,
                    detail: format!("cannot read the suite directory: {e}"),
                }],
            };
        }
    };
    names.sort();
    SuiteReport {
        cases: names
            .into_iter()
            .map(|name| run_case(&dir.join(&name), name, options))
            .collect(),
    }
}

fn run_case(dir: &Path, name: String, options: &ParseOptions) -> CaseReport {
    let mut report = CaseReport {
        name,
        should_parse: false,
        outcome: CaseOutcome::Failed,
        detail: String::new(),
    };
    let spec = match std::fs::read_to_string(dir.join("test.json")) {
        Ok(s) => s,
        Err(e) => {
            report.detail = format!("cannot read test.json: {e}");
            return report;
        }
    };
    let (Some(kind), Some(should_parse)) = (json_string(&spec, "type"), json_bool(&spec, "shouldParse"))
    else {
        report.detail = "test.json lacks \"type\" or \"shouldParse\"".to_string();
        return report;
    };
    report.should_parse = should_parse;
    if let Some((_, why)) = SKIP.iter().find(|(n, _)| *n == report.name) {
        report.outcome = CaseOutcome::Skipped;
        report.detail = (*why).to_string();
        return report;
    }
    if kind != "text" {
        report.outcome = CaseOutcome::Skipped;
        report.detail = format!("case type {kind:?} is not the text format");
        return report;
    }
    let file = json_string(&spec, "file").unwrap_or("metrics");
    let input = match std::fs::read(dir.join(file)) {
        Ok(b) => b,
        Err(e) => {
            report.detail = format!("cannot read {file}: {e}");
            return report;
        }
    };
    let result = parse_with(&input, Format::OpenMetrics, options);
    report.detail = match &result {
        Ok(e) => format!("parsed ({} samples)", e.samples.len()),
        Err(e) => e.to_string(),
    };
    if result.is_ok() == should_parse {
        report.outcome = CaseOutcome::Passed;
    }
    report
}

/// The raw text after `"key"` and its colon. test.json files are flat
/// objects of strings and booleans, so a scan suffices and keeps serde_json
/// out of the library's dependencies.
fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = json.find(&quoted)? + quoted.len();
    json[at..].trim_start().strip_prefix(':').map(str::trim_start)
}

fn json_bool(json: &str, key: &str) -> Option<bool> {
    let v = json_value(json, key)?;
    if v.starts_with("true") {
        Some(true)
    } else if v.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

fn json_string<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let v = json_value(json, key)?.strip_prefix('"')?;
    v.find('"').map(|end| &v[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/openmetrics/parsers"
    );

    #[test]
    fn json_scan_reads_flat_test_specs() {
        let j = r#"{"type": "text", "file":"metrics", "shouldParse" : false}"#;
        assert_eq!(json_string(j, "type"), Some("text"));
        assert_eq!(json_string(j, "file"), Some("metrics"));
        assert_eq!(json_bool(j, "shouldParse"), Some(false));
        assert_eq!(json_bool(j, "missing"), None);
    }

    #[test]
    #[allow(clippy::print_stderr)] // the skip notice and report are for the person running tests
    fn openmetrics_suite_passes_completely() {
        let dir = Path::new(SUITE);
        if !dir.is_dir() {
            eprintln!("SKIPPED: OpenMetrics suite not found at {SUITE}");
            return;
        }
        let report = run_openmetrics_suite(dir);
        eprintln!("{report}");
        assert_eq!(report.cases.len(), 211, "{report}");
        assert_eq!((report.passed(), report.failed()), (211, 0), "{report}");
        let text = report.to_string();
        assert_eq!(text.lines().last(), Some("openmetrics: 211 passed, 0 failed"));
    }

    #[test]
    #[allow(clippy::print_stderr)]
    fn scrape_validation_only_relaxes_rejections() {
        let dir = Path::new(SUITE);
        if !dir.is_dir() {
            eprintln!("SKIPPED: OpenMetrics suite not found at {SUITE}");
            return;
        }
        let report = run_openmetrics_suite_with(dir, &ParseOptions::default());
        eprintln!("scrape-mode differences:\n{report}");
        // Relaxing never breaks a valid case, and every case it lets through
        // is one strict mode rejects for a negative sum/quantile reason.
        let strict = run_openmetrics_suite(dir);
        for c in report.cases.iter().filter(|c| c.outcome == CaseOutcome::Failed) {
            assert!(!c.should_parse, "{}", c.name);
            let s = strict.cases.iter().find(|s| s.name == c.name).unwrap();
            assert!(
                s.detail.contains("_sum") || s.detail.contains("quantile values"),
                "{}: {}",
                c.name,
                s.detail
            );
        }
    }
}
