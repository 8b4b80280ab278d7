//! Role `node`: one target per node, at the kubelet's port on the node's
//! preferred address.

use k8s_openapi::api::core::v1::Node;
use sluice_model::Labels;

use super::meta::{META, add_object_meta, join_host_port, sanitize};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// `node/<name>`
pub(crate) fn node_source(name: &str) -> String {
    format!("node/{name}")
}

/// Address types in Prometheus' order of preference (`nodeAddress`).
const ADDRESS_PREFERENCE: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The target group of one node, or `None` when the node has no usable
/// address (Prometheus then sends nothing and keeps what it had).
pub(crate) fn build_node_group(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let status = node.status.as_ref();
    let addresses = status.and_then(|s| s.addresses.as_ref());
    // First address of each type, in the order the node lists them.
    let mut first_of_type: Vec<(&str, &str)> = Vec::new();
    for a in addresses.into_iter().flatten() {
        if !first_of_type.iter().any(|(t, _)| *t == a.type_) {
            first_of_type.push((a.type_.as_str(), a.address.as_str()));
        }
    }
    let address = ADDRESS_PREFERENCE
        .iter()
        .find_map(|want| first_of_type.iter().find(|(t, _)| t == want).map(|(_, a)| *a))?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|k| k.port)
        .unwrap_or(0);
    let mut target = Labels::new([
        (ADDRESS_LABEL, join_host_port(address, port)),
        ("instance", name.clone()),
    ]);
    for (ty, addr) in &first_of_type {
        target.set(&sanitize(&format!("{META}node_address_{ty}")), addr);
    }
    let mut labels = Labels::default();
    add_object_meta(&mut labels, &node.metadata, "node");
    Some(TargetGroup {
        source: node_source(&name),
        targets: vec![target],
        labels,
    })
}

#[cfg(test)]
mod tests {
    //! Ported from Prometheus' `discovery/kubernetes/node_test.go`.
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_node(
        name: &str,
        address: &str,
        labels: serde_json::Value,
        annotations: serde_json::Value,
    ) -> Node {
        obj(json!({
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "status": {
                "addresses": [{"type": "InternalIP", "address": address}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
            }
        }))
    }

    #[test]
    fn node_discovery_before_start() {
        let node = make_node(
            "test",
            "1.2.3.4",
            json!({"test-label": "testvalue"}),
            json!({"test-annotation": "testannotationvalue"}),
        );
        let expected = TargetGroup {
            source: "node/test".into(),
            targets: vec![ls(&[
                ("__address__", "1.2.3.4:10250"),
                ("instance", "test"),
                ("__meta_kubernetes_node_address_InternalIP", "1.2.3.4"),
            ])],
            labels: ls(&[
                ("__meta_kubernetes_node_name", "test"),
                ("__meta_kubernetes_node_label_test_label", "testvalue"),
                ("__meta_kubernetes_node_labelpresent_test_label", "true"),
                (
                    "__meta_kubernetes_node_annotation_test_annotation",
                    "testannotationvalue",
                ),
                ("__meta_kubernetes_node_annotationpresent_test_annotation", "true"),
            ]),
        };
        assert_eq!(build_node_group(&node), Some(expected));
    }

    #[test]
    fn node_discovery_add_and_update() {
        let added = build_node_group(&make_node("test1", "1.2.3.4", json!({}), json!({}))).unwrap();
        assert_eq!(added.labels, ls(&[("__meta_kubernetes_node_name", "test1")]));
        let updated = build_node_group(&make_node(
            "test0",
            "1.2.3.4",
            json!({"Unschedulable": "true"}),
            json!({}),
        ))
        .unwrap();
        assert_eq!(
            updated.labels,
            ls(&[
                ("__meta_kubernetes_node_label_Unschedulable", "true"),
                ("__meta_kubernetes_node_labelpresent_Unschedulable", "true"),
                ("__meta_kubernetes_node_name", "test0"),
            ])
        );
        assert_eq!(updated.targets[0].get("__address__"), Some("1.2.3.4:10250"));
    }

    #[test]
    fn address_preference_and_missing_address() {
        let node: Node = obj(json!({
            "metadata": {"name": "n"},
            "status": {"addresses": [
                {"type": "Hostname", "address": "n.local"},
                {"type": "ExternalIP", "address": "5.6.7.8"},
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "InternalIP", "address": "10.0.0.2"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
        }));
        let g = build_node_group(&node).unwrap();
        assert_eq!(g.targets[0].get("__address__"), Some("10.0.0.1:10250"));
        assert_eq!(
            g.targets[0].get("__meta_kubernetes_node_address_Hostname"),
            Some("n.local")
        );
        assert_eq!(
            g.targets[0].get("__meta_kubernetes_node_address_InternalIP"),
            Some("10.0.0.1")
        );
        let bare: Node = obj(json!({"metadata": {"name": "n"}}));
        assert_eq!(build_node_group(&bare), None);
    }
}
