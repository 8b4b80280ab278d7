//! Recording rules: the expression's result renamed and relabelled, with
//! Prometheus' checks (no two outputs with the same labels, `limit`).

use std::collections::HashSet;

use sluice_model::{Labels, METRIC_NAME};

use crate::RecordingRule;

/// Turns the expression's result into the rule's output series.
pub(crate) fn relabel(
    rule: &RecordingRule,
    vector: Vec<(Labels, f64)>,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut out = Vec::with_capacity(vector.len());
    let mut seen = HashSet::with_capacity(vector.len());
    for (mut labels, value) in vector {
        labels.set(METRIC_NAME, &rule.name);
        for (k, v) in &rule.labels {
            labels.set(k, v);
        }
        if !seen.insert(labels.clone()) {
            return Err("vector contains metrics with the same labelset after applying rule labels".into());
        }
        out.push((labels, value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit of {limit} with {} series", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(labels: &[(&str, &str)]) -> RecordingRule {
        RecordingRule {
            name: "job:up:sum".into(),
            expr: "sum by (job) (up)".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn renames_overrides_and_removes_labels() {
        let out = relabel(
            &rule(&[("env", "prod"), ("instance", "")]),
            vec![(
                Labels::new([
                    ("__name__", "up"),
                    ("job", "a"),
                    ("instance", "x"),
                    ("env", "dev"),
                ]),
                1.0,
            )],
            0,
        )
        .unwrap();
        assert_eq!(
            out[0].0,
            Labels::new([("__name__", "job:up:sum"), ("job", "a"), ("env", "prod")])
        );
    }

    #[test]
    fn collisions_and_limit_fail_the_rule() {
        let two = vec![
            (Labels::new([("instance", "a")]), 1.0),
            (Labels::new([("instance", "b")]), 2.0),
        ];
        let e = relabel(&rule(&[("instance", "")]), two.clone(), 0).unwrap_err();
        assert!(e.contains("same labelset"), "{e}");
        assert_eq!(
            relabel(&rule(&[]), two.clone(), 1).unwrap_err(),
            "exceeded limit of 1 with 2 series"
        );
        assert_eq!(relabel(&rule(&[]), two, 2).unwrap().len(), 2);
    }
}
