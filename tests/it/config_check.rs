//! `sluice check config` and role start-up report every config problem at once.

use std::process::Command;

use crate::support::sluice::binary;

#[test]
fn all_config_errors_are_reported_together_before_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        r#"
global: { scrape_interval: 15s, scrape_intervall: 1m }
kafka: { brokers: "127.0.0.1:1", partitions: -1 }
query: { listen: "not-an-address" }
scrape_configs:
  - job_name: node
    static_configs: [{ targets: ["localhost"] }]
"#,
    )
    .unwrap();
    let out = Command::new(binary())
        .args(["check", "config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "4 config error(s)",
        "global.scrape_intervall: unknown field",
        "kafka.partitions: must be at least 1",
        "query.listen",
        "scrape_configs[0].static_configs[0].targets[0]",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    // A role refuses to start with the same report (exit code 2), without
    // touching the (unreachable) broker.
    let out = Command::new(binary())
        .args(["all", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kafka.partitions"));
}
