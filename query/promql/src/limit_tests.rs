//! `limitk` and `limit_ratio`: the float-only promqltest script, and the
//! experimental-functions switch on every entry point of the engine.

use crate::promqltest::{memory_source_factory, run_script};
use crate::{Engine, EngineOptions, MemorySource, QueryError, Value, parse_expr};
use sluice_model::{Labels, Sample, TimeSeries};

const SCRIPT: &str = include_str!("../testdata/limit_floats.test");

const DISABLED: &str =
    "limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions";

fn enabled() -> Engine {
    Engine::new(EngineOptions {
        experimental_functions: true,
        ..EngineOptions::default()
    })
}

fn source() -> MemorySource {
    let series = |job: &str| TimeSeries {
        labels: Labels::new([("__name__", "up"), ("job", job)]),
        samples: vec![Sample::new(0, 1.0)],
    };
    MemorySource::new(vec![series("a"), series("b")])
}

#[tokio::test]
async fn the_float_only_limit_script_passes_every_eval() {
    // The script runs whatever engine it is given with the switch on, as
    // upstream's runner does.
    let res = run_script(
        "limit_floats.test",
        SCRIPT,
        &Engine::default(),
        &memory_source_factory,
    )
    .await;
    let evals = SCRIPT.lines().filter(|l| l.starts_with("eval")).count();
    assert_eq!(evals, 35);
    assert!(res.failures.is_empty(), "{:#?}", res.failures);
    assert_eq!(
        (res.passed, res.failed, res.skipped),
        (evals, 0, 0),
        "{:?}",
        res.skips
    );
}

#[tokio::test]
async fn disabled_by_default_on_every_entry_point() {
    let e = Engine::default();
    let src = source();
    let q = "limitk(1, up)";
    let bad = |r: Result<_, QueryError>| match r {
        Err(QueryError::BadData(m)) => assert_eq!(m, DISABLED),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("limitk ran with the switch off"),
    };
    bad(e.check(q).map(|_| ()));
    bad(e.instant(&src, q, 0).await.map(|_| ()));
    bad(e.range(&src, q, 0, 60_000, 15_000).await.map(|_| ()));
    let expr = parse_expr(q).unwrap();
    bad(e.instant_expr(&src, &expr, q, 0).await.map(|_| ()));
    bad(e.plan_query(&expr, 0, 0, 0).map(|_| ()));
    // Syntax alone is still fine, and so is everything else.
    assert_eq!(Engine::parse_check(q).unwrap(), "vector");
    assert!(e.instant(&src, "topk(1, up)", 0).await.is_ok());
    match e.instant(&src, "limit_ratio(0.5, up)", 0).await {
        Err(QueryError::BadData(m)) => assert!(m.starts_with("limit_ratio() is experimental"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn enabled_it_keeps_the_first_k_with_all_labels() {
    let e = enabled();
    assert_eq!(e.check("limitk(1, up)").unwrap(), "vector");
    let r = e.instant(&source(), "limitk(1, up)", 0).await.unwrap();
    let Value::Vector(v) = r.value else { panic!() };
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].labels.to_string(), r#"up{job="a"}"#);
}
