//! `promql()` over real segments: the same answers as the HTTP API's path,
//! EXPLAIN showing the nodes and the pushed-down scan, joins with SQL.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use sluice_model::{Labels, Sample, TimeSeries};
use sluice_promql::{Engine, Value};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::SegmentKey;
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

use crate::segments::index::SegmentIndex;
use crate::segments::source::SegmentSource;
use crate::sql::{SqlService, session_config};

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: Labels::new(pairs.iter().copied()),
        samples: samples.iter().map(|&(t, v)| Sample::new(t, v)).collect(),
    }
}

/// A counter per (job, a) every 15 s over 0..=300 s, split over two
/// segments that both hold the sample at 150 s, plus a gauge `load`.
async fn fixture(root: &std::path::Path) -> SegmentStore {
    let store = SegmentStore::local(root).unwrap();
    let mut first = Vec::new();
    let mut second = Vec::new();
    for (job, a, slope) in [
        ("api", "b1", 1.0),
        ("api", "b2", 2.0),
        ("db", "b3", 3.0),
        ("db", "c1", 5.0),
    ] {
        let pts: Vec<(i64, f64)> = (0..=20).map(|i| (i * 15_000, slope * i as f64)).collect();
        let labels = [("__name__", "x"), ("job", job), ("a", a)];
        first.push(series(&labels, &pts[..=10]));
        second.push(series(&labels, &pts[10..]));
        let load: Vec<(i64, f64)> = (0..=20).map(|i| (i * 15_000, slope)).collect();
        second.push(series(&[("__name__", "load"), ("job", job), ("a", a)], &load));
    }
    for (i, s) in [first, second].into_iter().enumerate() {
        let spec = SegmentSpec {
            table: SAMPLES_TABLE,
            key: SegmentKey {
                partition: 0,
                first_offset: i as i64 * 10,
                last_offset: i as i64 * 10 + 9,
            },
        };
        write_segment(&store, &spec, s).await.unwrap();
    }
    store
}

/// SQL over [`fixture`]'s segments.
async fn fixture_service(root: &std::path::Path) -> SqlService {
    SqlService::new(Arc::new(SegmentIndex::new(fixture(root).await, SAMPLES_TABLE)))
}

async fn sql(svc: &SqlService, q: &str) -> Vec<RecordBatch> {
    svc.query(q).await.unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).unwrap().to_string()
}

/// `q`'s result as a table's text.
async fn sql_text(svc: &SqlService, q: &str) -> String {
    text(&sql(svc, q).await)
}

const QUERY: &str = r#"sum by (job) (rate(x{a=~"b.*"}[1m]))"#;

/// Rows `job|a|t|value` of `promql(query, 60, 300, '30s')` through SQL.
async fn sql_rows(svc: &SqlService, query: &str) -> Vec<String> {
    let got = sql(
        svc,
        &format!(
            "SELECT coalesce(labels['job'], '') AS job, coalesce(labels['a'], '') AS a, \
             CAST(timestamp AS BIGINT) AS t, value FROM promql('{}', 60, 300, '30s') ORDER BY job, a, t",
            query.replace('\'', "''")
        ),
    )
    .await;
    let mut rows = Vec::new();
    for b in &got {
        let s = |c: usize| {
            b.column(c)
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone()
        };
        let (job, a) = (s(0), s(1));
        let t = b
            .column(2)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let v = b
            .column(3)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        for i in 0..b.num_rows() {
            rows.push(format!(
                "{}|{}|{}|{}",
                job.value(i),
                a.value(i),
                t.value(i),
                v.value(i)
            ));
        }
    }
    rows
}

fn sorted(rows: &[String]) -> Vec<String> {
    let mut rows = rows.to_vec();
    rows.sort();
    rows
}

/// The same rows (sorted) from the engine reading through `SegmentSource` (the
/// HTTP API's path).
async fn engine_rows(index: Arc<SegmentIndex>, query: &str) -> Vec<String> {
    let source = SegmentSource::new(
        index,
        datafusion::prelude::SessionContext::new_with_config(session_config()),
    );
    let want = Engine::default()
        .range(&source, query, 60_000, 300_000, 30_000)
        .await
        .unwrap();
    let Value::Matrix(want) = want.value else { panic!() };
    let mut rows = Vec::new();
    for s in &want {
        for p in &s.samples {
            rows.push(format!(
                "{}|{}|{}|{}",
                s.labels.get("job").unwrap_or(""),
                s.labels.get("a").unwrap_or(""),
                p.timestamp_ms,
                p.value
            ));
        }
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn range_rows_equal_the_engine_over_the_segment_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path()).await;
    let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
    let svc = SqlService::new(index.clone());
    let got = sql_rows(&svc, QUERY).await;
    assert_eq!(sorted(&got), engine_rows(index, QUERY).await);
    // 2 jobs x 9 steps; api's rate is (1+2)/15 per second, db's 3/15.
    assert_eq!(got.len(), 18, "{got:?}");
    for (row, job) in [(0, "api"), (9, "db")] {
        let cells: Vec<&str> = got[row].split('|').collect();
        assert_eq!(cells[..3], [job, "", "60000"]);
        assert!(
            (cells[3].parse::<f64>().unwrap() - 0.2).abs() < 1e-12,
            "{}",
            got[row]
        );
    }
}

/// Leaves with offsets, `@`, parameters and name-keeping functions, and
/// the nodes that stay with the evaluator (subqueries, `timestamp`,
/// `absent_over_time`), agree with the engine over the segment source.
#[tokio::test]
async fn leaf_nodes_agree_with_the_engine_over_the_segment_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path()).await;
    let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
    let svc = SqlService::new(index.clone());
    for q in [
        "x",
        "x offset 1m",
        "load @ 120 + x",
        "rate(x[1m] offset 30s)",
        "increase(x[2m] @ end())",
        "quantile_over_time(0.5, x[2m])",
        "last_over_time(x[1m])",
        "predict_linear(x[2m], 60)",
        "double_exponential_smoothing(x[2m], 0.5, 0.5)",
        "timestamp(x)",
        "max_over_time(rate(x[1m])[2m:30s])",
        "absent_over_time(nope[1m])",
        "sum by (job) (rate(x[1m])) / on(job) group_left sum by (job) (load)",
    ] {
        let got = sql_rows(&svc, q).await;
        assert!(!got.is_empty(), "{q}: no rows");
        assert_eq!(sorted(&got), engine_rows(index.clone(), q).await, "{q}");
    }
}

#[tokio::test]
async fn explain_shows_the_promql_nodes_over_a_pruning_scan() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    let plan = sql_text(
        &svc,
        &format!(
            "EXPLAIN SELECT * FROM promql('{QUERY}', '1970-01-01T00:01:00Z', '1970-01-01T00:05:00Z', '30s')"
        ),
    )
    .await;
    // The logical plan, as a tree: PromEval over the range function over
    // the windows over the normalised read over the scan.
    let mut logical = Vec::new();
    let mut in_logical = false;
    for l in plan.lines() {
        let cells: Vec<&str> = l.split('|').collect();
        if cells.len() < 4 {
            continue;
        }
        match cells[1].trim() {
            "logical_plan" => in_logical = true,
            "" => {}
            _ => in_logical = false,
        }
        if in_logical {
            logical.push(cells[2].strip_prefix(' ').unwrap_or(cells[2]).trim_end());
        }
    }
    // Each node one level (two spaces) below the one before; the
    // optimiser folds the scan's projection into the TableScan.
    let tree = [
        "PromEval: query=sum by (job) (rate(x{a=~\"b.*\"}[1m])), range=[1970-01-01T00:01:00Z, 1970-01-01T00:05:00Z], step=30000ms",
        "PromRangeFunction: rate",
        "PromRangeManipulate: range=1m, steps=[1970-01-01T00:01:00Z, 1970-01-01T00:05:00Z] every 30s",
        "PromSeriesNormalize: read={__name__=\"x\", a=~\"b.*\"} [1970-01-01T00:00:00Z, 1970-01-01T00:05:00Z]",
        "Filter: samples.__name__ = Dictionary(Int32, Utf8(\"x\"))",
        "TableScan: samples projection=[__name__, a, job, __series_id__, __timestamp__, __value__]",
    ];
    let indent = |l: &str| l.len() - l.trim_start().len();
    let root = logical
        .iter()
        .position(|l| l.trim_start().starts_with(tree[0]))
        .unwrap_or_else(|| panic!("no PromEval in\n{plan}"));
    let base = indent(logical[root]);
    for (depth, want) in tree.iter().enumerate() {
        let line = logical.get(root + depth).copied().unwrap_or_default();
        assert!(
            line.trim_start().starts_with(want) && indent(line) == base + 2 * depth,
            "expected {want:?} at depth {depth}, got {line:?} in\n{plan}"
        );
    }
    for want in [
        "PromEvalExec",
        "PromRangeFunctionExec: rate",
        "PromRangeManipulateExec: range=1m",
        "PromSeriesNormalizeExec",
        "DataSourceExec",
        "pruning_predicate=",
    ] {
        assert!(plan.contains(want), "missing {want:?} in\n{plan}");
    }
    // The time range, metric name and label matcher reach the scan.
    for pushed in [
        "partial_filters=[samples.__name__ = Dictionary(Int32, Utf8(\"x\")), samples.__timestamp__ >= TimestampMillisecond(0, Some(\"UTC\")), samples.__timestamp__ <= TimestampMillisecond(300000, Some(\"UTC\")), CAST(samples.a AS Utf8) ~ Utf8(\"^(?s:b.*)$\")]",
        "required_guarantees=[__name__ in (x)]",
    ] {
        assert!(plan.contains(pushed), "missing {pushed:?} in\n{plan}");
    }
}

/// Instant selectors become `PromInstantManipulate`; selectors inside a
/// subquery stay plain reads of `PromEval`.
#[tokio::test]
async fn explain_shows_instant_leaves_and_reads_left_to_the_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    let plan = sql_text(
        &svc,
        "EXPLAIN SELECT * FROM promql('load offset 1m + max_over_time(rate(x[1m])[2m:30s])', 300)",
    )
    .await;
    for want in [
        "PromEval: query=load offset 1m + max_over_time(rate(x[1m])[2m:30s]), at=1970-01-01T00:05:00Z",
        "PromInstantManipulate: lookback=5m, at=1970-01-01T00:05:00Z, offset=1m",
        "PromSeriesNormalize: read={__name__=\"load\"} [1969-12-31T23:59:00Z, 1970-01-01T00:04:00Z]",
        "PromSeriesNormalize: read={__name__=\"x\"} [1970-01-01T00:02:00Z, 1970-01-01T00:05:00Z]",
        "PromInstantManipulateExec: lookback=5m",
    ] {
        assert!(plan.contains(want), "missing {want:?} in\n{plan}");
    }
    assert!(!plan.contains("PromRangeFunction"), "{plan}");
}

#[tokio::test]
async fn instant_query_joins_with_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    // Per series: its rate next to the raw `load` sample of the same series
    // at the same instant.
    let got = sql(
        &svc,
        "SELECT p.labels['a'] AS a, round(p.value * 60, 6) AS per_min, s.\"__value__\" AS load \
         FROM promql('rate(x[1m])', 300) p \
         JOIN samples s ON s.\"__name__\" = 'load' AND s.a = p.labels['a'] \
         AND s.\"__timestamp__\" = TIMESTAMP '1970-01-01T00:05:00Z' ORDER BY a",
    )
    .await;
    let t = text(&got);
    let want = "\
+----+---------+------+
| a  | per_min | load |
+----+---------+------+
| b1 | 4.0     | 1.0  |
| b2 | 8.0     | 2.0  |
| b3 | 12.0    | 3.0  |
| c1 | 20.0    | 5.0  |
+----+---------+------+";
    assert_eq!(t, want);
}

#[tokio::test]
async fn bad_promql_and_bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    for (q, want) in [
        ("SELECT * FROM promql('sum(', 0)", "unclosed left parenthesis"),
        ("SELECT * FROM promql('x', 0, 1)", "got 3 arguments"),
        ("SELECT * FROM promql('x', 'yesterday')", "promql(): time"),
        ("SELECT * FROM promql('x', 0, 100000, 1)", "11,000 points"),
        ("SELECT * FROM promql('\"a\"', 0)", "string result"),
    ] {
        let err = svc.query(q).await.unwrap_err().to_string();
        assert!(err.contains(want), "{q}: {err}");
    }
    // Scalars have one row with no labels.
    let got = sql_text(
        &svc,
        "SELECT cardinality(labels) AS n, value FROM promql('1 + 2', 0)",
    )
    .await;
    assert!(got.contains("| 0 | 3.0   |"), "{got}");
}

/// Statements share one runtime, so a footer read for one statement is in
/// the cache for the next (and for PromQL reads, which the server gives the
/// same runtime).
#[tokio::test]
async fn sql_statements_share_the_footer_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = fixture(dir.path()).await;
    let index = Arc::new(SegmentIndex::new(store, SAMPLES_TABLE));
    let runtime = Arc::new(datafusion::execution::runtime_env::RuntimeEnv::default());
    let svc = SqlService::new(index.clone()).with_runtime(Arc::clone(&runtime));
    let cache = runtime.cache_manager.get_file_metadata_cache();
    let segments = index.refresh().await.unwrap();
    assert!(segments.iter().all(|s| cache.get(&s.location).is_none()));
    svc.query("SELECT count(*) FROM samples WHERE __value__ >= 0")
        .await
        .unwrap();
    assert!(
        segments.iter().all(|s| cache.get(&s.location).is_some()),
        "every footer the statement read stays cached"
    );
}

/// The annotations of a statement's `promql()` calls reach the caller
/// (`/api/v1/sql`'s `warnings`/`infos`, Postgres notices), each once.
#[tokio::test]
async fn a_statements_annotations_are_returned_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    let (rows, notes) = svc
        .query_annotated(
            "SELECT count(*) FROM promql('quantile_over_time(2, load[1m])', 300) \
             UNION ALL SELECT count(*) FROM promql('rate(load[1m])', 300) \
             UNION ALL SELECT count(*) FROM promql('rate(load[1m])', 240)",
        )
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    assert_eq!(
        notes.warnings,
        ["PromQL warning: quantile value should be between 0 and 1, got 2 (1:20)"]
    );
    assert_eq!(
        notes.infos,
        [
            "PromQL info: metric might not be a counter, name does not end in \
             _total/_sum/_count/_bucket: \"load\" (1:6)"
        ]
    );
    // A statement without PromQL has none.
    let (_, none) = svc.query_annotated("SELECT 1").await.unwrap();
    assert_eq!(none, Default::default());
}

/// EXPLAIN ANALYZE counts what Prometheus' `stats` counts: the samples in
/// a range selector's windows (on its `PromRangeManipulateExec`) and the
/// engine's own reads and peak (on `PromEvalExec`).
#[tokio::test]
async fn explain_analyze_counts_queryable_samples() {
    let dir = tempfile::tempdir().unwrap();
    let svc = fixture_service(dir.path()).await;
    let plan = sql_text(
        &svc,
        "EXPLAIN ANALYZE SELECT * FROM promql('rate(x[1m]) + load', 300)",
    )
    .await;
    // 4 series of x with the samples at 255, 270, 285 and 300 s in
    // (240 s, 300 s]; 4 series of load with one sample each at 300 s.
    assert!(plan.contains("window_samples=16"), "{plan}");
    assert!(plan.contains("queryable_samples=4"), "{plan}");
    assert!(plan.contains("peak_samples="), "{plan}");
}
