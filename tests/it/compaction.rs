//! Compaction merges small segments into daily ones without losing or
//! doubling a sample, even when `sluice compact` is SIGKILLed again and
//! again mid-way; between kills every reader sees exactly the data.

use std::process::Command;
use std::time::Duration;

use sluice_sink::segment::catalog::Catalog;
use sluice_sink::store::SegmentStore;

use crate::sink_exactly_once::count_segment_rows;
use crate::support::duckdb;
use crate::support::process::Proc;
use crate::support::sluice::{TestConfig, binary};

/// A UTC midnight.
pub(crate) const START_S: i64 = 1_699_920_000;

/// OpenMetrics text for the counter `<metric>_total`: `series` series, one
/// sample every `step_s` over `days` days from START_S; returns it and the
/// number of samples.
pub(crate) fn history(metric: &str, series: usize, step_s: i64, days: i64) -> (String, usize) {
    let mut text = format!("# TYPE {metric} counter\n");
    let mut n = 0;
    for s in 0..series {
        let mut t = START_S;
        while t < START_S + days * 86_400 {
            text.push_str(&format!(
                "{metric}_total{{series=\"{s}\"}} {} {t}\n",
                (t - START_S) / step_s
            ));
            t += step_s;
            n += 1;
        }
    }
    text.push_str("# EOF\n");
    (text, n)
}

/// `sluice import --block-duration 1h FILE` with `config`.
pub(crate) fn import(config: &std::path::Path, file: &std::path::Path) {
    let out = Command::new(binary())
        .args(["import", "--block-duration", "1h", "--config"])
        .arg(config)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sluice compact` with `config`, to completion; returns its summary line.
pub(crate) fn compact(config: &std::path::Path) -> String {
    let out = Command::new(binary())
        .args(["compact", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) async fn visible_and_superseded(root: &std::path::Path) -> (usize, usize) {
    let store = SegmentStore::local(root).unwrap();
    let snap = Catalog::new(store, "samples").refresh().await.unwrap();
    (snap.visible.len(), snap.superseded.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_survives_sigkill_and_keeps_every_sample_once() {
    const DAYS: i64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TestConfig::new(dir.path(), "127.0.0.1:1".into());
    cfg.sink_extra = "  compaction:\n    ranges: [2h, 1d]\n    settle: 0s\n    delete_delay: 0s\n".into();
    let config = cfg.write();
    let root = cfg.segments();

    let (text, n) = history("compact_test", 100, 60, DAYS);
    let input = dir.path().join("history.om");
    std::fs::write(&input, text).unwrap();
    import(&config, &input);
    let (before, _) = visible_and_superseded(&root).await;
    assert_eq!(before, 24 * DAYS as usize, "one segment per imported hour");
    assert_eq!(count_segment_rows(&root).await, (n, n));

    // Each run starts from what the killed one left and is killed a little
    // later than the last, until one finishes on its own: kills land
    // before, inside and between merges.
    let (mut kills, mut mid_merge) = (0, 0);
    for i in 0.. {
        let ms = 80 + 30 * i;
        let mut cmd = Command::new(binary());
        cmd.args(["compact", "--config"]).arg(&config);
        let mut p = Proc::spawn(
            "sluice compact",
            cmd,
            &dir.path().join(format!("compact-{i}.log")),
        );
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let finished = p.child.try_wait().unwrap().is_some();
        p.kill9();
        let (vis, sup) = visible_and_superseded(&root).await;
        let (rows, distinct) = count_segment_rows(&root).await;
        eprintln!(
            "run {i}, {}: {vis} visible + {sup} superseded segments, {rows} rows, {distinct} distinct",
            if finished {
                "finished by itself".to_string()
            } else {
                format!("SIGKILL after {ms} ms")
            }
        );
        assert_eq!((rows, distinct), (n, n), "after run {i}");
        if finished {
            break;
        }
        kills += 1;
        // Some days merged, some not, or merged inputs not yet deleted.
        if sup > 0 || (vis > DAYS as usize && vis < before) {
            mid_merge += 1;
        }
    }
    eprintln!("compaction: {kills} SIGKILLs, {mid_merge} of them left a partly compacted store");
    assert!(kills >= 5, "only {kills} kills before compaction finished");
    assert!(mid_merge >= 1, "no kill landed between merges");

    eprintln!("final pass: {}", compact(&config));
    assert_eq!(
        visible_and_superseded(&root).await,
        (DAYS as usize, 0),
        "one segment per day, inputs gone"
    );
    assert_eq!(count_segment_rows(&root).await, (n, n));

    // Another engine reads the compacted files and counts the same.
    let rel = duckdb::samples_relation(&root);
    let got = duckdb::scalar(&format!(
        "SELECT count(*) || '/' || count(DISTINCT (__series_id__, __timestamp__)) FROM {rel}"
    ));
    assert_eq!(got, format!("{n}/{n}"));

    // Retention: a cutoff in the middle of the data deletes the whole days
    // before it, and only those.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cutoff_s = START_S + DAYS / 2 * 86_400;
    cfg.sink_extra
        .push_str(&format!("  retention: {}s\n", now_s - cutoff_s));
    cfg.write();
    eprintln!("retention pass: {}", compact(&config));
    assert_eq!(visible_and_superseded(&root).await, (DAYS as usize / 2, 0));
    assert_eq!(count_segment_rows(&root).await, (n / 2, n / 2));
}
