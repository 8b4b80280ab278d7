//! The evaluator on virtual time: records in, state changes out, and a
//! restore from a checkpoint mid-way gives the same changes at the same
//! event times as an uninterrupted run.

use sluice_model::{Labels, Sample, TimeSeries};
use sluice_rules::{AlertState, LoadOptions, load_str};

use super::evaluator::{EvalSettings, GroupProgress, StreamEvaluator};
use super::watermark::Watermarks;

const RULES: &str = r#"
groups:
  - name: net
    interval: 10s
    rules:
      - record: job:errors:sum
        expr: sum by (job) (errors)
      - alert: ManyErrors
        expr: job:errors:sum > 10
        for: 30s
        labels: { severity: page }
        annotations: { summary: "{{ $labels.job }} has {{ $value }} errors" }
"#;

fn evaluator() -> StreamEvaluator {
    let groups = load_str("net.yml", RULES, LoadOptions::default()).unwrap();
    StreamEvaluator::new(
        groups,
        EvalSettings {
            default_interval_ms: 60_000,
            lateness_ms: 5_000,
            resend_delay_ms: 60_000,
            external_labels: Labels::default(),
            external_url: "http://sluice".into(),
            experimental_functions: false,
        },
    )
    .unwrap()
}

/// Two partitions, one series each, a sample every 5 s for 300 s; their
/// sum exceeds 10 from 60 s to 180 s.
fn records() -> Vec<(i32, TimeSeries)> {
    let mut out = Vec::new();
    for step in 0..=60 {
        let t = step * 5_000;
        let high = (60_000..180_000).contains(&t);
        for (p, inst) in [(0, "a"), (1, "b")] {
            out.push((
                p,
                TimeSeries {
                    labels: Labels::new([("__name__", "errors"), ("job", "api"), ("instance", inst)]),
                    samples: vec![Sample::new(t, if high { 6.0 } else { 1.0 })],
                },
            ));
        }
    }
    out
}

type Change = (i64, Option<AlertState>, AlertState);

async fn feed(eval: &mut StreamEvaluator, recs: &[(i32, TimeSeries)]) -> Vec<Change> {
    let mut changes = Vec::new();
    for (p, s) in recs {
        eval.on_record(*p, std::slice::from_ref(s));
        for e in eval.evaluate_due().await {
            changes.extend(e.output.transitions.iter().map(|t| (t.at_ms, t.from, t.to)));
        }
    }
    changes
}

#[tokio::test]
async fn alert_lifecycle_follows_event_time() {
    let mut eval = evaluator();
    eval.marks.track(&[0, 1]);
    let changes = feed(&mut eval, &records()).await;
    // Pending at the first evaluation that sees 12 (60 s), firing 30 s
    // later, resolved at the first evaluation after the drop (180 s).
    assert_eq!(
        changes,
        vec![
            (60_000, None, AlertState::Pending),
            (90_000, Some(AlertState::Pending), AlertState::Firing),
            (180_000, Some(AlertState::Firing), AlertState::Inactive),
        ]
    );
}

#[tokio::test]
async fn restore_mid_pending_fires_at_the_same_event_time() {
    let all = records();
    let mut reference = evaluator();
    reference.marks.track(&[0, 1]);
    let expected = feed(&mut reference, &all).await;

    // Stop while the alert is pending (after 75 s), checkpoint through JSON.
    let cut = all
        .iter()
        .position(|(_, s)| s.samples[0].timestamp_ms > 75_000)
        .unwrap();
    let mut first = evaluator();
    first.marks.track(&[0, 1]);
    let mut changes = feed(&mut first, &all[..cut]).await;
    let saved: (Vec<GroupProgress>, Watermarks) =
        serde_json::from_str(&serde_json::to_string(&(&first.progress, &first.marks)).unwrap()).unwrap();
    let window_start = first.window_start();

    // A new life: restore, replay from the oldest record the window still
    // needed, then go on.
    let mut second = evaluator();
    (second.progress, second.marks) = saved;
    second.marks.track(&[0, 1]);
    let replay = all
        .iter()
        .position(|(_, s)| s.samples[0].timestamp_ms >= window_start)
        .unwrap();
    assert!(replay < cut);
    changes.extend(feed(&mut second, &all[replay..]).await);
    assert_eq!(changes, expected);
}
