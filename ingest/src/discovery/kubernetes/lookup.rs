//! What the endpoints roles need besides the object itself: the pods its
//! addresses point at and the service it belongs to.

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use sluice_model::Labels;

use super::pod::{
    CONTAINER_IMAGE, CONTAINER_INIT, CONTAINER_NAME, PORT_NAME, PORT_NUMBER, PORT_PROTOCOL, all_containers,
    pod_labels,
};
use super::service::service_labels;
use crate::discovery::ADDRESS_LABEL;
use crate::discovery::kubernetes::meta::join_host_port;

/// Cached pods and services, by namespace and name.
pub(crate) trait ObjectLookup {
    /// The pod `namespace/name`, if known.
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    /// The service `namespace/name`, if known.
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
}

/// The pod a target reference points at, when it is a known pod.
pub(crate) fn resolve_pod<'a>(lookup: &'a dyn ObjectLookup, r: Option<&ObjectReference>) -> Option<&'a Pod> {
    let r = r?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    lookup.pod(
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
    )
}

/// Adds the service's labels to a group's labels when the service is known.
pub(crate) fn add_service_labels(
    lookup: &dyn ObjectLookup,
    labels: &mut Labels,
    namespace: &str,
    name: &str,
) {
    if let Some(svc) = lookup.service(namespace, name) {
        for l in service_labels(svc).iter() {
            labels.set(&l.name, &l.value);
        }
    }
}

/// Attaches a pod's labels, and the labels of the container port that
/// matches `port`, to an endpoint target.
pub(crate) fn add_pod_labels(target: &mut Labels, pod: &Pod, port: Option<i32>) {
    for l in pod_labels(pod).iter() {
        target.set(&l.name, &l.value);
    }
    let Some(port) = port else {
        return;
    };
    for (c, is_init, _) in all_containers(pod) {
        if let Some(cport) = c.ports.iter().flatten().find(|p| p.container_port == port) {
            target.set(CONTAINER_NAME, &c.name);
            target.set(CONTAINER_IMAGE, c.image.as_deref().unwrap_or_default());
            target.set(PORT_NAME, cport.name.as_deref().unwrap_or_default());
            target.set(PORT_NUMBER, &port.to_string());
            target.set(PORT_PROTOCOL, cport.protocol.as_deref().unwrap_or_default());
            target.set(CONTAINER_INIT, if is_init { "true" } else { "false" });
            return;
        }
    }
}

/// Targets for the container ports of a pod that no endpoint port covered
/// (Prometheus adds them so every declared port can be scraped).
pub(crate) fn uncovered_pod_ports(pod: &Pod, covered: &[i32]) -> Vec<Labels> {
    let pod_ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default();
    if pod_ip.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (c, is_init, _) in all_containers(pod) {
        for cport in c.ports.iter().flatten() {
            if covered.contains(&cport.container_port) {
                continue;
            }
            let mut t = Labels::new([
                (ADDRESS_LABEL, join_host_port(pod_ip, cport.container_port)),
                (CONTAINER_NAME, c.name.clone()),
                (CONTAINER_IMAGE, c.image.clone().unwrap_or_default()),
                (PORT_NAME, cport.name.clone().unwrap_or_default()),
                (PORT_NUMBER, cport.container_port.to_string()),
                (PORT_PROTOCOL, cport.protocol.clone().unwrap_or_default()),
                (CONTAINER_INIT, is_init.to_string()),
            ]);
            for l in pod_labels(pod).iter() {
                t.set(&l.name, &l.value);
            }
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use super::*;

    /// Pods and services for builder tests.
    #[derive(Default)]
    pub(crate) struct Objects {
        pub pods: BTreeMap<(String, String), Pod>,
        pub services: BTreeMap<(String, String), Service>,
    }

    impl Objects {
        pub(crate) fn with_pod(mut self, pod: Pod) -> Self {
            let key = crate::discovery::kubernetes::meta::object_key(&pod.metadata);
            self.pods.insert(key, pod);
            self
        }
        pub(crate) fn with_service(mut self, svc: Service) -> Self {
            let key = crate::discovery::kubernetes::meta::object_key(&svc.metadata);
            self.services.insert(key, svc);
            self
        }
    }

    impl ObjectLookup for Objects {
        fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
            self.pods.get(&(namespace.to_string(), name.to_string()))
        }
        fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
            self.services.get(&(namespace.to_string(), name.to_string()))
        }
    }
}
