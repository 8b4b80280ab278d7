//! Kubernetes service discovery against a loopback API server: the scrape
//! manager's targets (what `/api/v1/targets` shows) after the initial list
//! and after each watch event — a pod added, modified, deleted, a watch that
//! expires with 410 and the re-list that follows (which also reveals changes
//! no watch streamed), and a pod that relabeling drops.

use std::sync::Arc;
use std::time::Duration;

use sluice_ingest::IngestError;
use sluice_ingest::config::{GlobalConfig, ScrapeConfig};
use sluice_ingest::discovery::start_providers;
use sluice_ingest::manager::{ScrapeManager, TargetStatuses};
use sluice_ingest::publish::{Delivery, SampleWriter};
use sluice_model::TimeSeries;
use sluice_model::clock::SystemClock;
use tokio::sync::{mpsc, watch};

use crate::support::eventually;
use crate::support::k8s_api::K8sApi;

/// Scrapes go nowhere: this test is about which targets exist.
struct Discard;

impl SampleWriter for Discard {
    fn submit(&self, _series: Vec<TimeSeries>) -> Result<Delivery, IngestError> {
        Ok(Box::pin(async { Ok(()) }))
    }

    fn submit_metadata(&self, _: Vec<sluice_model::bus::PbMetricMetadata>) -> Result<Delivery, IngestError> {
        Ok(Box::pin(async { Ok(()) }))
    }
}

fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: http://127.0.0.1:{port}\n\
             contexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\n\
             current-context: fixture\nusers:\n- name: fixture\n  user: {{}}\n"
        ),
    )
    .unwrap();
    path
}

/// The usual Prometheus config for annotated pods.
fn scrape_config(kubeconfig: &std::path::Path) -> ScrapeConfig {
    serde_yaml::from_str(&format!(
        r#"
job_name: k8s-pods
scrape_interval: 1h
kubernetes_sd_configs:
  - role: pod
    kubeconfig_file: "{}"
relabel_configs:
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    action: keep
    regex: "true"
  - source_labels: [__meta_kubernetes_pod_container_port_name]
    action: keep
    regex: metrics
  - action: labelmap
    regex: __meta_kubernetes_pod_label_(.+)
  - source_labels: [__meta_kubernetes_namespace]
    target_label: namespace
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
"#,
        kubeconfig.display()
    ))
    .unwrap()
}

/// `pod → "label=value,..."` of every target, sorted.
fn targets(statuses: &TargetStatuses) -> Vec<(String, String)> {
    let map = statuses.read().unwrap();
    let mut out: Vec<(String, String)> = map
        .values()
        .map(|st| {
            let pod = st.target.labels.get("pod").unwrap_or_default().to_string();
            let labels: Vec<String> = st
                .target
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (pod, labels.join(","))
        })
        .collect();
    out.sort();
    out
}

fn web(pod: &str, ip: &str, canary: bool) -> (String, String) {
    let track = if canary { ",track=canary" } else { "" };
    (
        pod.to_string(),
        format!(
            "app=web,instance={ip}:9100,job=k8s-pods,namespace=shop,pod={pod},pod_template_hash=7d4b9c6f5{track}"
        ),
    )
}

async fn expect(statuses: &TargetStatuses, step: &str, want: Vec<(String, String)>) {
    let got = eventually(Duration::from_secs(20), step, || {
        let got = targets(statuses);
        let ok = got == want;
        async move { ok.then_some(got) }
    })
    .await;
    eprintln!(
        "k8s_sd: after {step}: {:?}",
        got.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
}

/// The job's discovery and scrape manager, running.
struct Discovery {
    statuses: TargetStatuses,
    stop: watch::Sender<bool>,
    running: tokio::task::JoinHandle<()>,
    _providers: tokio::task::JoinSet<()>,
}

impl Discovery {
    fn start(sc: ScrapeConfig) -> Discovery {
        let statuses = TargetStatuses::default();
        let (stop, shutdown) = watch::channel(false);
        let (updates, discovered) = mpsc::channel(16);
        let providers = start_providers(std::slice::from_ref(&sc), updates, shutdown.clone());
        let manager = ScrapeManager::new(
            GlobalConfig::default(),
            vec![sc],
            Arc::new(Discard),
            Arc::new(SystemClock),
            statuses.clone(),
        );
        Discovery {
            statuses,
            stop,
            running: tokio::spawn(manager.run(discovered, shutdown)),
            _providers: providers,
        }
    }
}

#[tokio::test]
async fn pod_targets_follow_list_watch_events_and_relist_after_410() {
    let api = K8sApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = scrape_config(&kubeconfig(dir.path(), api.port));
    let Discovery {
        statuses,
        stop,
        running,
        _providers,
    } = Discovery::start(sc);

    // The list: web-0 is annotated, db-0 is not (dropped by relabeling).
    expect(
        &statuses,
        "the initial list",
        vec![web("web-0", "127.0.0.11", false)],
    )
    .await;
    assert_eq!(api.lists(), 1);
    {
        let map = statuses.read().unwrap();
        let st = map.values().next().unwrap();
        assert_eq!(st.target.url, "http://127.0.0.11:9100/metrics");
        let d = &st.target.discovered_labels;
        for (name, value) in [
            ("__address__", "127.0.0.11:9100"),
            ("__meta_kubernetes_namespace", "shop"),
            ("__meta_kubernetes_pod_name", "web-0"),
            (
                "__meta_kubernetes_pod_uid",
                "0b7e5c1e-4a51-4f8e-9a38-1c2f3d4e5f60",
            ),
            ("__meta_kubernetes_pod_ip", "127.0.0.11"),
            ("__meta_kubernetes_pod_host_ip", "127.0.0.2"),
            ("__meta_kubernetes_pod_node_name", "node-a"),
            ("__meta_kubernetes_pod_ready", "true"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
            ("__meta_kubernetes_pod_controller_name", "web-7d4b9c6f5"),
            ("__meta_kubernetes_pod_label_app", "web"),
            ("__meta_kubernetes_pod_labelpresent_app", "true"),
            ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
            (
                "__meta_kubernetes_pod_annotationpresent_prometheus_io_port",
                "true",
            ),
            ("__meta_kubernetes_pod_container_name", "web"),
            (
                "__meta_kubernetes_pod_container_image",
                "registry.example/web:1.4.2",
            ),
            (
                "__meta_kubernetes_pod_container_id",
                "containerd://4a8f1e2b3c4d5e6f",
            ),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ("__meta_kubernetes_pod_container_port_number", "9100"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ("job", "k8s-pods"),
        ] {
            assert_eq!(d.get(name), Some(value), "discovered label {name} in {d}");
        }
    }

    api.stream("01-added-web-1.json");
    expect(
        &statuses,
        "ADDED web-1",
        vec![
            web("web-0", "127.0.0.11", false),
            web("web-1", "127.0.0.12", false),
        ],
    )
    .await;

    api.stream("02-modified-web-0.json");
    expect(
        &statuses,
        "MODIFIED web-0 (new label)",
        vec![
            web("web-0", "127.0.0.11", true),
            web("web-1", "127.0.0.12", false),
        ],
    )
    .await;

    api.stream("03-deleted-web-1.json");
    expect(&statuses, "DELETED web-1", vec![web("web-0", "127.0.0.11", true)]).await;

    // The watch expires; meanwhile web-2 appears and web-0 goes away. Only
    // the re-list after the 410 can tell.
    api.apply_unseen("05-added-web-2-while-expired.json");
    api.apply_unseen("06-deleted-web-0-while-expired.json");
    api.expire_watches("04-expired.json");
    expect(
        &statuses,
        "410 Expired and re-list",
        vec![web("web-2", "127.0.0.13", false)],
    )
    .await;
    assert_eq!(api.lists(), 2, "one initial list, one after the 410");

    // Watching resumes after the re-list: the annotation goes, and
    // relabeling drops the last target.
    api.stream("07-modified-web-2-unannotated.json");
    expect(&statuses, "MODIFIED web-2 (unannotated)", vec![]).await;

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("manager stops on shutdown")
        .unwrap();
}

/// Blackbox-style probing of annotated ingresses, as Prometheus users
/// configure it: the ingress URL becomes the `target` parameter, the
/// address a (here unreachable, loopback) prober.
fn ingress_scrape_config(kubeconfig: &std::path::Path) -> ScrapeConfig {
    serde_yaml::from_str(&format!(
        r#"
job_name: k8s-ingresses
scrape_interval: 1h
metrics_path: /probe
params: {{module: [http_2xx]}}
kubernetes_sd_configs:
  - role: ingress
    kubeconfig_file: "{}"
relabel_configs:
  - source_labels: [__meta_kubernetes_ingress_annotation_prometheus_io_probe]
    action: keep
    regex: "true"
  - source_labels: [__meta_kubernetes_ingress_scheme, __address__, __meta_kubernetes_ingress_path]
    regex: (.+);(.+);(.+)
    replacement: ${{1}}://${{2}}${{3}}
    target_label: __param_target
  - target_label: __address__
    replacement: 127.0.0.1:9
  - source_labels: [__param_target]
    target_label: instance
  - action: labelmap
    regex: __meta_kubernetes_ingress_label_(.+)
  - source_labels: [__meta_kubernetes_ingress_name]
    target_label: ingress
  - source_labels: [__meta_kubernetes_ingress_class_name]
    target_label: class
"#,
        kubeconfig.display()
    ))
    .unwrap()
}

fn probe(url: &str, ingress: &str, class: &str, extra: &str) -> (String, String) {
    (
        String::new(),
        format!("app={ingress},class={class},ingress={ingress},instance={url},job=k8s-ingresses{extra}"),
    )
}

#[tokio::test]
async fn ingress_targets_follow_list_and_watch_events() {
    let api = K8sApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = ingress_scrape_config(&kubeconfig(dir.path(), api.port));
    let Discovery {
        statuses,
        stop,
        running,
        _providers,
    } = Discovery::start(sc);
    let admin = |scheme: &str| {
        let url = format!("{scheme}://admin.shop.example/");
        let (p, l) = probe(&url, "admin", "internal", "");
        (p, format!("{l},tier=ops"))
    };
    let web = [
        probe("https://web.shop.example/", "web", "nginx", ""),
        probe("https://web.shop.example/api", "web", "nginx", ""),
        probe("https://www.shop.example/", "web", "nginx", ""),
    ];
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };

    // The list: `*.shop.example` makes web's hosts https; a rule without
    // `http` is probed at `/`.
    let mut want = web.to_vec();
    want.push(admin("http"));
    expect(&statuses, "the initial ingress list", sorted(want)).await;
    {
        let map = statuses.read().unwrap();
        let st = map
            .values()
            .find(|s| s.target.labels.get("instance") == Some("https://web.shop.example/api"))
            .unwrap();
        assert_eq!(
            st.target.url,
            "http://127.0.0.1:9/probe?module=http_2xx&target=https%3A%2F%2Fweb.shop.example%2Fapi"
        );
        let d = &st.target.discovered_labels;
        for (name, value) in [
            ("__address__", "web.shop.example"),
            ("__meta_kubernetes_namespace", "shop"),
            ("__meta_kubernetes_ingress_name", "web"),
            ("__meta_kubernetes_ingress_class_name", "nginx"),
            ("__meta_kubernetes_ingress_scheme", "https"),
            ("__meta_kubernetes_ingress_host", "web.shop.example"),
            ("__meta_kubernetes_ingress_path", "/api"),
            ("__meta_kubernetes_ingress_label_app", "web"),
            ("__meta_kubernetes_ingress_labelpresent_app", "true"),
            ("__meta_kubernetes_ingress_annotation_prometheus_io_probe", "true"),
            (
                "__meta_kubernetes_ingress_annotationpresent_nginx_ingress_kubernetes_io_ssl_redirect",
                "true",
            ),
        ] {
            assert_eq!(d.get(name), Some(value), "discovered label {name} in {d}");
        }
    }

    // ADDED: an empty path is probed at `/`.
    api.stream("08-added-ingress-shop-api.json");
    let mut want = web.to_vec();
    want.extend([
        admin("http"),
        probe("http://api.shop.example/v1", "shop-api", "nginx", ""),
        probe("http://api.shop.example/", "shop-api", "nginx", ""),
    ]);
    expect(&statuses, "ADDED shop-api", sorted(want)).await;

    // MODIFIED: admin gets a TLS entry for its host.
    api.stream("09-modified-ingress-admin-tls.json");
    let mut want = web.to_vec();
    want.extend([
        admin("https"),
        probe("http://api.shop.example/v1", "shop-api", "nginx", ""),
        probe("http://api.shop.example/", "shop-api", "nginx", ""),
    ]);
    expect(&statuses, "MODIFIED admin", sorted(want)).await;

    // DELETED: web's three targets go.
    api.stream("10-deleted-ingress-web.json");
    let want = vec![
        admin("https"),
        probe("http://api.shop.example/v1", "shop-api", "nginx", ""),
        probe("http://api.shop.example/", "shop-api", "nginx", ""),
    ];
    expect(&statuses, "DELETED web", sorted(want)).await;
    assert_eq!(api.lists(), 1);

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("manager stops on shutdown")
        .unwrap();
}
