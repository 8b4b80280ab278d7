//! `deploy/kubernetes`: the base and every overlay render (with the small
//! Kustomize beside this file; compared with `kubectl kustomize` where it is
//! installed), every object parses strictly into its k8s-openapi type, the
//! config in the ConfigMap loads with `sluice check config`, and the
//! objects fit together (shard counts, probes on the roles' ports, PDBs,
//! RBAC for Kubernetes SD). The renderings are kept in
//! `deploy/kubernetes/rendered/` (regenerate with `SLUICE_RENDER_UPDATE=1`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::kustomize::{render, yaml_docs, yaml_file};
use crate::support::sluice::binary;

fn kubernetes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// Deserializes into `T` and back: anything the type does not know (an
/// unknown or misspelt field, a wrong type) makes the two differ.
fn strict<T: DeserializeOwned + Serialize>(v: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back != v {
        return Err(format!("fields lost in the round trip: {}", diff(v, &back, "")));
    }
    Ok(typed)
}

/// The first path where `a` and `b` differ.
fn diff(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return format!("{path}.{k} (unknown field)"),
                    Some(w) if w != v => return diff(v, w, &format!("{path}.{k}")),
                    _ => {}
                }
            }
            format!("{path} (extra fields)")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find(|(_, (v, w))| v != w)
            .map(|(i, (v, w))| diff(v, w, &format!("{path}[{i}]")))
            .unwrap_or_default(),
        _ => format!("{path}: {a} became {b}"),
    }
}

/// The typed objects of one rendering.
#[derive(Default)]
struct Objects {
    config_maps: Vec<ConfigMap>,
    services: Vec<Service>,
    stateful_sets: Vec<StatefulSet>,
    deployments: Vec<Deployment>,
    daemon_sets: Vec<DaemonSet>,
    pdbs: Vec<PodDisruptionBudget>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    accounts: Vec<ServiceAccount>,
}

fn parse_all(docs: &[Value]) -> Objects {
    let mut o = Objects::default();
    let mut errors = Vec::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or("?");
        let id = format!("{kind} {}", d["metadata"]["name"]);
        let r = match kind {
            "Namespace" => strict::<Namespace>(d).map(drop),
            "ServiceAccount" => strict(d).map(|x| o.accounts.push(x)),
            "ClusterRole" => strict(d).map(|x| o.cluster_roles.push(x)),
            "ClusterRoleBinding" => strict(d).map(|x| o.bindings.push(x)),
            "ConfigMap" => strict(d).map(|x| o.config_maps.push(x)),
            "Service" => strict(d).map(|x| o.services.push(x)),
            "StatefulSet" => strict(d).map(|x| o.stateful_sets.push(x)),
            "Deployment" => strict(d).map(|x| o.deployments.push(x)),
            "DaemonSet" => strict(d).map(|x| o.daemon_sets.push(x)),
            "PodDisruptionBudget" => strict(d).map(|x| o.pdbs.push(x)),
            _ => Err("kind not covered by this test".into()),
        };
        if let Err(e) = r {
            errors.push(format!("{id}: {e}"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    o
}

#[test]
fn deploy_strict_parsing_rejects_unknown_fields() {
    let good = yaml_docs("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n");
    assert!(strict::<Service>(&good[0]).is_ok());
    let bad = yaml_docs("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {port: [{port: 80}]}\n");
    let err = strict::<Service>(&bad[0]).unwrap_err();
    assert!(err.contains(".spec.port (unknown field)"), "{err}");
    let typo = yaml_docs("apiVersion: v1\nkind: Service\nmetadata: {name: s, lables: {a: b}}\n");
    assert!(
        strict::<Service>(&typo[0])
            .unwrap_err()
            .contains(".metadata.lables")
    );
}

/// Port of `host:port` of a config listen address.
fn listen_port(cfg: &Value, section: &str, key: &str) -> i32 {
    let listen = cfg[section][key]
        .as_str()
        .unwrap_or_else(|| panic!("{section}.{key}"));
    listen.rsplit(':').next().unwrap().parse().unwrap()
}

/// Checks the config and how the workloads use it; returns one line per
/// workload for the validation report.
fn check(name: &str, o: &Objects, scratch: &Path) -> Vec<String> {
    let mut report = Vec::new();
    // The config: Sluice's own loader must accept it.
    let cm = o
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("sluice-config"))
        .expect("ConfigMap sluice-config");
    let text = &cm.data.as_ref().unwrap()["sluice.yml"];
    let file = scratch.join(format!("{name}-sluice.yml"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(binary())
        .args(["check", "config"])
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}: sluice check config: {said}");
    report.push("ConfigMap sluice-config: `sluice check config` says the config is valid".to_string());
    let cfg: Value = yaml_docs(text).remove(0);
    let partitions = cfg["kafka"]["partitions"].as_i64().unwrap() as i32;

    // Workloads: (kind, name, replicas, pod template).
    let mut workloads = Vec::new();
    for s in &o.stateful_sets {
        let spec = s.spec.as_ref().unwrap();
        workloads.push((
            "StatefulSet",
            s.metadata.name.clone().unwrap(),
            spec.replicas,
            spec.template.clone(),
        ));
    }
    for d in &o.deployments {
        let spec = d.spec.as_ref().unwrap();
        workloads.push((
            "Deployment",
            d.metadata.name.clone().unwrap(),
            spec.replicas,
            spec.template.clone(),
        ));
    }
    for d in &o.daemon_sets {
        let spec = d.spec.as_ref().unwrap();
        workloads.push((
            "DaemonSet",
            d.metadata.name.clone().unwrap(),
            None,
            spec.template.clone(),
        ));
    }
    for (kind, wname, replicas, template) in &workloads {
        let pod = template.spec.as_ref().unwrap();
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let mut line = format!("{kind} {wname}:");
        if let Some(r) = replicas {
            line += &format!(" replicas {r},");
        }
        for c in &pod.containers {
            let ports: BTreeMap<String, i32> = c
                .ports
                .iter()
                .flatten()
                .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
                .collect();
            let requests = c
                .resources
                .as_ref()
                .and_then(|r| r.requests.clone())
                .unwrap_or_default();
            assert!(
                requests.contains_key("cpu") && requests.contains_key("memory"),
                "{wname}/{}: cpu and memory requests",
                c.name
            );
            let probe_port = |p: &Option<k8s_openapi::api::core::v1::Probe>, path: &str| -> i32 {
                let get = p
                    .as_ref()
                    .and_then(|p| p.http_get.clone())
                    .unwrap_or_else(|| panic!("{wname}/{}: HTTP probe", c.name));
                if c.name == "sluice" {
                    assert_eq!(get.path.as_deref(), Some(path), "{wname}: probe path");
                }
                match get.port {
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n) => *ports
                        .get(&n)
                        .unwrap_or_else(|| panic!("{wname}: probe port {n} is not a container port")),
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n,
                }
            };
            let ready = probe_port(&c.readiness_probe, "/-/ready");
            let live = probe_port(&c.liveness_probe, "/-/healthy");
            assert_eq!(ready, live, "{wname}: both probes on one port");
            if c.name != "sluice" {
                line += &format!(" {} probes on :{ready}, requests {}", c.name, show(&requests));
                continue;
            }
            let args = c.args.clone().unwrap_or_default();
            let role = args[0].as_str();
            assert_eq!(
                &args[1..],
                ["--config", "/etc/sluice/sluice.yml"],
                "{wname}: args"
            );
            let (section, key) = match role {
                "scrape" => ("receive", "listen"),
                "sink" => ("health", "sink_listen"),
                "process" => ("health", "process_listen"),
                "query" => ("query", "listen"),
                other => panic!("{wname}: role {other}"),
            };
            assert_eq!(
                ready,
                listen_port(&cfg, section, key),
                "{wname}: probes on {section}.{key}"
            );
            line += &format!(" role {role}, probes /-/ready and /-/healthy on :{ready} ({section}.{key}),");
            let env: BTreeMap<String, &k8s_openapi::api::core::v1::EnvVar> =
                c.env.iter().flatten().map(|e| (e.name.clone(), e)).collect();
            if matches!(role, "scrape" | "sink" | "process") {
                assert_eq!(*kind, "StatefulSet", "{wname}: a sharded role needs ordinals");
                let shard = env.get("SLUICE_SHARD").expect("SLUICE_SHARD");
                let from = shard.value_from.as_ref().and_then(|v| v.field_ref.as_ref());
                assert_eq!(
                    from.map(|f| f.field_path.as_str()),
                    Some("metadata.name"),
                    "{wname}"
                );
                let count: i32 = env["SLUICE_SHARD_COUNT"]
                    .value
                    .as_deref()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(
                    Some(count),
                    *replicas,
                    "{wname}: SLUICE_SHARD_COUNT must equal replicas"
                );
                if role != "scrape" {
                    assert!(
                        count <= partitions,
                        "{wname}: {count} shards > {partitions} partitions"
                    );
                }
                line += &format!(" shard from pod name, SLUICE_SHARD_COUNT {count},");
            }
            let secret = c.env_from.iter().flatten().find_map(|e| e.secret_ref.as_ref());
            if matches!(role, "sink" | "query") {
                assert_eq!(
                    secret.map(|s| s.name.as_str()),
                    Some("sluice-object-store"),
                    "{wname}"
                );
                line += " AWS_* from Secret sluice-object-store,";
            }
            let config_volume = pod.volumes.iter().flatten().find_map(|v| v.config_map.as_ref());
            assert_eq!(
                config_volume.map(|c| c.name.as_str()),
                Some("sluice-config"),
                "{wname}"
            );
            line += &format!(" requests {}", show(&requests));
        }
        // Every Sluice workload has a PDB selecting exactly its pods.
        if labels.get("app.kubernetes.io/name").map(String::as_str) == Some("sluice") {
            let pdb = o
                .pdbs
                .iter()
                .find(|p| {
                    let sel = p
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.as_ref())
                        .and_then(|s| s.match_labels.clone());
                    sel.is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
                })
                .unwrap_or_else(|| panic!("{wname}: no PodDisruptionBudget"));
            line += &format!(", PDB {}", pdb.metadata.name.as_deref().unwrap());
            let other = workloads.iter().filter(|(_, n, _, t)| {
                let l = t
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                n != wname
                    && pdb
                        .spec
                        .as_ref()
                        .unwrap()
                        .selector
                        .as_ref()
                        .unwrap()
                        .match_labels
                        .as_ref()
                        .unwrap()
                        .iter()
                        .all(|(k, v)| l.get(k) == Some(v))
            });
            assert_eq!(other.count(), 0, "{wname}: its PDB selects other pods too");
        }
        report.push(line);
    }
    // Services select pods and name their ports.
    for s in &o.services {
        let spec = s.spec.as_ref().unwrap();
        let sel = spec.selector.clone().unwrap();
        let (_, wname, _, t) = workloads
            .iter()
            .find(|(_, _, _, t)| {
                let l = t
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                sel.iter().all(|(k, v)| l.get(k) == Some(v))
            })
            .unwrap_or_else(|| panic!("Service {:?} selects no pods", s.metadata.name));
        let names: Vec<String> = t.spec.as_ref().unwrap().containers[0]
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.name.clone())
            .collect();
        for p in spec.ports.iter().flatten() {
            if let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(n)) = &p.target_port
            {
                assert!(
                    names.contains(n),
                    "Service {:?}: port {n} not on {wname}",
                    s.metadata.name
                );
            }
        }
    }
    // Kubernetes SD: the scrape pods' account may get/list/watch what SD reads.
    let scrape = o
        .stateful_sets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("sluice-scrape"))
        .unwrap();
    let sa = scrape
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .service_account_name
        .clone()
        .unwrap();
    assert!(
        o.accounts
            .iter()
            .any(|a| a.metadata.name.as_deref() == Some(sa.as_str()))
    );
    let binding = o
        .bindings
        .iter()
        .find(|b| {
            b.subjects
                .iter()
                .flatten()
                .any(|s| s.kind == "ServiceAccount" && s.name == sa)
        })
        .expect("a binding for the scrape account");
    let role = o
        .cluster_roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(binding.role_ref.name.as_str()))
        .unwrap();
    for (group, resource) in [
        ("", "nodes"),
        ("", "pods"),
        ("", "services"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
    ] {
        let ok = role.rules.iter().flatten().any(|r| {
            r.api_groups.iter().flatten().any(|g| g == group)
                && r.resources.iter().flatten().any(|x| x == resource)
                && ["get", "list", "watch"]
                    .iter()
                    .all(|v| r.verbs.iter().any(|x| x == v))
        });
        assert!(
            ok,
            "ClusterRole {:?} lacks get/list/watch on {resource}",
            role.metadata.name
        );
    }
    report.push(format!("ClusterRole {}: get/list/watch on nodes, pods, services, endpoints, endpointslices for ServiceAccount {sa}", binding.role_ref.name));
    report
}

/// `cpu 200m, memory 256Mi`
fn show(requests: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> String {
    requests
        .iter()
        .map(|(k, q)| format!("{k} {}", q.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stable key for comparing renderings as sets.
fn keyed(docs: &[Value]) -> BTreeMap<String, Value> {
    docs.iter()
        .map(|d| {
            (
                format!(
                    "{}/{}/{}",
                    d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]
                ),
                d.clone(),
            )
        })
        .collect()
}

#[test]
fn deploy_manifests_render_parse_and_fit_together() {
    let root = kubernetes_dir();
    let scratch = tempfile::tempdir().unwrap();
    let update = std::env::var_os("SLUICE_RENDER_UPDATE").is_some();
    let kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut targets = vec![("base".to_string(), root.join("base"))];
    let mut overlays: Vec<_> = std::fs::read_dir(root.join("overlays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    overlays.sort();
    targets.extend(
        overlays
            .into_iter()
            .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), p)),
    );
    for (name, dir) in targets {
        let docs = render(&dir);
        let rendered = docs
            .iter()
            .map(|d| serde_yaml::to_string(d).unwrap())
            .collect::<Vec<_>>()
            .join("---\n");
        let file = root.join("rendered").join(format!("{name}.yaml"));
        if update {
            std::fs::write(&file, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == rendered,
            "{} is stale: rerun with SLUICE_RENDER_UPDATE=1",
            file.display()
        );
        assert_eq!(yaml_file(&file), docs);
        if kubectl {
            let out = Command::new("kubectl")
                .arg("kustomize")
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "kubectl kustomize {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs = yaml_docs(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(
                keyed(&theirs),
                keyed(&docs),
                "{name}: differs from kubectl kustomize"
            );
        }
        let objects = parse_all(&docs);
        let report = check(&name, &objects, scratch.path());
        eprintln!(
            "== {name}: {} objects rendered{}, all parsed strictly into k8s-openapi types",
            docs.len(),
            if kubectl {
                ", identical to kubectl kustomize"
            } else {
                " (kubectl not installed: not compared)"
            }
        );
        for line in report {
            eprintln!("   {line}");
        }
    }
}

#[test]
fn deploy_cluster_config_carries_the_pack_scrape_jobs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cluster = yaml_file(&root.join("deploy/kubernetes/base/sluice.yml")).remove(0);
    let pack = yaml_file(&root.join("deploy/packs/kubernetes-network/scrape.yml")).remove(0);
    assert_eq!(cluster["global"], pack["global"]);
    assert_eq!(cluster["scrape_configs"], pack["scrape_configs"]);
}
