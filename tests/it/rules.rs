//! `sluice test rules` and `sluice check rules` over Prometheus' own rule
//! test files (`../shared/testdata/rules`), with the exit status each file
//! must have according to `../shared/testdata/README.md`.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::sluice::binary;
use crate::support::testdata;

fn sluice(args: &[&str], dir: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run sluice")
}

/// Expected outcome of `sluice test rules [ARGS] FILE`: (file, extra args,
/// exit code). From the README's "rules (promtool unit tests)" section.
const EXPECTED: &[(&str, &[&str], i32)] = &[
    ("long-period.yml", &[], 0),
    ("no-test-group-interval.yml", &[], 0),
    ("start-time-test.yml", &[], 0),
    ("rules_run_extrafields.yml", &["--ignore-unknown-fields"], 0),
    // Unknown fields are an error unless ignored, as in promtool.
    ("rules_run_extrafields.yml", &[], 1),
    // The README lists this file as passing "with fuzzy compare on". Its
    // first group differs by one ULP (passes with fuzzy_compare: true); its
    // second group, "wrong fuzzy match", differs by three ULPs and must
    // fail, as upstream's own test of this file expects (`--run correct`
    // exits 0, `--run wrong` exits 1). So the whole file exits 1.
    ("rules_run_fuzzy.yml", &["--run", "correct"], 0),
    ("rules_run_fuzzy.yml", &["--run", "wrong"], 1),
    ("rules_run_fuzzy.yml", &[], 1),
    ("bad-input-series.yml", &[], 1),
    ("bad-promql.yml", &[], 1),
    ("bad-rules-syntax-test.yml", &[], 1),
    ("bad-rules-error-test.yml", &[], 1),
    ("failing.yml", &[], 1),
    ("rules_run_no_fuzzy.yml", &[], 1),
    ("at-modifier-test.yml", &[], 0),
    ("negative-offset-test.yml", &[], 0),
    ("rules_run.yml", &["--run", "correct"], 0),
    ("rules_run.yml", &[], 1),
];

/// Files that cannot give their expected outcome yet, one reason each.
const SKIPPED: &[(&str, &str)] = &[(
    "unittest.yml",
    "native-histogram input series and expectations: Sluice stores float samples only \
     (the rest of the file runs in unittest_without_native_histograms_passes)",
)];

/// Rule files used by the tests above, and lint inputs (not test files).
const NOT_TEST_FILES: &[&str] = &[
    "at-modifier.yml",
    "bad-rules-error.yml",
    "bad-rules-syntax.yml",
    "features.yml",
    "negative-offset.yml",
    "prometheus-config.rules.good.yml",
    "prometheus-rules.lint.yml",
    "rules-bad.yml",
    "rules.yml",
    "rules_duplicates.yml",
    "rules_extrafields.yml",
    "rules_large.yml",
];

#[test]
fn test_rules_exit_status_matches_the_testdata_readme() {
    let dir = testdata().join("rules");
    // Every YAML file must be accounted for, so a new upstream file is noticed.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yml") {
            continue;
        }
        let known = EXPECTED.iter().any(|(f, _, _)| *f == name)
            || SKIPPED.iter().any(|(f, _)| *f == name)
            || NOT_TEST_FILES.contains(&name.as_str());
        assert!(known, "{name} is not classified in tests/it/rules.rs");
    }
    let mut mismatches = Vec::new();
    for (file, args, want) in EXPECTED {
        let mut argv = vec!["test", "rules"];
        argv.extend_from_slice(args);
        argv.push(file);
        let out = sluice(&argv, &dir);
        let got = out.status.code().unwrap_or(-1);
        eprintln!(
            "sluice test rules {} {file}: exit {got} (want {want})",
            args.join(" ")
        );
        if got != *want {
            mismatches.push(format!(
                "{file} {args:?}: exit {got}, want {want}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    for (file, why) in SKIPPED {
        eprintln!("SKIP {file}: {why}");
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn failures_are_reported_like_promtool() {
    let dir = testdata().join("rules");
    let out = sluice(&["test", "rules", "failing.yml"], &dir);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("Unit Testing:  failing.yml"), "{stdout}");
    assert!(stderr.contains("  FAILED:"), "{stderr}");
    for needle in [
        "    name: Failing test,\n    alertname: Test, time: 0s, \n        exp:[",
        "    expr: \"test\", time: 0s,\n        exp: {__name__=\"test\"} 1E+00\n        got: {__name__=\"test\"} 0E+00",
        "    name: Failing alert test,\n    alertname: AlwaysFiring, time: 5m, \n        exp:[], \n        got:[",
        "Labels:{alertname=\"InstanceDown\", job=\"test\", severity=\"page\"}",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    let out = sluice(&["test", "rules", "bad-rules-syntax-test.yml"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "bad-rules-syntax.yml: group \"bad-syntax\", rule 1, \"x\": could not parse expression"
        ),
        "{stderr}"
    );
    let out = sluice(&["test", "rules", "bad-rules-error-test.yml"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("    rule: joined, time: 0s, err: "), "{stderr}");
}

/// unittest.yml without its native-histogram parts must pass: every other
/// check in it (staleness, lookback, alerts with templates, recording
/// rules at the evaluation interval) runs through Sluice's evaluator.
#[test]
fn unittest_without_native_histograms_passes() {
    let src = testdata().join("rules");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("rules.yml"), tmp.path().join("rules.yml")).unwrap();
    let text = std::fs::read_to_string(src.join("unittest.yml")).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut removed = 0;
    for test in doc["tests"].as_sequence_mut().unwrap() {
        if let Some(series) = test.get_mut("input_series").and_then(|s| s.as_sequence_mut()) {
            let before = series.len();
            series.retain(|s| !s["values"].as_str().unwrap_or("").contains("{{"));
            removed += before - series.len();
        }
        if let Some(exprs) = test.get_mut("promql_expr_test").and_then(|s| s.as_sequence_mut()) {
            let before = exprs.len();
            exprs.retain(|e| {
                !e["exp_samples"]
                    .as_sequence()
                    .is_some_and(|s| s.iter().any(|s| s.get("histogram").is_some()))
            });
            removed += before - exprs.len();
        }
    }
    assert_eq!(
        removed, 6,
        "3 histogram series and 3 histogram expectations expected"
    );
    std::fs::write(
        tmp.path().join("unittest.yml"),
        serde_yaml::to_string(&doc).unwrap(),
    )
    .unwrap();
    let out = sluice(&["test", "rules", "unittest.yml"], tmp.path());
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And the unmodified file fails only on the histograms.
    let out = sluice(&["test", "rules", "unittest.yml"], &src);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("native histogram"), "{stderr}");
}

#[test]
fn check_rules_reports_every_error_and_accepts_valid_files() {
    let dir = testdata().join("rules");
    for (file, args, want) in [
        ("rules.yml", &[][..], 0),
        ("prometheus-config.rules.good.yml", &[], 0),
        ("prometheus-rules.lint.yml", &[], 0),
        ("rules_duplicates.yml", &[], 0),
        ("rules_large.yml", &[], 0),
        ("rules_extrafields.yml", &["--ignore-unknown-fields"], 0),
        ("rules_extrafields.yml", &[], 1),
        ("rules-bad.yml", &[], 1),
        ("bad-rules-syntax.yml", &[], 1),
        // Experimental PromQL syntax that Prometheus also refuses without
        // feature flags.
        ("features.yml", &[], 1),
    ] {
        let mut argv = vec!["check", "rules"];
        argv.extend_from_slice(args);
        argv.push(file);
        let out = sluice(&argv, &dir);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{file} {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = sluice(&["check", "rules", "rules-bad.yml"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "rules-bad.yml: group \"alerts\", rule 1, \"InstanceDown\": annotation \"summary\": template: __alert_InstanceDown: undefined variable \"$label\""
        ),
        "{stderr}"
    );
    let out = sluice(&["check", "rules", "rules_duplicates.yml"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SUCCESS: 5 rules found"), "{stdout}");
    assert!(stdout.contains("WARNING: 1 duplicate rule(s) found."), "{stdout}");
    // All errors of a file at once.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("two.yml"),
        "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: 'sum('\n      - alert: y\n        record: z\n        expr: up\n",
    )
    .unwrap();
    let out = sluice(&["check", "rules", "two.yml"], tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("group \"a\", rule 1, \"x\": could not parse expression"),
        "{stderr}"
    );
    assert!(
        stderr.contains("group \"a\", rule 2, \"y\": only one of 'record' and 'alert' must be set"),
        "{stderr}"
    );
}

/// Where Prometheus 2.42's promtool implements the same behaviour, Sluice
/// must agree with it on the same files.
#[test]
fn agrees_with_promtool_2_42_where_it_applies() {
    let dir = testdata().join("rules");
    // 2.42 lacks `--run`, `start_timestamp`, `fuzzy_compare`, histogram
    // expectations, the default test interval (it loads at 0s) and the @
    // modifier in unit tests: only files that use none of these compare.
    for file in [
        "long-period.yml",
        "bad-input-series.yml",
        "bad-promql.yml",
        "bad-rules-syntax-test.yml",
        "bad-rules-error-test.yml",
        "failing.yml",
        "rules_run.yml",
    ] {
        let promtool = Command::new("promtool")
            .args(["test", "rules", file])
            .current_dir(&dir)
            .output()
            .expect("promtool (Debian prometheus 2.42) must be installed: scripts/setup-test-deps.sh");
        let ours = sluice(&["test", "rules", file], &dir);
        assert_eq!(
            ours.status.code(),
            promtool.status.code(),
            "{file}: sluice vs promtool 2.42\nsluice:\n{}\npromtool:\n{}",
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&promtool.stderr)
        );
    }
    // Same failure text for a plain expectation mismatch.
    let file = "rules_run.yml";
    let promtool = Command::new("promtool")
        .args(["test", "rules", file])
        .current_dir(&dir)
        .output()
        .unwrap();
    let ours = sluice(&["test", "rules", file], &dir);
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&promtool.stderr)
    );
}
