//! Role `endpointslice`: one target per address and port of a
//! `discovery.k8s.io/v1` EndpointSlice, with the labels of its service (the
//! `kubernetes.io/service-name` label) and of the pod behind each endpoint.

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use sluice_model::Labels;

use super::lookup::{ObjectLookup, add_pod_labels, add_service_labels, resolve_pod, uncovered_pod_ports};
use super::meta::{META, NAMESPACE, PRESENT, add_object_meta, join_host_port, object_key, sanitize};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// The label naming the service an EndpointSlice belongs to.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `endpointslice/<namespace>/<name>`
pub(crate) fn endpointslice_source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The service the slice belongs to, if labeled.
pub(crate) fn service_name(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)
        .map(String::as_str)
}

/// Whether any endpoint of the slice points at the pod `namespace/name`.
pub(crate) fn references_pod(slice: &EndpointSlice, namespace: &str, name: &str) -> bool {
    slice
        .endpoints
        .iter()
        .filter_map(|e| e.target_ref.as_ref())
        .any(|r| {
            r.kind.as_deref() == Some("Pod")
                && r.namespace.as_deref() == Some(namespace)
                && r.name.as_deref() == Some(name)
        })
}

fn endpoint_target(addr: &str, ep: &Endpoint, port: &EndpointPort) -> Labels {
    let address = match port.port {
        Some(p) => join_host_port(addr, p),
        None => addr.to_string(),
    };
    let mut t = Labels::new([(ADDRESS_LABEL, address)]);
    let mut set_opt = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            t.set(&format!("{META}endpointslice_{name}"), &v);
        }
    };
    set_opt("port_name", port.name.clone());
    set_opt("port_protocol", port.protocol.clone());
    set_opt("port", port.port.map(|p| p.to_string()));
    set_opt("port_app_protocol", port.app_protocol.clone());
    let cond = ep.conditions.as_ref();
    set_opt(
        "endpoint_conditions_ready",
        cond.and_then(|c| c.ready).map(|b| b.to_string()),
    );
    set_opt(
        "endpoint_conditions_serving",
        cond.and_then(|c| c.serving).map(|b| b.to_string()),
    );
    set_opt(
        "endpoint_conditions_terminating",
        cond.and_then(|c| c.terminating).map(|b| b.to_string()),
    );
    set_opt("endpoint_hostname", ep.hostname.clone());
    set_opt(
        "address_target_kind",
        ep.target_ref.as_ref().map(|r| r.kind.clone().unwrap_or_default()),
    );
    set_opt(
        "address_target_name",
        ep.target_ref.as_ref().map(|r| r.name.clone().unwrap_or_default()),
    );
    set_opt("endpoint_node_name", ep.node_name.clone());
    set_opt("endpoint_zone", ep.zone.clone());
    for (k, v) in ep.deprecated_topology.iter().flatten() {
        let name = sanitize(k);
        t.set(&format!("{META}endpointslice_endpoint_topology_{name}"), v);
        t.set(
            &format!("{META}endpointslice_endpoint_topology_present_{name}"),
            PRESENT,
        );
    }
    t
}

/// The target group of one EndpointSlice.
pub(crate) fn build_endpointslice_group(slice: &EndpointSlice, lookup: &dyn ObjectLookup) -> TargetGroup {
    let (ns, name) = object_key(&slice.metadata);
    let mut labels = Labels::new([
        (NAMESPACE.to_string(), ns.clone()),
        (
            format!("{META}endpointslice_address_type"),
            slice.address_type.clone(),
        ),
    ]);
    add_object_meta(&mut labels, &slice.metadata, "endpointslice");
    if let Some(svc) = service_name(slice) {
        add_service_labels(lookup, &mut labels, &ns, svc);
    }

    let mut targets = Vec::new();
    let mut seen_pods: Vec<((String, String), Vec<i32>)> = Vec::new();
    for ep in &slice.endpoints {
        for port in slice.ports.iter().flatten() {
            for addr in &ep.addresses {
                let mut t = endpoint_target(addr, ep, port);
                if let Some(pod) = resolve_pod(lookup, ep.target_ref.as_ref()) {
                    let key = object_key(&pod.metadata);
                    let covered = port.port.into_iter();
                    match seen_pods.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, ports)) => ports.extend(covered),
                        None => seen_pods.push((key, covered.collect())),
                    }
                    add_pod_labels(&mut t, pod, port.port);
                }
                targets.push(t);
            }
        }
    }
    for ((pns, pname), covered) in &seen_pods {
        if let Some(pod) = lookup.pod(pns, pname) {
            targets.extend(uncovered_pod_ports(pod, covered));
        }
    }
    TargetGroup {
        source: endpointslice_source(&ns, &name),
        targets,
        labels,
    }
}

#[cfg(test)]
mod tests {
    //! Ported from Prometheus' `discovery/kubernetes/endpointslice_test.go`.
    use k8s_openapi::api::core::v1::{Pod, Service};
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::lookup::test_support::Objects;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_endpoint_slice(ns: &str) -> EndpointSlice {
        obj(json!({
            "metadata": {"name": "testendpoints", "namespace": ns,
                "labels": {"kubernetes.io/service-name": "testendpoints"},
                "annotations": {"test.annotation": "test"}},
            "addressType": "IPv4",
            "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}],
            "endpoints": [
                {"addresses": ["1.2.3.4"],
                 "conditions": {"ready": true, "serving": true, "terminating": false},
                 "hostname": "testendpoint1", "targetRef": {}, "nodeName": "foobar",
                 "deprecatedTopology": {"topology": "value"}, "zone": "us-east-1a"},
                {"addresses": ["2.3.4.5"],
                 "conditions": {"ready": true, "serving": true, "terminating": false}, "zone": "us-east-1b"},
                {"addresses": ["3.4.5.6"],
                 "conditions": {"ready": false, "serving": true, "terminating": true}, "zone": "us-east-1c"},
                {"addresses": ["4.5.6.7"],
                 "conditions": {"ready": true, "serving": true, "terminating": false},
                 "targetRef": {"kind": "Node", "name": "barbaz"}, "zone": "us-east-1a"}
            ]
        }))
    }

    fn common(extra: &[(&'static str, &'static str)]) -> Labels {
        let mut pairs = vec![
            ("__meta_kubernetes_endpointslice_port", "9000"),
            ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
            ("__meta_kubernetes_endpointslice_port_name", "testport"),
            ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ];
        pairs.extend_from_slice(extra);
        ls(&pairs)
    }

    fn expected_targets() -> Vec<Labels> {
        vec![
            common(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_endpointslice_address_target_kind", ""),
                ("__meta_kubernetes_endpointslice_address_target_name", ""),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_hostname",
                    "testendpoint1",
                ),
                ("__meta_kubernetes_endpointslice_endpoint_node_name", "foobar"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_present_topology",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_topology_topology",
                    "value",
                ),
                ("__meta_kubernetes_endpointslice_endpoint_zone", "us-east-1a"),
            ]),
            common(&[
                ("__address__", "2.3.4.5:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false",
                ),
                ("__meta_kubernetes_endpointslice_endpoint_zone", "us-east-1b"),
            ]),
            common(&[
                ("__address__", "3.4.5.6:9000"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "false",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "true",
                ),
                ("__meta_kubernetes_endpointslice_endpoint_zone", "us-east-1c"),
            ]),
            common(&[
                ("__address__", "4.5.6.7:9000"),
                ("__meta_kubernetes_endpointslice_address_target_kind", "Node"),
                ("__meta_kubernetes_endpointslice_address_target_name", "barbaz"),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
                    "true",
                ),
                (
                    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
                    "false",
                ),
                ("__meta_kubernetes_endpointslice_endpoint_zone", "us-east-1a"),
            ]),
        ]
    }

    fn expected_labels() -> Labels {
        ls(&[
            ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_endpointslice_name", "testendpoints"),
            (
                "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
                "testendpoints",
            ),
            (
                "__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name",
                "true",
            ),
            (
                "__meta_kubernetes_endpointslice_annotation_test_annotation",
                "test",
            ),
            (
                "__meta_kubernetes_endpointslice_annotationpresent_test_annotation",
                "true",
            ),
        ])
    }

    #[test]
    fn endpointslice_discovery_before_run() {
        let g = build_endpointslice_group(&make_endpoint_slice("default"), &Objects::default());
        assert_eq!(
            g,
            TargetGroup {
                source: "endpointslice/default/testendpoints".into(),
                targets: expected_targets(),
                labels: expected_labels(),
            }
        );
    }

    #[test]
    fn endpointslice_discovery_update_drops_endpoints_and_metadata() {
        let mut slice = make_endpoint_slice("default");
        slice.metadata.labels = None;
        slice.metadata.annotations = None;
        slice.endpoints.truncate(2);
        let g = build_endpointslice_group(&slice, &Objects::default());
        assert_eq!(g.targets, expected_targets()[..2].to_vec());
        assert_eq!(
            g.labels,
            ls(&[
                ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
                ("__meta_kubernetes_endpointslice_name", "testendpoints"),
                ("__meta_kubernetes_namespace", "default"),
            ])
        );
    }

    #[test]
    fn endpointslice_discovery_add_with_pod() {
        let pod: Pod = obj(json!({
            "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
            "spec": {"nodeName": "testnode", "containers": [
                {"name": "c1", "image": "c1:latest",
                 "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "TCP"}]},
                {"name": "c2", "image": "c2:latest",
                 "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "TCP"}]}]},
            "status": {"hostIP": "2.3.4.5", "podIP": "1.2.3.4"}
        }));
        let slice: EndpointSlice = obj(json!({
            "metadata": {"name": "testendpoints", "namespace": "default"},
            "addressType": "IPv4",
            "ports": [{"name": "testport", "port": 9000, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["4.3.2.1"],
                "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"},
                "conditions": {"ready": false}}]
        }));
        let g = build_endpointslice_group(&slice, &Objects::default().with_pod(pod));
        let pod_common = [
            ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
            ("__meta_kubernetes_pod_ip", "1.2.3.4"),
            ("__meta_kubernetes_pod_name", "testpod"),
            ("__meta_kubernetes_pod_node_name", "testnode"),
            ("__meta_kubernetes_pod_phase", ""),
            ("__meta_kubernetes_pod_ready", "unknown"),
            ("__meta_kubernetes_pod_uid", "deadbeef"),
            ("__meta_kubernetes_pod_container_init", "false"),
        ];
        let mut first = vec![
            ("__address__", "4.3.2.1:9000"),
            ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
            ("__meta_kubernetes_endpointslice_address_target_name", "testpod"),
            (
                "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
                "false",
            ),
            ("__meta_kubernetes_endpointslice_port", "9000"),
            ("__meta_kubernetes_endpointslice_port_name", "testport"),
            ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
            ("__meta_kubernetes_pod_container_name", "c1"),
            ("__meta_kubernetes_pod_container_image", "c1:latest"),
            ("__meta_kubernetes_pod_container_port_name", "mainport"),
            ("__meta_kubernetes_pod_container_port_number", "9000"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ];
        first.extend_from_slice(&pod_common);
        let mut second = vec![
            ("__address__", "1.2.3.4:9001"),
            ("__meta_kubernetes_pod_container_name", "c2"),
            ("__meta_kubernetes_pod_container_image", "c2:latest"),
            ("__meta_kubernetes_pod_container_port_name", "sideport"),
            ("__meta_kubernetes_pod_container_port_number", "9001"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ];
        second.extend_from_slice(&pod_common);
        assert_eq!(g.targets, vec![ls(&first), ls(&second)]);
        assert!(references_pod(&slice, "default", "testpod"));
    }

    #[test]
    fn endpointslice_discovery_with_service() {
        let svc: Service = obj(json!({
            "metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}
        }));
        let g = build_endpointslice_group(
            &make_endpoint_slice("default"),
            &Objects::default().with_service(svc),
        );
        let mut expected = expected_labels();
        expected.set("__meta_kubernetes_service_label_app_name", "test");
        expected.set("__meta_kubernetes_service_labelpresent_app_name", "true");
        expected.set("__meta_kubernetes_service_name", "testendpoints");
        assert_eq!(g.labels, expected);
        assert_eq!(service_name(&make_endpoint_slice("x")), Some("testendpoints"));
    }
}
