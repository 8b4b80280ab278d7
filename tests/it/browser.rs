//! The expression browser (`query/src/ui/`) in headless Chromium against the
//! real query role holding generated Kubernetes network data
//! (`tests/bench/gen_k8s_network.py`, loaded with `sluice import`): the page
//! runs the query its URL carries (Prometheus' `g0.*` parameters), draws the
//! chart (checked in the DOM against the API's own answer) and is
//! photographed; the table tab, an API error, the completion list and the
//! alerts and targets pages are checked in the DOM.
//!
//! The screenshot lands in the artefact directory
//! (`$SLUICE_TEST_ARTEFACTS`, default `<target>/tmp/artefacts`);
//! `SLUICE_UPDATE_SCREENSHOTS=1` also copies it to
//! `docs/images/expression-browser.png`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::compaction::import;
use crate::support::chromium::{Chromium, by_id, elements, text};
use crate::support::eventually;
use crate::support::http::get_json;
use crate::support::sluice::TestConfig;

const EXPR: &str = "sum by (namespace) (rate(container_network_receive_bytes_total[5m]))";
/// The generator's default start is 2026-11-01T00:00Z; it writes two hours.
const END: &str = "2026-11-01 02:00:00";
const END_UNIX: i64 = 1_793_491_200 + 7200;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn artefacts() -> PathBuf {
    let dir = std::env::var_os("SLUICE_TEST_ARTEFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("artefacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert!(
        b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// The completion list the page offers for `expr` (cursor at the end).
fn completions(chromium: &mut Chromium, api: &str, expr: &str) -> (String, Vec<String>) {
    let dom = chromium.dump_dom(&format!("{api}/graph?g0.expr={}&complete=1", enc(expr)));
    let list = by_id(&dom, "ul", "completions");
    let context = elements(list, "ul")[0]
        .get("data-context")
        .cloned()
        .unwrap_or_default();
    let items = list
        .split("<span class=\"text\">")
        .skip(1)
        .map(|s| text(s.split("</span>").next().unwrap()))
        .collect();
    (context, items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_runs_a_query_and_draws_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("k8s.om");
    let gen_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/gen_k8s_network.py");
    let out = Command::new("python3")
        .arg(&gen_script)
        .args(["--series", "200", "--hours", "2", "-o"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim());
    let cfg = TestConfig::new(dir.path(), "127.0.0.1:1".into());
    import(&cfg.write(), &data);
    let _query = cfg.start("query");
    let api = cfg.api();
    eventually(Duration::from_secs(60), "the query API", || async {
        get_json(&format!("{api}/-/ready")).await.0.eq(&200).then_some(())
    })
    .await;

    // The assets come from the binary, with their types.
    for (path, ty) in [
        ("/", "text/html"),
        ("/graph", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let r = reqwest::get(format!("{api}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let got = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(got.starts_with(ty), "{path}: {got}");
    }

    // What the API answers for the chart's query: the chart must show it.
    let (start, step) = (END_UNIX - 7200, 7200 / 250);
    let (status, body) = get_json(&format!(
        "{api}/api/v1/query_range?query={}&start={start}&end={END_UNIX}&step={step}",
        enc(EXPR)
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let expected: Vec<(String, usize)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ns = s["metric"]["namespace"].as_str().unwrap();
            (
                format!("{{namespace=\"{ns}\"}}"),
                s["values"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert!(expected.len() >= 4, "the generator's namespaces: {expected:?}");

    let dir_chromium = dir.path().join("chromium");
    std::fs::create_dir_all(&dir_chromium).unwrap();
    let mut chromium = Chromium::new(&dir_chromium);
    let graph = format!(
        "{api}/graph?g0.expr={}&g0.tab=0&g0.range_input=2h&g0.end_input={}",
        enc(EXPR),
        enc(END)
    );

    // The graph tab ran the query from the URL and drew one path per series,
    // each with as many points as the API returned, and a legend entry.
    let dom = chromium.dump_dom(&graph);
    assert!(dom.contains("<body data-status=\"ok\">"), "{dom}");
    let paths: Vec<_> = elements(&dom, "path")
        .into_iter()
        .filter(|p| p.contains_key("data-series"))
        .collect();
    assert_eq!(paths.len(), expected.len(), "{dom}");
    let legend: Vec<String> = elements(by_id(&dom, "ul", "legend"), "li")
        .into_iter()
        .filter_map(|li| li.get("data-series").cloned())
        .collect();
    for (name, points) in &expected {
        let p = paths
            .iter()
            .find(|p| &p["data-series"] == name)
            .unwrap_or_else(|| panic!("no path for {name}"));
        let vertices = p["d"].matches(['M', 'L']).count();
        assert_eq!(vertices, *points, "{name}: {}", p["d"]);
        assert!(legend.contains(name), "legend lacks {name}: {legend:?}");
    }
    eprintln!(
        "graph: {} series drawn, {} points each at most",
        paths.len(),
        expected.iter().map(|e| e.1).max().unwrap()
    );

    // The same page, photographed.
    let shot = artefacts().join("expression-browser.png");
    chromium.screenshot(&graph, &shot);
    assert_eq!(png_size(&shot), (1280, 800));
    eprintln!("screenshot: {}", shot.display());
    if std::env::var_os("SLUICE_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images/expression-browser.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::copy(&shot, &docs).unwrap();
        eprintln!("copied to {}", docs.display());
    }

    // The table tab: the instant query's series and values as the API gives them.
    let at = "2026-11-01 01:00:00";
    let (_, instant) = get_json(&format!(
        "{api}/api/v1/query?query={}&time={}",
        enc(EXPR),
        1_793_491_200 + 3600
    ))
    .await;
    let dom = chromium.dump_dom(&format!(
        "{api}/graph?g0.expr={}&g0.tab=1&g0.moment_input={}",
        enc(EXPR),
        enc(at)
    ));
    let table = text(by_id(&dom, "table", "result-table"));
    for s in instant["data"]["result"].as_array().unwrap() {
        let ns = s["metric"]["namespace"].as_str().unwrap();
        let row = format!("{{namespace=\"{ns}\"}}{}", s["value"][1].as_str().unwrap());
        assert!(table.contains(&row), "table lacks {row}: {table}");
    }

    // An API error is shown with the API's message and type.
    let bad = "sum(rate(container_network_receive_bytes_total[5m])";
    let (_, err) = get_json(&format!("{api}/api/v1/query?query={}", enc(bad))).await;
    let msg = err["error"].as_str().unwrap();
    let dom = chromium.dump_dom(&format!("{api}/graph?g0.expr={}&g0.tab=0", enc(bad)));
    assert!(dom.contains("<body data-status=\"error\">"));
    let shown = text(by_id(&dom, "div", "error"));
    assert!(
        shown.contains(msg) && shown.contains("(bad_data)"),
        "{shown} vs {msg}"
    );
    eprintln!("error shown: {shown}");

    // Completion: metric names, label names inside braces and in `by (...)`,
    // label values after `label="`.
    let (ctx, items) = completions(&mut chromium, &api, "sum(rate(container_network_rec");
    assert_eq!(ctx, "metric");
    assert_eq!(items[0], "container_network_receive_bytes_total", "{items:?}");
    let (ctx, items) = completions(&mut chromium, &api, "rate(container_network_receive_bytes_total{");
    assert_eq!(ctx, "label");
    for l in ["namespace", "pod", "interface"] {
        assert!(items.iter().any(|i| i == l), "{l} not in {items:?}");
    }
    let (ctx, items) = completions(
        &mut chromium,
        &api,
        "rate(container_network_receive_bytes_total{namespace=\"kube",
    );
    assert_eq!(
        (ctx.as_str(), items.as_slice()),
        ("value", &["kube-system".to_string()][..])
    );
    let (ctx, items) = completions(
        &mut chromium,
        &api,
        "sum by (names) (container_network_receive_bytes_total)",
    );
    // The cursor is at the end, outside the `by` list: nothing to offer.
    assert!(items.is_empty(), "{ctx}: {items:?}");
    let (ctx, items) = completions(&mut chromium, &api, "sum by (names");
    assert_eq!(
        (ctx.as_str(), items.as_slice()),
        ("label", &["namespace".to_string()][..])
    );
    eprintln!("completions: metric, label, label value and by-clause contexts");

    // The alerts and targets pages load (a query-only process has neither).
    let dom = chromium.dump_dom(&format!("{api}/alerts"));
    let alerts = text(by_id(&dom, "div", "alerts"));
    assert!(alerts.contains("Active alerts (0)"), "{alerts}");
    assert!(by_id(&dom, "div", "alerts-error").contains("hidden"));
    let dom = chromium.dump_dom(&format!("{api}/targets"));
    let targets = text(by_id(&dom, "div", "targets"));
    assert!(targets.contains("No scrape targets"), "{targets}");
    assert!(by_id(&dom, "div", "targets-error").contains("hidden"));
}
