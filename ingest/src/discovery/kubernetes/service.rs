//! Role `service`: one target per service port, at the service's DNS name.

use k8s_openapi::api::core::v1::Service;
use sluice_model::Labels;

use super::meta::{META, NAMESPACE, add_object_meta, join_host_port, object_key};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// `svc/<namespace>/<name>`
pub(crate) fn service_source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// Prometheus' `serviceLabels`: namespace and the service's metadata (also
/// attached to endpoints groups of the service).
pub(crate) fn service_labels(svc: &Service) -> Labels {
    let mut l = Labels::default();
    l.set(NAMESPACE, svc.metadata.namespace.as_deref().unwrap_or_default());
    add_object_meta(&mut l, &svc.metadata, "service");
    l
}

/// The target group of one service.
pub(crate) fn build_service_group(svc: &Service) -> TargetGroup {
    let (ns, name) = object_key(&svc.metadata);
    let spec = svc.spec.as_ref();
    let ty = spec.and_then(|s| s.type_.as_deref()).unwrap_or_default();
    let targets = spec
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|port| {
            let mut t = Labels::new([
                (
                    ADDRESS_LABEL.to_string(),
                    join_host_port(&format!("{name}.{ns}.svc"), port.port),
                ),
                (
                    format!("{META}service_port_name"),
                    port.name.clone().unwrap_or_default(),
                ),
                (format!("{META}service_port_number"), port.port.to_string()),
                (
                    format!("{META}service_port_protocol"),
                    port.protocol.clone().unwrap_or_default(),
                ),
                (format!("{META}service_type"), ty.to_string()),
            ]);
            let spec_field = |f: fn(&k8s_openapi::api::core::v1::ServiceSpec) -> Option<&String>| {
                spec.and_then(f).cloned().unwrap_or_default()
            };
            if ty == "ExternalName" {
                t.set(
                    &format!("{META}service_external_name"),
                    &spec_field(|s| s.external_name.as_ref()),
                );
            } else {
                t.set(
                    &format!("{META}service_cluster_ip"),
                    &spec_field(|s| s.cluster_ip.as_ref()),
                );
            }
            if ty == "LoadBalancer" {
                t.set(
                    &format!("{META}service_loadbalancer_ip"),
                    &spec_field(|s| s.load_balancer_ip.as_ref()),
                );
            }
            t
        })
        .collect();
    TargetGroup {
        source: service_source(&ns, &name),
        targets,
        labels: service_labels(svc),
    }
}

#[cfg(test)]
mod tests {
    //! Ported from Prometheus' `discovery/kubernetes/service_test.go`.
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::meta::test_support::{ls, obj};

    fn make_service(ns: &str) -> Service {
        obj(json!({
            "metadata": {"name": "testservice", "namespace": ns},
            "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 30900}],
                "type": "ClusterIP", "clusterIP": "10.0.0.1"}
        }))
    }

    #[test]
    fn service_discovery_add() {
        let external: Service = obj(json!({
            "metadata": {"name": "testservice-external", "namespace": "default"},
            "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
                "type": "ExternalName", "externalName": "FooExternalName"}
        }));
        let lb: Service = obj(json!({
            "metadata": {"name": "testservice-loadbalancer", "namespace": "default"},
            "spec": {"ports": [{"name": "testport", "protocol": "TCP", "port": 31900}],
                "type": "LoadBalancer", "loadBalancerIP": "127.0.0.1", "clusterIP": "10.0.0.1"}
        }));
        assert_eq!(
            build_service_group(&make_service("default")),
            TargetGroup {
                source: "svc/default/testservice".into(),
                targets: vec![ls(&[
                    ("__meta_kubernetes_service_port_protocol", "TCP"),
                    ("__address__", "testservice.default.svc:30900"),
                    ("__meta_kubernetes_service_type", "ClusterIP"),
                    ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                    ("__meta_kubernetes_service_port_name", "testport"),
                    ("__meta_kubernetes_service_port_number", "30900"),
                ])],
                labels: ls(&[
                    ("__meta_kubernetes_service_name", "testservice"),
                    ("__meta_kubernetes_namespace", "default"),
                ]),
            }
        );
        assert_eq!(
            build_service_group(&external).targets,
            vec![ls(&[
                ("__meta_kubernetes_service_port_protocol", "TCP"),
                ("__address__", "testservice-external.default.svc:31900"),
                ("__meta_kubernetes_service_type", "ExternalName"),
                ("__meta_kubernetes_service_port_name", "testport"),
                ("__meta_kubernetes_service_port_number", "31900"),
                ("__meta_kubernetes_service_external_name", "FooExternalName"),
            ])]
        );
        assert_eq!(
            build_service_group(&lb).targets,
            vec![ls(&[
                ("__meta_kubernetes_service_port_protocol", "TCP"),
                ("__address__", "testservice-loadbalancer.default.svc:31900"),
                ("__meta_kubernetes_service_type", "LoadBalancer"),
                ("__meta_kubernetes_service_port_name", "testport"),
                ("__meta_kubernetes_service_port_number", "31900"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_loadbalancer_ip", "127.0.0.1"),
            ])]
        );
    }

    #[test]
    fn service_discovery_update_multi_port_with_metadata() {
        let svc: Service = obj(json!({
            "metadata": {"name": "testservice", "namespace": "default",
                "labels": {"test-label": "testvalue"},
                "annotations": {"test-annotation": "testannotationvalue"}},
            "spec": {"ports": [
                {"name": "testport0", "protocol": "TCP", "port": 30900},
                {"name": "testport1", "protocol": "UDP", "port": 30901}],
                "type": "ClusterIP", "clusterIP": "10.0.0.1"}
        }));
        let g = build_service_group(&svc);
        assert_eq!(
            g.targets[1],
            ls(&[
                ("__meta_kubernetes_service_port_protocol", "UDP"),
                ("__address__", "testservice.default.svc:30901"),
                ("__meta_kubernetes_service_type", "ClusterIP"),
                ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
                ("__meta_kubernetes_service_port_name", "testport1"),
                ("__meta_kubernetes_service_port_number", "30901"),
            ])
        );
        assert_eq!(
            g.labels,
            ls(&[
                ("__meta_kubernetes_service_name", "testservice"),
                ("__meta_kubernetes_namespace", "default"),
                ("__meta_kubernetes_service_label_test_label", "testvalue"),
                ("__meta_kubernetes_service_labelpresent_test_label", "true"),
                (
                    "__meta_kubernetes_service_annotation_test_annotation",
                    "testannotationvalue"
                ),
                (
                    "__meta_kubernetes_service_annotationpresent_test_annotation",
                    "true"
                ),
            ])
        );
        assert_eq!(
            build_service_group(&make_service("ns2")).source,
            "svc/ns2/testservice"
        );
    }
}
