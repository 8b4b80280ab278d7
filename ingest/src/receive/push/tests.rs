//! Store and emitter semantics (the HTTP layer is tested in `receive::tests`).

use std::sync::Arc;

use sluice_model::clock::MockClock;
use sluice_model::{Labels, TimeSeries, is_stale_nan};

use super::*;
use crate::exposition::{self, Format};
use crate::receive::test_support::RecordingWriter;

fn store() -> (PushStore, MockClock) {
    let clock = MockClock::at(1_000_000);
    (PushStore::new(Arc::new(clock.clone())), clock)
}

fn key(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn push(s: &PushStore, k: &Labels, body: &str, mode: PushMode) -> Result<(), PushError> {
    s.push(
        k,
        exposition::parse(body.as_bytes(), Format::PrometheusText).unwrap(),
        mode,
    )
}

/// `name{labels} value` lines of a snapshot, sorted, for readable asserts.
fn lines(series: &[TimeSeries]) -> Vec<String> {
    let mut v: Vec<String> = series
        .iter()
        .map(|s| format!("{} {}", s.labels, s.samples[0].value))
        .collect();
    v.sort();
    v
}

#[test]
fn put_labels_samples_with_the_grouping_key_and_adds_push_time() {
    let (s, _) = store();
    let k = key(&[("job", "backup"), ("instance", "db1")]);
    push(
        &s,
        &k,
        "done{job=\"other\",kind=\"full\"} 1\nbytes 42\n",
        PushMode::Replace,
    )
    .unwrap();
    let snap = s.snapshot(2_000_000);
    assert!(
        snap.iter()
            .all(|t| t.samples.len() == 1 && t.samples[0].timestamp_ms == 2_000_000)
    );
    assert_eq!(
        lines(&snap),
        [
            "bytes{instance=\"db1\", job=\"backup\"} 42",
            "done{instance=\"db1\", job=\"backup\", kind=\"full\"} 1",
            "push_time_seconds{instance=\"db1\", job=\"backup\"} 1000",
        ]
    );
}

#[test]
fn no_instance_label_is_invented() {
    let (s, _) = store();
    push(&s, &key(&[("job", "j")]), "m 1\n", PushMode::Replace).unwrap();
    assert_eq!(lines(&s.snapshot(0))[0], "m{job=\"j\"} 1");
}

#[test]
fn post_replaces_only_the_pushed_families() {
    let (s, clock) = store();
    let k = key(&[("job", "j")]);
    let first =
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\nother 7\n";
    push(&s, &k, first, PushMode::Replace).unwrap();
    clock.set(5_000_000);
    // The histogram comes back with fewer buckets: the old `le="1"` goes.
    let second = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 5\nh_sum 9\nh_count 5\n";
    push(&s, &k, second, PushMode::Merge).unwrap();
    assert_eq!(
        lines(&s.snapshot(0)),
        [
            "h_bucket{job=\"j\", le=\"+Inf\"} 5",
            "h_count{job=\"j\"} 5",
            "h_sum{job=\"j\"} 9",
            "other{job=\"j\"} 7",
            "push_time_seconds{job=\"j\"} 5000",
        ]
    );
}

#[test]
fn put_replaces_the_group_and_an_empty_put_keeps_only_push_time() {
    let (s, _) = store();
    let k = key(&[("job", "j")]);
    push(&s, &k, "a 1\nb 2\n", PushMode::Replace).unwrap();
    push(&s, &k, "b 3\n", PushMode::Replace).unwrap();
    assert_eq!(
        lines(&s.snapshot(0)),
        ["b{job=\"j\"} 3", "push_time_seconds{job=\"j\"} 1000"]
    );
    push(&s, &k, "", PushMode::Replace).unwrap();
    assert_eq!(lines(&s.snapshot(0)), ["push_time_seconds{job=\"j\"} 1000"]);
}

#[test]
fn groups_are_independent_and_delete_removes_one() {
    let (s, _) = store();
    let a = key(&[("job", "j"), ("instance", "a")]);
    let b = key(&[("job", "j"), ("instance", "b")]);
    push(&s, &a, "m 1\n", PushMode::Replace).unwrap();
    push(&s, &b, "m 2\n", PushMode::Replace).unwrap();
    assert_eq!(s.len(), 2);
    assert!(s.delete(&a));
    assert!(!s.delete(&a));
    assert_eq!(
        lines(&s.snapshot(0)),
        [
            "m{instance=\"b\", job=\"j\"} 2",
            "push_time_seconds{instance=\"b\", job=\"j\"} 1000"
        ]
    );
}

#[test]
fn refused_pushes_change_nothing() {
    let (s, _) = store();
    let a = key(&[("job", "j")]);
    push(&s, &a, "# TYPE c counter\nc 1\n", PushMode::Replace).unwrap();
    let before = lines(&s.snapshot(0));
    let err = |k: &Labels, body: &str| push(&s, k, body, PushMode::Merge).unwrap_err().0;
    assert!(err(&a, "c 1 12345\n").contains("must not have timestamps"));
    assert!(err(&a, "push_time_seconds 1\n").contains("reserved"));
    assert!(err(&a, "d{x=\"1\"} 1\nd{x=\"1\"} 2\n").contains("pushed more than once"));
    // The grouping label overrides the pushed one, which makes these equal.
    assert!(err(&a, "d{job=\"x\"} 1\nd 2\n").contains("pushed more than once"));
    let b = key(&[("job", "j"), ("instance", "i")]);
    assert!(err(&b, "# TYPE c gauge\nc 1\n").contains("is a gauge here but a counter"));
    // A consistent push to another group still goes through.
    let a2 = key(&[("job", "j"), ("zone", "z")]);
    push(&s, &a2, "# TYPE c counter\nc{zone=\"z\"} 1\n", PushMode::Merge).unwrap();
    assert!(s.delete(&a2));
    assert_eq!(lines(&s.snapshot(0)), before);
}

#[test]
fn same_series_from_two_groups_is_refused() {
    let (s, _) = store();
    push(
        &s,
        &key(&[("job", "j")]),
        "m{instance=\"i\"} 1\n",
        PushMode::Replace,
    )
    .unwrap();
    let e = push(
        &s,
        &key(&[("job", "j"), ("instance", "i")]),
        "m 2\n",
        PushMode::Replace,
    )
    .unwrap_err();
    assert!(e.0.contains("already pushed in group"), "{e}");
}

#[tokio::test]
async fn emitter_marks_deleted_series_stale_even_after_a_failed_write() {
    let (s, _) = store();
    let s = Arc::new(s);
    let writer = Arc::new(RecordingWriter::default());
    let mut em = PushEmitter::new(s.clone(), writer.clone());
    let k = key(&[("job", "j")]);
    push(&s, &k, "m 1\n", PushMode::Replace).unwrap();
    em.emit(10).await.unwrap();
    assert_eq!(
        lines(&writer.take()[0]),
        ["m{job=\"j\"} 1", "push_time_seconds{job=\"j\"} 1000"]
    );

    s.delete(&k);
    writer.set_failing(true);
    assert!(em.emit(20).await.is_err());
    writer.set_failing(false);
    em.emit(30).await.unwrap();
    let batch = writer.take().remove(0);
    assert_eq!(batch.len(), 2);
    assert!(
        batch
            .iter()
            .all(|t| t.samples[0].timestamp_ms == 30 && is_stale_nan(t.samples[0].value))
    );

    // Nothing left: the next emission writes nothing at all.
    em.emit(40).await.unwrap();
    assert!(writer.take().is_empty());
}

#[tokio::test]
async fn emitter_loop_emits_on_its_interval_and_marks_everything_stale_on_shutdown() {
    let (s, clock) = store();
    let s = Arc::new(s);
    push(&s, &key(&[("job", "j")]), "m 1\n", PushMode::Replace).unwrap();
    let writer = Arc::new(RecordingWriter::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run_push_emitter(
        s,
        writer.clone(),
        std::time::Duration::from_millis(10),
        Arc::new(clock.clone()),
        rx,
    ));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    clock.set(9_000_000);
    tx.send(true).unwrap();
    task.await.unwrap();
    let batches = writer.take();
    assert!(
        batches.len() >= 2,
        "expected several emissions, got {}",
        batches.len()
    );
    let last = batches.last().unwrap();
    assert_eq!(last.len(), 2);
    assert!(
        last.iter()
            .all(|t| t.samples[0].timestamp_ms == 9_000_000 && is_stale_nan(t.samples[0].value))
    );
    assert!(
        batches[..batches.len() - 1]
            .iter()
            .all(|b| b.iter().all(|t| t.samples[0].value >= 1.0))
    );
}
