//! The alert lifecycle and group semantics, evaluated step by step over an
//! in-memory source with exact timestamps.

use sluice_model::{Labels, Sample, TimeSeries, is_stale_nan, stale_nan};
use sluice_promql::{Engine, MemorySource};

use crate::{AlertState, EvalContext, GroupOutput, GroupState, LoadOptions, RuleGroup, load_str};

const M: i64 = 60_000;

fn group(yaml: &str) -> RuleGroup {
    load_str("t.yml", yaml, LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e:?}"))
        .remove(0)
}

/// `x{instance="a"}` with value 1 at the given minutes, then a staleness
/// marker at `stale_at` minutes.
fn source(minutes: &[i64], stale_at: Option<i64>) -> MemorySource {
    let mut samples: Vec<Sample> = minutes.iter().map(|m| Sample::new(m * M, 1.0)).collect();
    if let Some(s) = stale_at {
        samples.push(Sample::new(s * M, stale_nan()));
    }
    MemorySource::new(vec![TimeSeries {
        labels: Labels::new([("__name__", "x"), ("instance", "a")]),
        samples,
    }])
}

struct Run {
    group: RuleGroup,
    state: GroupState,
    engine: Engine,
    ext: Labels,
}

impl Run {
    fn new(yaml: &str) -> Self {
        let group = group(yaml);
        let state = GroupState::new(&group);
        Run {
            group,
            state,
            engine: Engine::default(),
            ext: Labels::new([("cluster", "eu1")]),
        }
    }

    async fn at(&mut self, src: &MemorySource, minute: i64) -> GroupOutput {
        let ctx = EvalContext {
            engine: &self.engine,
            external_labels: &self.ext,
            external_url: "http://sluice:9464",
            resend_delay_ms: M,
            interval_ms: M,
        };
        self.state.eval(&self.group, &ctx, src, minute * M).await
    }

    fn alert_state(&self) -> Option<AlertState> {
        self.state.alerts(0).next().map(|a| a.state)
    }
}

/// `(alertstate or "", timestamp, value)` of the `ALERTS` samples.
fn alerts_samples(out: &GroupOutput) -> Vec<(String, i64, bool)> {
    out.samples
        .iter()
        .filter(|s| s.labels.metric_name() == Some("ALERTS"))
        .map(|s| {
            (
                s.labels.get("alertstate").unwrap_or("").to_string(),
                s.timestamp_ms,
                is_stale_nan(s.value),
            )
        })
        .collect()
}

const FOR_2M: &str = r#"
groups:
  - name: g
    rules:
      - alert: XUp
        expr: x > 0
        for: 2m
        labels: { severity: "{{ if gt $value 0.5 }}page{{ else }}ticket{{ end }}" }
        annotations: { summary: "{{ $labels.instance }} in {{ $externalLabels.cluster }} is {{ $value }}" }
"#;

#[tokio::test]
async fn pending_then_firing_after_for_then_resolved_and_kept_15m() {
    let mut r = Run::new(FOR_2M);
    let src = source(&[0, 1, 2, 3, 4], Some(5));

    let out = r.at(&src, 0).await;
    assert_eq!(r.alert_state(), Some(AlertState::Pending));
    assert_eq!(alerts_samples(&out), vec![("pending".into(), 0, false)]);
    let for_state = out
        .samples
        .iter()
        .find(|s| s.labels.metric_name() == Some("ALERTS_FOR_STATE"))
        .unwrap();
    assert_eq!(for_state.value, 0.0, "ALERTS_FOR_STATE is active_at in seconds");
    assert_eq!(
        for_state.labels,
        Labels::new([
            ("__name__", "ALERTS_FOR_STATE"),
            ("alertname", "XUp"),
            ("instance", "a"),
            ("severity", "page")
        ])
    );
    assert!(out.notifications.is_empty(), "pending alerts are not sent");

    let out = r.at(&src, 1).await;
    assert_eq!(r.alert_state(), Some(AlertState::Pending), "1m < for");
    assert!(out.transitions.is_empty());

    let out = r.at(&src, 2).await;
    assert_eq!(
        r.alert_state(),
        Some(AlertState::Firing),
        "fires exactly at active_at + for"
    );
    // The pending series ends (stale) as the firing one starts.
    assert_eq!(
        alerts_samples(&out),
        vec![("firing".into(), 2 * M, false), ("pending".into(), 2 * M, true)]
    );
    assert_eq!(out.notifications.len(), 1);
    let n = &out.notifications[0];
    assert_eq!((n.starts_at_ms, n.ends_at_ms), (2 * M, 2 * M + 4 * M));
    assert_eq!(n.annotations["summary"], "a in eu1 is 1");
    assert_eq!(n.labels.get("severity"), Some("page"));
    assert_eq!(
        n.generator_url,
        "http://sluice:9464/graph?g0.expr=x+%3E+0&g0.tab=1"
    );

    assert!(
        r.at(&src, 3).await.notifications.is_empty(),
        "resent only after resend_delay"
    );
    assert_eq!(r.at(&src, 4).await.notifications.len(), 1);

    let out = r.at(&src, 5).await;
    assert_eq!(
        r.alert_state(),
        Some(AlertState::Inactive),
        "resolved when x goes stale"
    );
    let a = r.state.alerts(0).next().unwrap();
    assert_eq!(
        (a.active_at_ms, a.fired_at_ms, a.resolved_at_ms),
        (0, Some(2 * M), Some(5 * M))
    );
    assert_eq!(alerts_samples(&out), vec![("firing".into(), 5 * M, true)]);
    assert_eq!(out.notifications.len(), 1, "the resolution is sent at once");
    assert_eq!(out.notifications[0].ends_at_ms, 5 * M);
    assert_eq!(out.transitions.len(), 1);
    assert_eq!(
        (out.transitions[0].from, out.transitions[0].to),
        (Some(AlertState::Firing), AlertState::Inactive)
    );

    // Kept (and resent every resend delay) for 15 minutes after resolution.
    for m in 6..=20 {
        r.at(&src, m).await;
        assert!(r.state.alerts(0).next().is_some(), "kept at {m}m");
    }
    r.at(&src, 21).await;
    assert!(r.state.alerts(0).next().is_none(), "dropped 16m after resolution");
}

#[tokio::test]
async fn a_pending_alert_that_clears_is_dropped_without_notification() {
    let mut r = Run::new(&FOR_2M.replace("for: 2m", "for: 5m"));
    let src = source(&[0, 1], Some(2));
    r.at(&src, 0).await;
    r.at(&src, 1).await;
    let out = r.at(&src, 2).await;
    assert!(r.state.alerts(0).next().is_none());
    assert!(out.notifications.is_empty());
    assert_eq!(
        (out.transitions[0].from, out.transitions[0].to),
        (Some(AlertState::Pending), AlertState::Inactive)
    );
    assert_eq!(alerts_samples(&out), vec![("pending".into(), 2 * M, true)]);
}

const KEEP_FIRING: &str = r#"
groups:
  - name: g
    rules:
      - alert: XUp
        expr: x > 0
        keep_firing_for: 2m
"#;

#[tokio::test]
async fn keep_firing_for_holds_a_cleared_alert_then_resolves() {
    let mut r = Run::new(KEEP_FIRING);
    let src = source(&[0], Some(1));
    let out = r.at(&src, 0).await;
    assert_eq!(r.alert_state(), Some(AlertState::Firing), "for: 0 fires at once");
    assert_eq!(out.notifications.len(), 1);

    // Cleared at 1m: keeps firing while now - 1m < 2m.
    for m in [1, 2] {
        let out = r.at(&src, m).await;
        assert_eq!(r.alert_state(), Some(AlertState::Firing), "at {m}m");
        assert_eq!(alerts_samples(&out), vec![("firing".into(), m * M, false)]);
    }
    assert_eq!(r.state.alerts(0).next().unwrap().keep_firing_since_ms, Some(M));
    let out = r.at(&src, 3).await;
    assert_eq!(
        r.alert_state(),
        Some(AlertState::Inactive),
        "resolved at since + keep_firing_for"
    );
    assert_eq!(r.state.alerts(0).next().unwrap().resolved_at_ms, Some(3 * M));
    assert_eq!(alerts_samples(&out), vec![("firing".into(), 3 * M, true)]);
}

#[tokio::test]
async fn keep_firing_since_resets_when_the_condition_returns() {
    let mut r = Run::new(KEEP_FIRING);
    // Present at 0, gone at 1 and 2 (stale), back at 3, gone from 4.
    let src = MemorySource::new(vec![TimeSeries {
        labels: Labels::new([("__name__", "x")]),
        samples: vec![
            Sample::new(0, 1.0),
            Sample::new(M, stale_nan()),
            Sample::new(3 * M, 1.0),
            Sample::new(4 * M, stale_nan()),
        ],
    }]);
    for m in 0..=5 {
        r.at(&src, m).await;
        assert_eq!(r.alert_state(), Some(AlertState::Firing), "at {m}m");
    }
    assert_eq!(
        r.state.alerts(0).next().unwrap().keep_firing_since_ms,
        Some(4 * M)
    );
    r.at(&src, 6).await;
    assert_eq!(r.alert_state(), Some(AlertState::Inactive));
}

#[tokio::test]
async fn alert_limit_fails_the_rule_and_forgets_its_alerts() {
    let yaml = "groups:\n  - name: g\n    limit: 1\n    rules:\n      - alert: A\n        expr: vector(1) or label_replace(vector(1), \"k\", \"v\", \"\", \"\")\n";
    let mut r = Run::new(yaml);
    let out = r.at(&source(&[], None), 0).await;
    assert_eq!(
        out.outcomes[0].error.as_deref(),
        Some("exceeded limit of 1 with 2 alerts")
    );
    assert!(out.samples.is_empty());
    assert!(r.state.alerts(0).next().is_none());
}

#[tokio::test]
async fn recording_rules_chain_within_a_group_and_end_with_stale_markers() {
    let yaml = r#"
groups:
  - name: g
    rules:
      - record: x:sum
        expr: sum(x)
        labels: { source: rules }
      - record: x:sum:double
        expr: x:sum * 2
"#;
    let mut r = Run::new(yaml);
    let src = source(&[0], Some(1));
    let out = r.at(&src, 0).await;
    let got: Vec<(String, f64)> = out
        .samples
        .iter()
        .map(|s| (s.labels.to_string(), s.value))
        .collect();
    assert_eq!(
        got,
        vec![
            (r#"x:sum{source="rules"}"#.to_string(), 1.0),
            (r#"x:sum:double{source="rules"}"#.to_string(), 2.0)
        ]
    );
    // x goes stale: x:sum ends, and the second rule, which sees that
    // marker, ends too.
    let out = r.at(&src, 1).await;
    let got: Vec<(String, i64, bool)> = out
        .samples
        .iter()
        .map(|s| (s.labels.to_string(), s.timestamp_ms, is_stale_nan(s.value)))
        .collect();
    assert_eq!(
        got,
        vec![
            (r#"x:sum{source="rules"}"#.to_string(), M, true),
            (r#"x:sum:double{source="rules"}"#.to_string(), M, true)
        ]
    );
}

#[tokio::test]
async fn query_offset_shifts_queries_and_output_timestamps() {
    let yaml = "groups:\n  - name: g\n    query_offset: 1m\n    rules:\n      - record: r\n        expr: timestamp(x)\n";
    let mut r = Run::new(yaml);
    let out = r.at(&source(&[0, 1, 2], None), 2).await;
    assert_eq!(out.samples[0].timestamp_ms, M);
    assert_eq!(out.samples[0].value, 60.0);
}

#[tokio::test]
async fn state_round_trips_through_serde_for_checkpoints() {
    let mut r = Run::new(FOR_2M);
    let src = source(&[0, 1, 2, 3], None);
    for m in 0..=2 {
        r.at(&src, m).await;
    }
    let json = serde_json::to_string(&r.state).unwrap();
    let restored: GroupState = serde_json::from_str(&json).unwrap();
    assert_eq!(restored, r.state);
    // Resuming from the checkpoint gives the same next evaluation.
    let mut resumed = Run::new(FOR_2M);
    resumed.state = restored;
    let a = r.at(&src, 3).await;
    let b = resumed.at(&src, 3).await;
    assert_eq!(a.samples, b.samples);
    assert_eq!(a.notifications, b.notifications);
}
