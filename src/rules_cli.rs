//! `sluice test rules` and `sluice check rules`: promtool's rule commands on
//! Sluice's rule loader and evaluator (`sluice_rules`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use sluice_promql::{Engine, EngineOptions};
use sluice_rules::unittest::{self, TestOptions};
use sluice_rules::{LoadOptions, Rule, load_file};

/// Runs unit-test files; exit 1 if any fails, like `promtool test rules`.
#[allow(clippy::print_stderr, clippy::print_stdout)]
pub(crate) fn test(files: &[PathBuf], run: Vec<String>, ignore_unknown_fields: bool) -> ExitCode {
    let Some(rt) = crate::runtime("sluice test rules") else {
        return ExitCode::FAILURE;
    };
    let engine = Engine::new(EngineOptions::default());
    let opts = TestOptions {
        run,
        ignore_unknown_fields,
    };
    let mut failed = false;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        let report = rt.block_on(unittest::run_file(f, &opts, &engine));
        for w in &report.warnings {
            eprintln!("  WARNING: {w}");
        }
        if report.errors.is_empty() {
            println!("  SUCCESS");
        } else {
            failed = true;
            eprintln!("  FAILED:");
            for e in report.errors {
                eprintln!("{e}");
                println!();
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Validates rule files, reporting every error of each; exit 1 on any.
#[allow(clippy::print_stderr, clippy::print_stdout)]
pub(crate) fn check(files: &[PathBuf], ignore_unknown_fields: bool) -> ExitCode {
    let mut failed = false;
    for f in files {
        println!("Checking {}", f.display());
        match load_file(
            f,
            LoadOptions {
                ignore_unknown_fields,
            },
        ) {
            Ok(groups) => {
                let rules: Vec<&Rule> = groups.iter().flat_map(|g| &g.rules).collect();
                println!("  SUCCESS: {} rules found", rules.len());
                let dups = duplicates(&rules);
                if !dups.is_empty() {
                    println!("  WARNING: {} duplicate rule(s) found.", dups.len());
                    for d in dups {
                        println!("Metric: {d}");
                    }
                    println!("Might cause inconsistency while recording expressions.");
                }
            }
            Err(errors) => {
                failed = true;
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// What makes two recording rules duplicates: name, expression, labels.
type RecordingKey = (String, String, Vec<(String, String)>);

/// Recording rules with the same name, labels and expression (promtool's
/// duplicate-rules lint: a warning, not an error).
fn duplicates(rules: &[&Rule]) -> Vec<String> {
    let mut seen: BTreeMap<RecordingKey, usize> = BTreeMap::new();
    for r in rules {
        if let Rule::Recording(rec) = r {
            *seen
                .entry((rec.name.clone(), rec.expr.clone(), rec.labels.clone()))
                .or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((name, _, _), _)| name)
        .collect()
}
