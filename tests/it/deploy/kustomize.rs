//! A small Kustomize: enough of `kustomization.yaml` to render
//! `deploy/kubernetes` without `kubectl` (which the project cannot install
//! from its package registries): `resources` (files and directories),
//! `patches` (strategic-merge patch files), and `configMapGenerator` with
//! `disableNameSuffixHash`. Anything else in a kustomization is refused, so
//! the manifests cannot start using a feature this renderer would skip.
//! Where `kubectl` is installed, the test compares with `kubectl kustomize`.

use std::path::Path;

use serde_json::{Map, Value, json};

/// The objects `dir/kustomization.yaml` renders to, in input order.
pub(crate) fn render(dir: &Path) -> Vec<Value> {
    let k: Value = yaml_file(&dir.join("kustomization.yaml"))
        .pop()
        .unwrap_or_else(|| panic!("{}: empty kustomization", dir.display()));
    let known = [
        "apiVersion",
        "kind",
        "resources",
        "patches",
        "configMapGenerator",
        "generatorOptions",
    ];
    for key in k.as_object().expect("kustomization is a mapping").keys() {
        assert!(
            known.contains(&key.as_str()),
            "{}: unsupported key {key}",
            dir.display()
        );
    }
    let mut out = Vec::new();
    for r in k["resources"].as_array().into_iter().flatten() {
        let path = dir.join(r.as_str().expect("resource path"));
        if path.is_dir() {
            out.extend(render(&path));
        } else {
            out.extend(yaml_file(&path));
        }
    }
    if let Some(gens) = k["configMapGenerator"].as_array() {
        assert_eq!(
            k["generatorOptions"]["disableNameSuffixHash"],
            json!(true),
            "{}: name hashes are not implemented",
            dir.display()
        );
        for g in gens {
            generate_config_map(dir, g, &mut out);
        }
    }
    for p in k["patches"].as_array().into_iter().flatten() {
        let file = p["path"].as_str().expect("only `path:` patches are supported");
        for patch in yaml_file(&dir.join(file)) {
            let target = out
                .iter_mut()
                .find(|o| same_object(o, &patch))
                .unwrap_or_else(|| panic!("{file}: no object to patch"));
            merge(target, &patch, "");
        }
    }
    out
}

/// Every document of a YAML file, as JSON values.
pub(crate) fn yaml_file(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml_docs(&text)
}

/// Every non-empty document of a YAML stream.
pub(crate) fn yaml_docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn generate_config_map(dir: &Path, g: &Value, out: &mut Vec<Value>) {
    let mut data = Map::new();
    for f in g["files"].as_array().expect("configMapGenerator files") {
        let f = f.as_str().unwrap();
        let (key, file) = f.split_once('=').unwrap_or((f.rsplit('/').next().unwrap(), f));
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        data.insert(key.to_string(), Value::String(text));
    }
    let mut meta = json!({ "name": g["name"] });
    if let Some(ns) = g.get("namespace") {
        meta["namespace"] = ns.clone();
    }
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data});
    match g.get("behavior").and_then(Value::as_str).unwrap_or("create") {
        "create" => out.push(cm),
        "replace" => {
            let old = out
                .iter_mut()
                .find(|o| same_object(o, &cm))
                .expect("ConfigMap to replace");
            *old = cm;
        }
        other => panic!("configMapGenerator behavior {other} is not implemented"),
    }
}

/// Same kind, name and namespace.
fn same_object(a: &Value, b: &Value) -> bool {
    a["kind"] == b["kind"]
        && a["metadata"]["name"] == b["metadata"]["name"]
        && a["metadata"]["namespace"] == b["metadata"]["namespace"]
}

/// Strategic merge of `patch` into `target`: mappings merge, `null`
/// deletes, lists of objects merge by their Kubernetes merge key.
fn merge(target: &mut Value, patch: &Value, field: &str) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(old) = t.get_mut(k) {
                    merge(old, v, k);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (Value::Array(t), Value::Array(p)) => match merge_key(field, p) {
            // As kustomize orders them: the patch's items first (merged
            // into the target's item with the same key), then the rest.
            Some(key) => {
                let mut merged = Vec::new();
                for item in p {
                    match t.iter().position(|x| x[key] == item[key]) {
                        Some(i) => {
                            let mut old = t.remove(i);
                            merge(&mut old, item, "");
                            merged.push(old);
                        }
                        None => merged.push(item.clone()),
                    }
                }
                merged.append(t);
                *t = merged;
            }
            None => *t = p.clone(),
        },
        (t, p) => *t = p.clone(),
    }
}

/// The patch merge key of a list field (Kubernetes' `patchMergeKey`).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let key = match field {
        "volumeMounts" => "mountPath",
        "ports" if items.iter().all(|i| i.get("containerPort").is_some()) => "containerPort",
        "ports" => "port",
        "containers" | "initContainers" | "env" | "volumes" => "name",
        _ => return None,
    };
    items.iter().all(|i| i.get(key).is_some()).then_some(key)
}
