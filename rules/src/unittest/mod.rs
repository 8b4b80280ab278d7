//! `promtool test rules` files run through Sluice's rule evaluator and
//! PromQL engine.
//!
//! Compatible with Prometheus 3's format: `rule_files` (globs),
//! `evaluation_interval`, `group_eval_order`, `fuzzy_compare`, and tests
//! with `interval`, `input_series` (series notation, parsed by
//! [`sluice_promql::promqltest`]), `alert_rule_test`, `promql_expr_test`,
//! `external_labels`, `external_url`, `start_timestamp`, `name`. Test
//! groups are selected with [`TestOptions::run`] like promtool's `--run`.
//! Differences: native histograms (input or expected) are reported as
//! unsupported; subqueries without a step use the engine's default, not
//! the file's `evaluation_interval`.

mod file;
mod report;
mod run;
mod storage;

use std::path::Path;

use sluice_promql::Engine;

/// How to run test files.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Only test groups whose name matches one of these regexes
    /// (`--run`; joined with `|`).
    pub run: Vec<String>,
    /// Accept unknown keys in rule files (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
}

/// The outcome of one test file.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// Problems that do not fail the run (a `rule_files` pattern matching
    /// nothing), as promtool prints them.
    pub warnings: Vec<String>,
    /// Failures in promtool's wording; empty if every selected test passed.
    pub errors: Vec<String>,
}

/// Runs one test file.
pub async fn run_file(path: &Path, opts: &TestOptions, engine: &Engine) -> FileReport {
    run::run_file(path, opts, engine).await
}
