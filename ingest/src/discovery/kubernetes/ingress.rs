//! Role `ingress`: one target per rule host and path of an Ingress
//! (`networking.k8s.io/v1`), as Prometheus' `discovery/kubernetes/ingress.go`.

use k8s_openapi::api::networking::v1::Ingress;
use sluice_model::Labels;

use super::meta::{META, NAMESPACE, add_object_meta, object_key};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// `ingress/<namespace>/<name>`
pub(crate) fn ingress_source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

/// The target group of one ingress: per rule, one target per HTTP path
/// (`/` for a rule without paths or an empty path), at the rule's host,
/// with scheme `https` when a TLS entry's host pattern matches it.
pub(crate) fn build_ingress_group(ingress: &Ingress) -> TargetGroup {
    let (ns, name) = object_key(&ingress.metadata);
    let spec = ingress.spec.as_ref();
    let mut labels = Labels::default();
    labels.set(NAMESPACE, &ns);
    add_object_meta(&mut labels, &ingress.metadata, "ingress");
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.as_ref()) {
        labels.set(&format!("{META}ingress_class_name"), class);
    }
    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten())
        .map(String::as_str)
        .collect();
    let mut targets = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.as_deref().unwrap_or_default();
        let scheme = if tls_hosts.iter().any(|p| matches_host_pattern(p, host)) {
            "https"
        } else {
            "http"
        };
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http
                .paths
                .iter()
                .map(|p| p.path.as_deref().filter(|p| !p.is_empty()).unwrap_or("/"))
                .collect(),
        };
        for path in paths {
            targets.push(Labels::new([
                (ADDRESS_LABEL.to_string(), host.to_string()),
                (format!("{META}ingress_scheme"), scheme.to_string()),
                (format!("{META}ingress_host"), host.to_string()),
                (format!("{META}ingress_path"), path.to_string()),
            ]));
        }
    }
    TargetGroup {
        source: ingress_source(&ns, &name),
        targets,
        labels,
    }
}

/// A TLS host entry covers `host` when equal, or when it is a wildcard
/// `*.rest` and `host` has the same number of labels with the same `rest`.
fn matches_host_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let (p, h): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    p.first() == Some(&"*") && p.len() == h.len() && p[1..] == h[1..]
}

#[cfg(test)]
mod tests {
    //! Cases from Prometheus' `discovery/kubernetes/ingress_test.go`.
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_ingress(tls: serde_json::Value) -> Ingress {
        obj(json!({
            "metadata": {"name": "testingress", "namespace": "default",
                "labels": {"test/label": "testvalue"},
                "annotations": {"test/annotation": "testannotationvalue"}},
            "spec": {
                "ingressClassName": "testclass",
                "tls": tls,
                "rules": [
                    {"host": "example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}},
                        {"path": "/foo", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}},
                    {"host": "test.example.com", "http": {"paths": [
                        {"pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}},
                    {"host": "nopaths.example.com"}
                ]
            }
        }))
    }

    fn target(host: &str, scheme: &str, path: &str) -> Labels {
        ls(&[
            ("__address__", host),
            ("__meta_kubernetes_ingress_scheme", scheme),
            ("__meta_kubernetes_ingress_host", host),
            ("__meta_kubernetes_ingress_path", path),
        ])
    }

    fn group_labels() -> Labels {
        ls(&[
            ("__meta_kubernetes_ingress_name", "testingress"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_ingress_label_test_label", "testvalue"),
            ("__meta_kubernetes_ingress_labelpresent_test_label", "true"),
            (
                "__meta_kubernetes_ingress_annotation_test_annotation",
                "testannotationvalue",
            ),
            (
                "__meta_kubernetes_ingress_annotationpresent_test_annotation",
                "true",
            ),
            ("__meta_kubernetes_ingress_class_name", "testclass"),
        ])
    }

    #[test]
    fn targets_per_host_and_path_with_scheme_from_tls() {
        let cases = [
            (json!(null), ["http", "http", "http"]),
            (
                json!([{"hosts": ["example.com", "test.example.com"]}]),
                ["https", "https", "http"],
            ),
            (json!([{"hosts": ["*.example.com"]}]), ["http", "https", "https"]),
        ];
        for (tls, [a, b, c]) in cases {
            let group = build_ingress_group(&make_ingress(tls.clone()));
            assert_eq!(
                group,
                TargetGroup {
                    source: "ingress/default/testingress".into(),
                    targets: vec![
                        target("example.com", a, "/"),
                        target("example.com", a, "/foo"),
                        target("test.example.com", b, "/"),
                        target("nopaths.example.com", c, "/"),
                    ],
                    labels: group_labels(),
                },
                "tls {tls}"
            );
        }
    }

    #[test]
    fn wildcards_match_one_label_only() {
        assert!(matches_host_pattern("*.example.com", "a.example.com"));
        assert!(!matches_host_pattern("*.example.com", "a.b.example.com"));
        assert!(!matches_host_pattern("*.example.com", "example.com"));
        assert!(!matches_host_pattern("a.*.com", "a.b.com"));
    }
}
