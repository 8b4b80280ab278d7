//! Role `endpoints`: one target per address and port of an Endpoints
//! object, with the labels of the service of the same name and of the pod
//! behind each address.

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};
use sluice_model::Labels;

use super::lookup::{ObjectLookup, add_pod_labels, add_service_labels, resolve_pod, uncovered_pod_ports};
use super::meta::{META, NAMESPACE, add_object_meta, join_host_port, object_key};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// `endpoints/<namespace>/<name>`
pub(crate) fn endpoints_source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// Whether any address of `eps` points at the pod `namespace/name`.
pub(crate) fn references_pod(eps: &Endpoints, namespace: &str, name: &str) -> bool {
    eps.subsets.iter().flatten().any(|ss| {
        ss.addresses
            .iter()
            .flatten()
            .chain(ss.not_ready_addresses.iter().flatten())
            .filter_map(|a| a.target_ref.as_ref())
            .any(|r| {
                r.kind.as_deref() == Some("Pod")
                    && r.namespace.as_deref() == Some(namespace)
                    && r.name.as_deref() == Some(name)
            })
    })
}

/// The target group of one Endpoints object.
pub(crate) fn build_endpoints_group(eps: &Endpoints, lookup: &dyn ObjectLookup) -> TargetGroup {
    let (ns, name) = object_key(&eps.metadata);
    let mut labels = Labels::new([(NAMESPACE, ns.as_str())]);
    add_service_labels(lookup, &mut labels, &ns, &name);
    add_object_meta(&mut labels, &eps.metadata, "endpoints");

    let mut targets = Vec::new();
    // Pods seen behind an address, with the ports already covered.
    let mut seen_pods: Vec<((String, String), Vec<i32>)> = Vec::new();
    let mut add = |addr: &EndpointAddress, port: &EndpointPort, ready: &str| {
        let mut t = Labels::new([
            (ADDRESS_LABEL.to_string(), join_host_port(&addr.ip, port.port)),
            (
                format!("{META}endpoint_port_name"),
                port.name.clone().unwrap_or_default(),
            ),
            (
                format!("{META}endpoint_port_protocol"),
                port.protocol.clone().unwrap_or_default(),
            ),
            (format!("{META}endpoint_ready"), ready.to_string()),
        ]);
        if let Some(r) = &addr.target_ref {
            t.set(
                &format!("{META}endpoint_address_target_kind"),
                r.kind.as_deref().unwrap_or_default(),
            );
            t.set(
                &format!("{META}endpoint_address_target_name"),
                r.name.as_deref().unwrap_or_default(),
            );
        }
        if let Some(node) = &addr.node_name {
            t.set(&format!("{META}endpoint_node_name"), node);
        }
        if let Some(host) = &addr.hostname {
            t.set(&format!("{META}endpoint_hostname"), host);
        }
        if let Some(pod) = resolve_pod(lookup, addr.target_ref.as_ref()) {
            let key = object_key(&pod.metadata);
            match seen_pods.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ports)) => ports.push(port.port),
                None => seen_pods.push((key, vec![port.port])),
            }
            add_pod_labels(&mut t, pod, Some(port.port));
        }
        targets.push(t);
    };
    for ss in eps.subsets.iter().flatten() {
        for port in ss.ports.iter().flatten() {
            for addr in ss.addresses.iter().flatten() {
                add(addr, port, "true");
            }
            // The same address again when it is also not ready: the target
            // is generated twice and the later one says ready=false.
            for addr in ss.not_ready_addresses.iter().flatten() {
                add(addr, port, "false");
            }
        }
    }
    for ((pns, pname), covered) in &seen_pods {
        if let Some(pod) = lookup.pod(pns, pname) {
            targets.extend(uncovered_pod_ports(pod, covered));
        }
    }
    TargetGroup {
        source: endpoints_source(&ns, &name),
        targets,
        labels,
    }
}

#[cfg(test)]
mod tests {
    //! Ported from Prometheus' `discovery/kubernetes/endpoints_test.go`.
    use k8s_openapi::api::core::v1::{Pod, Service};
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::lookup::test_support::Objects;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_endpoints(ns: &str) -> Endpoints {
        obj(json!({
            "metadata": {"name": "testendpoints", "namespace": ns,
                "annotations": {"test.annotation": "test"}},
            "subsets": [
                {"addresses": [{"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"}],
                 "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]},
                {"addresses": [{"ip": "2.3.4.5"}], "notReadyAddresses": [{"ip": "2.3.4.5"}],
                 "ports": [{"name": "testport", "port": 9001, "protocol": "TCP"}]},
                {"addresses": [{"ip": "6.7.8.9", "targetRef": {"kind": "Node", "name": "barbaz"}}],
                 "ports": [{"name": "testport", "port": 9002, "protocol": "TCP"}]}
            ]
        }))
    }

    fn expected_targets() -> Vec<Labels> {
        vec![
            ls(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_endpoint_hostname", "testendpoint1"),
                ("__meta_kubernetes_endpoint_node_name", "foobar"),
                ("__meta_kubernetes_endpoint_port_name", "testport"),
                ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
                ("__meta_kubernetes_endpoint_ready", "true"),
            ]),
            ls(&[
                ("__address__", "2.3.4.5:9001"),
                ("__meta_kubernetes_endpoint_port_name", "testport"),
                ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
                ("__meta_kubernetes_endpoint_ready", "true"),
            ]),
            ls(&[
                ("__address__", "2.3.4.5:9001"),
                ("__meta_kubernetes_endpoint_port_name", "testport"),
                ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
                ("__meta_kubernetes_endpoint_ready", "false"),
            ]),
            ls(&[
                ("__address__", "6.7.8.9:9002"),
                ("__meta_kubernetes_endpoint_address_target_kind", "Node"),
                ("__meta_kubernetes_endpoint_address_target_name", "barbaz"),
                ("__meta_kubernetes_endpoint_port_name", "testport"),
                ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
                ("__meta_kubernetes_endpoint_ready", "true"),
            ]),
        ]
    }

    #[test]
    fn endpoints_discovery_before_run() {
        let g = build_endpoints_group(&make_endpoints("default"), &Objects::default());
        assert_eq!(
            g,
            TargetGroup {
                source: "endpoints/default/testendpoints".into(),
                targets: expected_targets(),
                labels: ls(&[
                    ("__meta_kubernetes_namespace", "default"),
                    ("__meta_kubernetes_endpoints_name", "testendpoints"),
                    ("__meta_kubernetes_endpoints_annotation_test_annotation", "test"),
                    (
                        "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
                        "true"
                    ),
                ]),
            }
        );
    }

    #[test]
    fn endpoints_discovery_add_with_pod() {
        let pod: Pod = obj(json!({
            "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
            "spec": {"nodeName": "testnode", "containers": [
                {"name": "c1", "image": "c1:latest",
                 "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]},
                {"name": "c2", "image": "c2:latest",
                 "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "TCP"}]}]},
            "status": {"hostIP": "2.3.4.5", "podIP": "1.2.3.4"}
        }));
        let eps: Endpoints = obj(json!({
            "metadata": {"name": "testendpoints", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "4.3.2.1",
                "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}],
                "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}]}]
        }));
        let g = build_endpoints_group(&eps, &Objects::default().with_pod(pod));
        assert_eq!(
            g.targets,
            vec![
                ls(&[
                    ("__address__", "4.3.2.1:9000"),
                    ("__meta_kubernetes_endpoint_port_name", "testport"),
                    ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
                    ("__meta_kubernetes_endpoint_ready", "true"),
                    ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
                    ("__meta_kubernetes_endpoint_address_target_name", "testpod"),
                    ("__meta_kubernetes_pod_name", "testpod"),
                    ("__meta_kubernetes_pod_ip", "1.2.3.4"),
                    ("__meta_kubernetes_pod_ready", "unknown"),
                    ("__meta_kubernetes_pod_phase", ""),
                    ("__meta_kubernetes_pod_node_name", "testnode"),
                    ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
                    ("__meta_kubernetes_pod_container_name", "c1"),
                    ("__meta_kubernetes_pod_container_image", "c1:latest"),
                    ("__meta_kubernetes_pod_container_port_name", "mainport"),
                    ("__meta_kubernetes_pod_container_port_number", "9000"),
                    ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
                    ("__meta_kubernetes_pod_uid", "deadbeef"),
                    ("__meta_kubernetes_pod_container_init", "false"),
                ]),
                ls(&[
                    ("__address__", "1.2.3.4:9001"),
                    ("__meta_kubernetes_pod_name", "testpod"),
                    ("__meta_kubernetes_pod_ip", "1.2.3.4"),
                    ("__meta_kubernetes_pod_ready", "unknown"),
                    ("__meta_kubernetes_pod_phase", ""),
                    ("__meta_kubernetes_pod_node_name", "testnode"),
                    ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
                    ("__meta_kubernetes_pod_container_name", "c2"),
                    ("__meta_kubernetes_pod_container_image", "c2:latest"),
                    ("__meta_kubernetes_pod_container_port_name", "sideport"),
                    ("__meta_kubernetes_pod_container_port_number", "9001"),
                    ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
                    ("__meta_kubernetes_pod_uid", "deadbeef"),
                    ("__meta_kubernetes_pod_container_init", "false"),
                ]),
            ]
        );
        assert_eq!(
            g.labels,
            ls(&[
                ("__meta_kubernetes_endpoints_name", "testendpoints"),
                ("__meta_kubernetes_namespace", "default"),
            ])
        );
        assert!(references_pod(&eps, "default", "testpod"));
        assert!(!references_pod(&eps, "other", "testpod"));
    }

    #[test]
    fn endpoints_discovery_empty_subsets() {
        let eps: Endpoints = obj(json!({
            "metadata": {"name": "testendpoints", "namespace": "default"}, "subsets": []
        }));
        let g = build_endpoints_group(&eps, &Objects::default());
        assert!(g.targets.is_empty());
        assert_eq!(
            g.labels,
            ls(&[
                ("__meta_kubernetes_namespace", "default"),
                ("__meta_kubernetes_endpoints_name", "testendpoints"),
            ])
        );
    }

    #[test]
    fn endpoints_discovery_with_service() {
        let svc: Service = obj(json!({
            "metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}
        }));
        let g = build_endpoints_group(&make_endpoints("default"), &Objects::default().with_service(svc));
        assert_eq!(g.targets, expected_targets());
        assert_eq!(
            g.labels,
            ls(&[
                ("__meta_kubernetes_namespace", "default"),
                ("__meta_kubernetes_endpoints_name", "testendpoints"),
                ("__meta_kubernetes_service_label_app_name", "test"),
                ("__meta_kubernetes_service_labelpresent_app_name", "true"),
                ("__meta_kubernetes_service_name", "testendpoints"),
                ("__meta_kubernetes_endpoints_annotation_test_annotation", "test"),
                (
                    "__meta_kubernetes_endpoints_annotationpresent_test_annotation",
                    "true"
                ),
            ])
        );
    }
}
