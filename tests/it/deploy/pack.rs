//! The Kubernetes network pack (`deploy/packs/kubernetes-network`): its
//! scrape config loads, its rules check and their unit tests pass under
//! `sluice test rules` (and under `promtool test rules` as the oracle, where
//! it is installed), and every dashboard panel query runs against a Sluice
//! query API holding the data of `tests/bench/gen_k8s_network.py`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::compaction::import;
use crate::support::eventually;
use crate::support::http::get_json;
use crate::support::sluice::{TestConfig, binary};

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/packs/kubernetes-network")
}

/// The files of `dir` ending in `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Runs `program args` in `dir`; asserts success; returns the output.
fn run_ok(program: &Path, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {args:?}:\n{text}", program.display());
    text
}

#[test]
fn deploy_pack_config_and_rules_pass_their_tests() {
    let pack = pack();
    let sluice = binary();
    let said = run_ok(&sluice, &["check", "config", "scrape.yml"], &pack);
    eprintln!("{}", said.trim());
    let rules: Vec<String> = files(&pack.join("rules"), ".yml")
        .iter()
        .map(|p| format!("rules/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    let rule_args: Vec<&str> = rules.iter().map(String::as_str).collect();
    let mut args = vec!["check", "rules"];
    args.extend(&rule_args);
    eprintln!("{}", run_ok(&sluice, &args, &pack).trim());
    let tests = files(&pack.join("tests"), ".test.yml");
    assert!(tests.len() >= 9, "a unit-test file per alert");
    let promtool = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut passed = 0;
    for t in &tests {
        let name = t.file_name().unwrap().to_string_lossy().to_string();
        let ours = run_ok(&sluice, &["test", "rules", &name], t.parent().unwrap());
        assert!(ours.contains("SUCCESS"), "{name}: {ours}");
        if promtool {
            let theirs = run_ok(
                Path::new("promtool"),
                &["test", "rules", &name],
                t.parent().unwrap(),
            );
            assert!(theirs.contains("SUCCESS"), "promtool {name}: {theirs}");
        }
        passed += 1;
    }
    eprintln!(
        "{passed} rule unit-test files pass under sluice test rules{}",
        if promtool {
            " and promtool test rules"
        } else {
            " (promtool not installed)"
        }
    );
    // Every alert of the pack has a unit test.
    let alerts = std::fs::read_to_string(pack.join("rules/alerts.yml")).unwrap();
    let tested: String = tests
        .iter()
        .map(|t| std::fs::read_to_string(t).unwrap())
        .collect();
    for line in alerts.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        assert!(
            tested.contains(&format!("alertname: {line}")),
            "alert {line} has no unit test"
        );
    }
}

/// Grafana's variables as a panel would see them; `vars` are the
/// dashboard's template variables, already resolved.
fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let mut e = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$__range", "1h");
    for (k, v) in vars {
        e = e.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
    }
    assert!(!e.contains('$'), "unresolved variable in {e}");
    e
}

/// Panels whose query may rightly return nothing on healthy data.
const MAY_BE_EMPTY: [&str; 1] = ["Targets down"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_pack_dashboards_query_sluice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("k8s.om");
    let gen_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bench/gen_k8s_network.py");
    let out = Command::new("python3")
        .arg(&gen_script)
        .args(["--series", "300", "--hours", "2", "--pack-families", "-o"])
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

    // The generator's default start, 2026-11-01T00:00Z; query its second half hour on.
    let (start, end) = (1_793_491_200 + 1800, 1_793_491_200 + 5400);
    let (mut panels, mut queries, mut empty_ok) = (0, 0, 0);
    for file in files(&pack().join("dashboards"), ".json") {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let vars_list = d["templating"]["list"].as_array().unwrap();
        let ds = &vars_list[0];
        assert!(
            ds["name"] == "datasource" && ds["type"] == "datasource" && ds["query"] == "prometheus",
            "{name}"
        );
        // Resolve each variable with its own label_values() query, in order.
        let mut vars = BTreeMap::new();
        for v in &vars_list[1..] {
            let q = substitute(v["query"]["query"].as_str().unwrap(), &vars);
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap();
            let (selector, label) = match inner.rsplit_once(", ") {
                Some((s, l)) => (s.to_string(), l.to_string()),
                None => panic!("{name}: {q}"),
            };
            let url = format!(
                "{api}/api/v1/label/{label}/values?start={start}&end={end}&match[]={}",
                form_urlencoded::byte_serialize(selector.as_bytes()).collect::<String>()
            );
            let (status, body) = get_json(&url).await;
            assert_eq!(status, 200, "{name}: {q}: {body}");
            let first = body["data"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {q} found no values"));
            eprintln!("  {name}: ${} = {first} (from {q})", v["name"].as_str().unwrap());
            vars.insert(v["name"].as_str().unwrap().to_string(), regex_escape(first));
        }
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap();
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{name}: {title}");
            panels += 1;
            let mut series = 0;
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{name}: {title}");
                let expr = substitute(t["expr"].as_str().unwrap(), &vars);
                let url = format!(
                    "{api}/api/v1/query_range?start={start}&end={end}&step=60&query={}",
                    form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>()
                );
                let (status, body) = get_json(&url).await;
                assert!(
                    status == 200 && body["status"] == "success",
                    "{name}: {title}: {expr}: {status} {body}"
                );
                series += body["data"]["result"].as_array().unwrap().len();
                queries += 1;
            }
            if series == 0 {
                assert!(
                    MAY_BE_EMPTY.contains(&title),
                    "{name}: panel {title:?} returned no data"
                );
                empty_ok += 1;
            }
            eprintln!("  {name}: {title}: {series} series");
        }
    }
    eprintln!(
        "{panels} panels, {queries} queries: all HTTP 200 success; {empty_ok} allowed-empty panel(s) empty"
    );
    assert!(panels >= 30);
}

/// A label value as a regex matching only itself (`=~"$var"`).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = ".+*?()|[]{}^$\\".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect::<String>()
        .replace('\\', "\\\\")
}
