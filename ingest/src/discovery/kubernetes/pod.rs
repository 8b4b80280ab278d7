//! Role `pod`: one target per declared container port, and one per
//! container without ports (address = the pod IP), init containers included.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};
use sluice_model::Labels;

use super::meta::{META, NAMESPACE, add_object_meta, join_host_port};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

pub(crate) const CONTAINER_NAME: &str = "__meta_kubernetes_pod_container_name";
pub(crate) const CONTAINER_IMAGE: &str = "__meta_kubernetes_pod_container_image";
pub(crate) const CONTAINER_ID: &str = "__meta_kubernetes_pod_container_id";
pub(crate) const CONTAINER_INIT: &str = "__meta_kubernetes_pod_container_init";
pub(crate) const PORT_NAME: &str = "__meta_kubernetes_pod_container_port_name";
pub(crate) const PORT_NUMBER: &str = "__meta_kubernetes_pod_container_port_number";
pub(crate) const PORT_PROTOCOL: &str = "__meta_kubernetes_pod_container_port_protocol";

/// `pod/<namespace>/<name>`
pub(crate) fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// Prometheus' `podLabels`: the pod-level labels (also attached to
/// endpoints targets backed by the pod).
pub(crate) fn pod_labels(pod: &Pod) -> Labels {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let mut l = Labels::default();
    add_object_meta(&mut l, &pod.metadata, "pod");
    l.set(
        &format!("{META}pod_ip"),
        field(status.and_then(|s| s.pod_ip.as_ref())),
    );
    l.set(&format!("{META}pod_ready"), &pod_ready(pod));
    l.set(
        &format!("{META}pod_phase"),
        field(status.and_then(|s| s.phase.as_ref())),
    );
    l.set(
        &format!("{META}pod_node_name"),
        field(spec.and_then(|s| s.node_name.as_ref())),
    );
    l.set(
        &format!("{META}pod_host_ip"),
        field(status.and_then(|s| s.host_ip.as_ref())),
    );
    l.set(&format!("{META}pod_uid"), field(pod.metadata.uid.as_ref()));
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(c) = controller {
        l.set(&format!("{META}pod_controller_kind"), &c.kind);
        l.set(&format!("{META}pod_controller_name"), &c.name);
    }
    l
}

fn field(v: Option<&String>) -> &str {
    v.map(String::as_str).unwrap_or_default()
}

/// The container ID of `name` in `statuses`, empty when not reported yet.
fn container_id<'a>(statuses: Option<&'a Vec<ContainerStatus>>, name: &str) -> &'a str {
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.as_deref())
        .unwrap_or_default()
}

/// The `Ready` condition, lower-cased; `unknown` when absent.
fn pod_ready(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".into())
}

/// The pod's containers followed by its init containers, each with
/// "is init" and its container ID from the matching status.
pub(crate) fn all_containers(pod: &Pod) -> Vec<(&Container, bool, &str)> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let status = pod.status.as_ref();
    let regular = spec.containers.iter().map(|c| {
        (
            c,
            false,
            container_id(status.and_then(|s| s.container_statuses.as_ref()), &c.name),
        )
    });
    let init = spec.init_containers.iter().flatten().map(|c| {
        (
            c,
            true,
            container_id(status.and_then(|s| s.init_container_statuses.as_ref()), &c.name),
        )
    });
    regular.chain(init).collect()
}

/// The target group of one pod; without a pod IP (pending, evicted) it has
/// no targets, which removes any earlier ones.
pub(crate) fn build_pod_group(pod: &Pod) -> TargetGroup {
    let (ns, name) = super::meta::object_key(&pod.metadata);
    let mut group = TargetGroup::removed(pod_source(&ns, &name));
    let pod_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default();
    if pod_ip.is_empty() {
        return group;
    }
    group.labels = pod_labels(pod);
    group.labels.set(NAMESPACE, &ns);
    for (c, is_init, container_id) in all_containers(pod) {
        let base = [
            (CONTAINER_NAME, c.name.as_str()),
            (CONTAINER_ID, container_id),
            (CONTAINER_IMAGE, c.image.as_deref().unwrap_or_default()),
            (CONTAINER_INIT, if is_init { "true" } else { "false" }),
        ];
        let ports = c.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // No port: the address is the pod IP; relabeling adds one.
            let mut t = Labels::new(base);
            t.set(ADDRESS_LABEL, pod_ip);
            group.targets.push(t);
            continue;
        }
        for p in ports {
            let mut t = Labels::new(base);
            t.set(ADDRESS_LABEL, &join_host_port(pod_ip, p.container_port));
            t.set(PORT_NAME, p.name.as_deref().unwrap_or_default());
            t.set(PORT_NUMBER, &p.container_port.to_string());
            t.set(PORT_PROTOCOL, p.protocol.as_deref().unwrap_or_default());
            group.targets.push(t);
        }
    }
    group
}

#[cfg(test)]
mod tests {
    //! Ported from Prometheus' `discovery/kubernetes/pod_test.go`: the same
    //! objects (as API JSON) and the same expected groups.
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_multi_port_pod() -> Pod {
        obj(json!({
            "metadata": {
                "name": "testpod", "namespace": "default", "uid": "abc123",
                "labels": {"test/label": "testvalue"},
                "annotations": {"test/annotation": "testannotationvalue"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "testcontrollerkind",
                    "name": "testcontrollername", "uid": "u", "controller": true}]
            },
            "spec": {"nodeName": "testnode", "containers": [
                {"name": "testcontainer0", "image": "testcontainer0:latest", "ports": [
                    {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
                    {"name": "testport1", "protocol": "UDP", "containerPort": 9001}]},
                {"name": "testcontainer1", "image": "testcontainer1:latest"}]},
            "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "testcontainer0", "containerID": "docker://a1b2c3d4e5f6", "image": "i",
                     "imageID": "", "ready": true, "restartCount": 0},
                    {"name": "testcontainer1", "containerID": "containerd://6f5e4d3c2b1a", "image": "i",
                     "imageID": "", "ready": true, "restartCount": 0}]}
        }))
    }

    fn make_pod(namespace: &str) -> Pod {
        obj(json!({
            "metadata": {"name": "testpod", "namespace": namespace, "uid": "abc123"},
            "spec": {"nodeName": "testnode", "containers": [
                {"name": "testcontainer", "image": "testcontainer:latest", "ports": [
                    {"name": "testport", "protocol": "TCP", "containerPort": 9000}]}]},
            "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "testcontainer", "containerID": "docker://a1b2c3d4e5f6",
                    "image": "i", "imageID": "", "ready": true, "restartCount": 0}]}
        }))
    }

    fn expected_pod_group(ns: &str) -> TargetGroup {
        TargetGroup {
            source: format!("pod/{ns}/testpod"),
            targets: vec![ls(&[
                ("__address__", "1.2.3.4:9000"),
                ("__meta_kubernetes_pod_container_name", "testcontainer"),
                ("__meta_kubernetes_pod_container_image", "testcontainer:latest"),
                ("__meta_kubernetes_pod_container_port_name", "testport"),
                ("__meta_kubernetes_pod_container_port_number", "9000"),
                ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
                ("__meta_kubernetes_pod_container_init", "false"),
                ("__meta_kubernetes_pod_container_id", "docker://a1b2c3d4e5f6"),
            ])],
            labels: ls(&[
                ("__meta_kubernetes_pod_name", "testpod"),
                ("__meta_kubernetes_namespace", ns),
                ("__meta_kubernetes_pod_node_name", "testnode"),
                ("__meta_kubernetes_pod_ip", "1.2.3.4"),
                ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
                ("__meta_kubernetes_pod_ready", "true"),
                ("__meta_kubernetes_pod_phase", "Running"),
                ("__meta_kubernetes_pod_uid", "abc123"),
            ]),
        }
    }

    #[test]
    fn pod_discovery_before_run_multi_port() {
        let expected = TargetGroup {
            source: "pod/default/testpod".into(),
            targets: vec![
                ls(&[
                    ("__address__", "1.2.3.4:9000"),
                    ("__meta_kubernetes_pod_container_name", "testcontainer0"),
                    ("__meta_kubernetes_pod_container_image", "testcontainer0:latest"),
                    ("__meta_kubernetes_pod_container_port_name", "testport0"),
                    ("__meta_kubernetes_pod_container_port_number", "9000"),
                    ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
                    ("__meta_kubernetes_pod_container_init", "false"),
                    ("__meta_kubernetes_pod_container_id", "docker://a1b2c3d4e5f6"),
                ]),
                ls(&[
                    ("__address__", "1.2.3.4:9001"),
                    ("__meta_kubernetes_pod_container_name", "testcontainer0"),
                    ("__meta_kubernetes_pod_container_image", "testcontainer0:latest"),
                    ("__meta_kubernetes_pod_container_port_name", "testport1"),
                    ("__meta_kubernetes_pod_container_port_number", "9001"),
                    ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
                    ("__meta_kubernetes_pod_container_init", "false"),
                    ("__meta_kubernetes_pod_container_id", "docker://a1b2c3d4e5f6"),
                ]),
                ls(&[
                    ("__address__", "1.2.3.4"),
                    ("__meta_kubernetes_pod_container_name", "testcontainer1"),
                    ("__meta_kubernetes_pod_container_image", "testcontainer1:latest"),
                    ("__meta_kubernetes_pod_container_init", "false"),
                    ("__meta_kubernetes_pod_container_id", "containerd://6f5e4d3c2b1a"),
                ]),
            ],
            labels: ls(&[
                ("__meta_kubernetes_pod_name", "testpod"),
                ("__meta_kubernetes_namespace", "default"),
                ("__meta_kubernetes_pod_label_test_label", "testvalue"),
                ("__meta_kubernetes_pod_labelpresent_test_label", "true"),
                (
                    "__meta_kubernetes_pod_annotation_test_annotation",
                    "testannotationvalue",
                ),
                ("__meta_kubernetes_pod_annotationpresent_test_annotation", "true"),
                ("__meta_kubernetes_pod_node_name", "testnode"),
                ("__meta_kubernetes_pod_ip", "1.2.3.4"),
                ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
                ("__meta_kubernetes_pod_ready", "true"),
                ("__meta_kubernetes_pod_phase", "Running"),
                ("__meta_kubernetes_pod_uid", "abc123"),
                ("__meta_kubernetes_pod_controller_kind", "testcontrollerkind"),
                ("__meta_kubernetes_pod_controller_name", "testcontrollername"),
            ]),
        };
        assert_eq!(build_pod_group(&make_multi_port_pod()), expected);
    }

    #[test]
    fn pod_discovery_add_and_namespaces() {
        assert_eq!(
            build_pod_group(&make_pod("default")),
            expected_pod_group("default")
        );
        assert_eq!(build_pod_group(&make_pod("ns2")), expected_pod_group("ns2"));
    }

    #[test]
    fn pod_discovery_init_container() {
        let mut pod = make_pod("default");
        let v: serde_json::Value = json!({
            "spec": {"initContainers": [{"name": "initcontainer", "image": "initcontainer:latest"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                "initContainerStatuses": [{"name": "initcontainer", "containerID": "containerd://6f5e4d3c2b1a",
                    "image": "i", "imageID": "", "ready": false, "restartCount": 0}]}
        });
        let patch: Pod = obj(v);
        pod.spec.as_mut().unwrap().init_containers = patch.spec.unwrap().init_containers;
        let st = pod.status.as_mut().unwrap();
        let pst = patch.status.unwrap();
        st.phase = pst.phase;
        st.conditions = pst.conditions;
        st.init_container_statuses = pst.init_container_statuses;

        let mut expected = expected_pod_group("default");
        expected.targets.push(ls(&[
            ("__address__", "1.2.3.4"),
            ("__meta_kubernetes_pod_container_name", "initcontainer"),
            ("__meta_kubernetes_pod_container_image", "initcontainer:latest"),
            ("__meta_kubernetes_pod_container_init", "true"),
            ("__meta_kubernetes_pod_container_id", "containerd://6f5e4d3c2b1a"),
        ]));
        expected.labels.set("__meta_kubernetes_pod_phase", "Pending");
        expected.labels.set("__meta_kubernetes_pod_ready", "false");
        assert_eq!(build_pod_group(&pod), expected);
    }

    #[test]
    fn pod_discovery_update_empty_pod_ip_removes_targets() {
        let mut pod = make_pod("default");
        pod.status.as_mut().unwrap().pod_ip = Some(String::new());
        assert_eq!(build_pod_group(&pod), TargetGroup::removed("pod/default/testpod"));
    }

    #[test]
    fn pod_without_ready_condition_is_unknown() {
        // TestPodDiscoveryUpdate's initial pod: no conditions, no statuses.
        let pod: Pod = obj(json!({
            "metadata": {"name": "testpod", "namespace": "default", "uid": "xyz321"},
            "spec": {"nodeName": "testnode", "containers": [{"name": "testcontainer",
                "image": "testcontainer:latest",
                "ports": [{"name": "testport", "protocol": "TCP", "containerPort": 9000}]}]},
            "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5"}
        }));
        let g = build_pod_group(&pod);
        assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("unknown"));
        assert_eq!(g.labels.get("__meta_kubernetes_pod_phase"), None);
        assert_eq!(g.targets[0].get("__meta_kubernetes_pod_container_id"), None);
    }
}
