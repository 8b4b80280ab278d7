//! `/api/v1/metadata` next to Prometheus 2.42's.
//!
//! Scrapes: a real Prometheus 2.42 and `sluice all` scrape the same node
//! exporter (text format 0.0.4) and the same OpenMetrics exporter (every
//! OpenMetrics type, a UNIT, HELP-only and TYPE-only families); both
//! answers must be equal as maps metric family name → set of
//! {type, help, unit} entries: the same names (keyed by the family name of
//! the `# TYPE` line, `foo_seconds` for the samples `foo_seconds_total`,
//! not the sample names), and for each the same entries. Neither lists
//! `up` and the other synthetic scrape series (Prometheus 2.42 has no
//! metadata for them either). The entry order within a metric is not
//! compared: Prometheus' is Go's random map order.
//!
//! remote_write: a Prometheus that scrapes the node exporter sends its
//! metadata (`metadata_config.send_interval` 1s) to a `sluice scrape` that
//! scrapes nothing; a separate `sluice query` must answer exactly
//! Prometheus' own metadata, and so must a restarted one (which can only
//! have read it from the topic's beginning).
//!
//! Also checked: `/api/v1/targets/metadata` per target, and the records on
//! `sluice.metadata` (one per distinct entry, not one per scrape).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use sluice_ingest::topics::client_config;
use sluice_model::bus::metadata;
use sluice_model::clock::{SystemClock, TimeProvider};
use sluice_model::kafka::KafkaConfig;

use crate::support::broker::Broker;
use crate::support::free_port;
use crate::support::http::{Exporter, get_json};
use crate::support::process::Proc;
use crate::support::prometheus;
use crate::support::sluice::TestConfig;

/// Every OpenMetrics type; `foo_seconds` with a UNIT, `onlyhelp` without a
/// TYPE (type `unknown`), the others without HELP.
const OPENMETRICS: &str = r#"# TYPE foo_seconds counter
# HELP foo_seconds A foo counter.
# UNIT foo_seconds seconds
foo_seconds_total 1
foo_seconds_created 1.0
# TYPE bar gauge
bar 2
# HELP onlyhelp Just help.
onlyhelp 3
# TYPE hist histogram
hist_bucket{le="1"} 0
hist_bucket{le="+Inf"} 0
hist_count 0
hist_sum 0
# TYPE st stateset
st{st="a"} 1
# TYPE inf info
inf_info{v="1"} 1
# TYPE gh gaugehistogram
gh_bucket{le="+Inf"} 0
gh_gcount 0
gh_gsum 0
# TYPE sm summary
# HELP sm A summary with a \"quoted\" help and a \\ backslash.
sm{quantile="0.5"} 1
sm_sum 1
sm_count 1
# EOF
"#;

type Entries = BTreeMap<String, BTreeSet<(String, String, String)>>;

/// `/api/v1/metadata`'s data as comparable sets; `None` unless 200/success.
async fn metadata(api: &str, query: &str) -> Option<Entries> {
    let (status, v) = get_json(&format!("{api}/api/v1/metadata{query}")).await;
    if status != 200 || v["status"] != "success" {
        return None;
    }
    let data = v["data"].as_object()?;
    let mut out = Entries::new();
    for (name, entries) in data {
        let set = out.entry(name.clone()).or_default();
        for e in entries.as_array()? {
            let field = |k: &str| e[k].as_str().map(str::to_string);
            // Exactly Prometheus' three keys.
            assert_eq!(e.as_object()?.len(), 3, "{name}: {e}");
            set.insert((field("type")?, field("help")?, field("unit")?));
        }
    }
    Some(out)
}

/// `/api/v1/targets/metadata`'s status and entries (each as its JSON
/// text, sorted), or the error.
async fn targets_metadata(api: &str, query: &str) -> (u16, Vec<String>) {
    let (status, v) = get_json(&format!("{api}/api/v1/targets/metadata{query}")).await;
    let mut entries: Vec<String> = match v["data"].as_array() {
        Some(list) => list.iter().map(|e| e.to_string()).collect(),
        None => vec![v.to_string()],
    };
    entries.sort();
    (status, entries)
}

/// Families one map has and the other lacks, and those whose entries differ.
fn diff(sluice: &Entries, prom: &Entries) -> String {
    let only = |a: &Entries, b: &Entries| -> Vec<String> {
        a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
    };
    let differ: Vec<String> = sluice
        .iter()
        .filter(|(k, v)| prom.get(*k).is_some_and(|p| p != *v))
        .map(|(k, v)| format!("{k}: sluice {v:?} vs prometheus {:?}", prom[k]))
        .collect();
    format!(
        "only in Sluice: {:?}\nonly in Prometheus: {:?}\ndiffering: {differ:?}",
        only(sluice, prom),
        only(prom, sluice)
    )
}

/// One record of the metadata topic as the bus format describes it.
struct BusEntry {
    key: String,
    format: String,
    timestamp_ms: i64,
    entry: sluice_model::bus::PbMetricMetadata,
}

/// Every record of `sluice.metadata`, and its partition count.
fn metadata_records(kafka: &KafkaConfig) -> (usize, Vec<BusEntry>) {
    let topic = "sluice.metadata";
    let consumer: BaseConsumer = client_config(kafka)
        .set("group.id", "it-metadata")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut tpl = TopicPartitionList::new();
    let mut total = 0;
    for p in &partitions {
        total += consumer
            .fetch_watermarks(topic, *p, Duration::from_secs(10))
            .unwrap()
            .1;
        tpl.add_partition_offset(topic, *p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < total && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let format = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "sluice-format").and_then(|h| h.value))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            out.push(BusEntry {
                key: String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                entry: metadata::decode(None, m.payload().unwrap()).unwrap(),
                format,
                timestamp_ms: m.timestamp().to_millis().unwrap(),
            });
        }
    }
    assert_eq!(out.len() as i64, total, "not every record read");
    (partitions.len(), out)
}

fn node_exporter(dir: &std::path::Path) -> (Proc, String) {
    let port = free_port();
    let mut ne = Command::new("prometheus-node-exporter");
    ne.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    (
        Proc::spawn("node-exporter", ne, &dir.join("ne.log")),
        format!("127.0.0.1:{port}"),
    )
}

/// Polls both APIs until Sluice's full answer equals Prometheus' (which must
/// already list `must_have`); panics with the difference otherwise.
async fn until_equal(api: &str, prom_api: &str, must_have: &[&str]) -> Entries {
    let wait = Duration::from_secs(90);
    let deadline = Instant::now() + wait;
    let mut last = String::new();
    loop {
        let prom = metadata(prom_api, "").await.unwrap_or_default();
        let sluice = metadata(api, "").await.unwrap_or_default();
        if must_have.iter().all(|m| prom.contains_key(*m)) {
            if sluice == prom {
                return sluice;
            }
            last = diff(&sluice, &prom);
        }
        assert!(
            Instant::now() < deadline,
            "Sluice's /api/v1/metadata never became Prometheus' within {wait:?}:\n{last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_metadata_matches_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_ne, node) = node_exporter(dir.path());
    let om = Exporter::start_as(
        OPENMETRICS,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
    )
    .await;
    let (_prom, prom_api) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n\
             - job_name: node\n  static_configs: [{{targets: ['{node}']}}]\n\
             - job_name: om\n  static_configs: [{{targets: ['{}']}}]\n",
            om.target()
        ),
    );
    let started_ms = SystemClock.now_ms();
    let broker = Broker::start(&dir.path().join("broker"));
    let mut cfg = TestConfig::new(dir.path(), broker.address());
    cfg.targets = vec![
        ("node".into(), vec![node.clone()]),
        ("om".into(), vec![om.target()]),
    ];
    let _sluice = cfg.start("all");
    let api = cfg.api();

    let both = until_equal(&api, &prom_api, &["node_cpu_seconds_total", "foo_seconds", "sm"]).await;
    let entry = |name: &str| both[name].iter().next().cloned().unwrap();
    let t = |k: &str, h: &str, u: &str| (k.to_string(), h.to_string(), u.to_string());
    // The family name of the TYPE line, with its UNIT; every type's name.
    assert_eq!(entry("foo_seconds"), t("counter", "A foo counter.", "seconds"));
    assert!(!both.contains_key("foo_seconds_total"));
    assert_eq!(entry("onlyhelp"), t("unknown", "Just help.", ""));
    for (name, kind) in [
        ("bar", "gauge"),
        ("hist", "histogram"),
        ("st", "stateset"),
        ("inf", "info"),
        ("gh", "gaugehistogram"),
    ] {
        assert_eq!(entry(name), t(kind, "", ""), "{name}");
    }
    assert_eq!(
        entry("sm").1,
        r#"A summary with a "quoted" help and a \ backslash."#
    );
    // Text format: `untyped` is `unknown`.
    assert!(
        both.values().flatten().any(|(k, _, _)| k == "unknown")
            && both.values().flatten().any(|(k, _, _)| k == "counter")
    );
    for synthetic in ["up", "scrape_duration_seconds", "scrape_samples_scraped"] {
        assert!(!both.contains_key(synthetic), "{synthetic}");
    }

    // The parameters, against Prometheus' answers where they are
    // deterministic (limit picks arbitrary metrics in Prometheus).
    for q in [
        "?metric=node_load1",
        "?metric=foo_seconds",
        "?metric=foo_seconds_total",
        "?metric=nosuch",
        "?limit=0",
    ] {
        assert_eq!(metadata(&api, q).await, metadata(&prom_api, q).await, "{q}");
    }
    assert_eq!(metadata(&api, "?limit=3").await.unwrap().len(), 3);
    let (status, v) = get_json(&format!("{api}/api/v1/metadata?limit=x")).await;
    let (pstatus, pv) = get_json(&format!("{prom_api}/api/v1/metadata?limit=x")).await;
    assert_eq!((status, &v), (pstatus, &pv));

    // /api/v1/targets/metadata: per target, as Prometheus lists it (the
    // order within a target is Go's map order in Prometheus: compared
    // sorted).
    for q in [
        "",
        "?match_target=%7Bjob%3D%22om%22%7D",
        "?metric=node_load1",
        "?match_target=%7Bjob%3D%22node%22%7D&metric=node_load1",
        "?match_target=%7Bjob%3D%22nosuch%22%7D",
        "?limit=0",
        "?limit=x",
    ] {
        let (s, p) = (
            targets_metadata(&api, q).await,
            targets_metadata(&prom_api, q).await,
        );
        assert_eq!(s, p, "/api/v1/targets/metadata{q}");
    }
    let om_entries = targets_metadata(&api, "?match_target=%7Bjob%3D%22om%22%7D")
        .await
        .1;
    assert_eq!(om_entries.len(), 8, "{om_entries:?}");

    // On the bus: one record per distinct entry, although both targets were
    // scraped every second for seconds (each written once, not per scrape),
    // keyed as documented, with the format header and a current timestamp.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kafka = KafkaConfig {
        brokers: broker.address(),
        ..KafkaConfig::default()
    };
    let (partitions, records) = tokio::task::spawn_blocking(move || metadata_records(&kafka))
        .await
        .unwrap();
    assert_eq!(partitions, 1);
    let entries: usize = both.values().map(BTreeSet::len).sum();
    assert_eq!(
        records.len(),
        entries,
        "records on sluice.metadata vs distinct entries"
    );
    let now_ms = SystemClock.now_ms();
    for r in &records {
        assert_eq!(r.key, metadata::key(&r.entry));
        assert_eq!(r.format, "prometheus.MetricMetadata/v1");
        assert!(
            (started_ms..=now_ms).contains(&r.timestamp_ms),
            "{}: {}",
            r.key,
            r.timestamp_ms
        );
    }
    eprintln!(
        "metadata: {} metric families ({entries} entries, {} records on sluice.metadata), identical in Sluice and Prometheus 2.42",
        both.len(),
        records.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_metadata_reaches_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_ne, node) = node_exporter(dir.path());
    let broker = Broker::start(&dir.path().join("broker"));
    // Separate processes, as deployed: the receiver (`sluice scrape`, which
    // scrapes nothing here, so whatever metadata arrives came by
    // remote_write) and `sluice query`, which has only the bus.
    let cfg = TestConfig::new(dir.path(), broker.address());
    let _receiver = cfg.start("scrape");
    let mut query = cfg.start("query");
    let api = cfg.api();
    let (_prom, prom_api) = prometheus::start(
        dir.path(),
        &format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\nscrape_configs:\n\
             - job_name: node\n  static_configs: [{{targets: ['{node}']}}]\n\
             remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n    \
             queue_config: {{batch_send_deadline: 1s}}\n    metadata_config: {{send: true, send_interval: 1s}}\n",
            cfg.receive_port
        ),
    );
    let both = until_equal(&api, &prom_api, &["node_load1", "node_cpu_seconds_total"]).await;
    assert_eq!(
        both["node_load1"].iter().next().unwrap(),
        &("gauge".to_string(), "1m load average.".to_string(), String::new())
    );

    // A new query process reads the topic from the beginning. Prometheus
    // keeps sending the same metadata every second, but the receiver writes
    // an entry only once per refresh (10 min): what the new process shows
    // it can only have read from the records written before it started.
    query.terminate();
    let _query = cfg.start("query");
    let again = until_equal(&api, &prom_api, &["node_load1"]).await;
    assert_eq!(again, both);
    eprintln!(
        "remote_write metadata: {} metric families, identical in Sluice (also after a query restart) and the sending Prometheus",
        both.len()
    );
}
