//! The OpenMetrics parser suite through the CLI, as a user would run it:
//! `sluice check metrics --format openmetrics < metrics` must succeed exactly
//! for the cases marked `shouldParse`.

use std::process::{Command, Stdio};

use crate::support::sluice::binary;
use crate::support::testdata;

#[test]
fn openmetrics_suite_via_check_metrics() {
    let dir = testdata().join("openmetrics/parsers");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let (mut passed, mut failed) = (0, Vec::new());
    for case in &cases {
        let spec = std::fs::read_to_string(case.join("test.json")).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
        let should_parse = spec["shouldParse"].as_bool().unwrap();
        let input = std::fs::File::open(case.join("metrics")).unwrap();
        let out = Command::new(binary())
            .args(["check", "metrics", "--format", "openmetrics", "--strict"])
            .stdin(Stdio::from(input))
            .output()
            .unwrap();
        if out.status.success() == should_parse {
            passed += 1;
        } else {
            failed.push(format!(
                "{} (shouldParse={should_parse}): {}",
                case.file_name().unwrap().to_string_lossy(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    eprintln!("openmetrics: {passed} passed, {} failed", failed.len());
    assert_eq!(cases.len(), 211);
    assert!(failed.is_empty(), "failures:\n{}", failed.join("\n"));
}
