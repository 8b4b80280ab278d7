//! Reads answered from a broader read of the same query.
//!
//! `sum(rate(x{code=~"5.."}[5m])) / sum(rate(x[5m]))`, the error ratio on
//! every SLO dashboard, selects `x` twice, once with one more matcher. The
//! narrower selector's series are a subset of the broader one's, so one
//! read serves both: the narrower data is the broader read filtered by the
//! extra matchers in memory. Each read saved is a scan set-up and a second
//! decode of the same rows.

use crate::Matcher;

/// A read's matchers and span, as the planner groups them.
pub(crate) struct ReadShape<'a> {
    /// `None` for a read of several matcher sets (`or` inside braces),
    /// which this does not try to match.
    pub(crate) matchers: Option<&'a [Matcher]>,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

/// Where a read's data can come from instead: the index of a broader read
/// and the matchers that narrow it.
#[derive(Debug)]
pub(crate) struct Narrowing {
    pub(crate) from: usize,
    pub(crate) extra: Vec<Matcher>,
}

fn same(a: &Matcher, b: &Matcher) -> bool {
    a.name == b.name && a.op == b.op && a.value == b.value
}

/// For each read, the broader read that covers it, if any: one whose
/// matchers are a strict subset of its matchers and whose span contains
/// its span. The broader read chosen has the fewest matchers, so it is
/// never itself narrowed (a read covering it would cover this one too,
/// with fewer matchers still).
pub(crate) fn narrowings(reads: &[ReadShape<'_>]) -> Vec<Option<Narrowing>> {
    reads
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mine = r.matchers?;
            let (from, base) = reads
                .iter()
                .enumerate()
                .filter(|&(j, b)| j != i && b.start_ms <= r.start_ms && r.end_ms <= b.end_ms)
                .filter_map(|(j, b)| b.matchers.map(|ms| (j, ms)))
                .filter(|(_, ms)| ms.len() < mine.len() && ms.iter().all(|m| mine.iter().any(|x| same(m, x))))
                .min_by_key(|(_, ms)| ms.len())?;
            let extra = mine
                .iter()
                .filter(|m| !base.iter().any(|b| same(m, b)))
                .cloned()
                .collect();
            Some(Narrowing { from, extra })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MatchOp;

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    fn shape(ms: &[Matcher], start_ms: i64, end_ms: i64) -> ReadShape<'_> {
        ReadShape {
            matchers: Some(ms),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn a_read_with_more_matchers_inside_a_broader_span_is_narrowed() {
        let all = [m("__name__", MatchOp::Equal, "x")];
        let errors = [
            m("__name__", MatchOp::Equal, "x"),
            m("code", MatchOp::Regex, "5.."),
        ];
        let other = [m("__name__", MatchOp::Equal, "y")];
        let got = narrowings(&[shape(&errors, 0, 100), shape(&all, 0, 100), shape(&other, 0, 100)]);
        let n = got[0].as_ref().expect("errors narrowed from all");
        assert_eq!(n.from, 1);
        assert_eq!(n.extra.len(), 1);
        assert_eq!(n.extra[0].name, "code");
        assert!(got[1].is_none() && got[2].is_none());

        // A broader read over a shorter span cannot answer.
        let got = narrowings(&[shape(&errors, 0, 100), shape(&all, 10, 100)]);
        assert!(got[0].is_none());
        // Several matcher sets are left alone, on either side.
        let or = ReadShape {
            matchers: None,
            start_ms: 0,
            end_ms: 100,
        };
        let got = narrowings(&[shape(&errors, 0, 100), or]);
        assert!(got.iter().all(Option::is_none));
    }

    /// A source that counts its reads.
    struct Counting {
        inner: crate::MemorySource,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl crate::SeriesSource for Counting {
        async fn select(
            &self,
            matchers: &[Matcher],
            start_ms: i64,
            end_ms: i64,
        ) -> Result<Vec<sluice_model::TimeSeries>, crate::SourceError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.select(matchers, start_ms, end_ms).await
        }
    }

    /// The error ratio reads its metric once, and answers exactly what
    /// two separate reads give.
    #[tokio::test]
    async fn the_error_ratio_reads_its_metric_once() {
        use sluice_model::{Labels, Sample, TimeSeries};
        let series = |code: &str, per_min: f64| TimeSeries {
            labels: Labels::new([("__name__", "reqs"), ("code", code), ("job", "api")]),
            samples: (0..20)
                .map(|i| Sample::new(i * 60_000, per_min * i as f64))
                .collect(),
        };
        let source = Counting {
            inner: crate::MemorySource::new(vec![
                series("200", 90.0),
                series("500", 6.0),
                series("503", 4.0),
            ]),
            reads: Default::default(),
        };
        let engine = crate::Engine::default();
        let ratio = r#"sum(rate(reqs{code=~"5.."}[5m])) / sum(rate(reqs[5m]))"#;
        let got = engine
            .range(&source, ratio, 600_000, 1_080_000, 60_000)
            .await
            .unwrap();
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::Relaxed), 1);
        // With a `job` matcher on the denominator neither selector covers
        // the other: two reads, and the same answer.
        let apart = r#"sum(rate(reqs{code=~"5.."}[5m])) / sum(rate(reqs{job="api"}[5m]))"#;
        let two = Counting {
            inner: source.inner,
            reads: Default::default(),
        };
        let want = engine
            .range(&two, apart, 600_000, 1_080_000, 60_000)
            .await
            .unwrap();
        assert_eq!(two.reads.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(format!("{:?}", got.value), format!("{:?}", want.value));
        let crate::Value::Matrix(m) = &got.value else {
            panic!("{:?}", got.value)
        };
        assert!(
            (m[0].samples[0].value - 0.1).abs() < 1e-12,
            "{:?}",
            m[0].samples[0]
        );
    }
}
