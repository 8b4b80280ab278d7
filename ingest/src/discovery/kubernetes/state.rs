//! The objects a discovery has seen, and which target groups change when
//! one of them does.
//!
//! Pure state: the watch loop feeds it [`Change`]s and sends what
//! [`DiscoveryState::apply`] returns. Only groups that differ from what was
//! last sent are returned, so a re-list after an expired watch sends just
//! the difference.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;

use super::config::Role;
use super::endpoints::{self, build_endpoints_group, endpoints_source};
use super::endpointslice::{self, build_endpointslice_group, endpointslice_source};
use super::ingress::{build_ingress_group, ingress_source};
use super::lookup::ObjectLookup;
use super::meta::object_key;
use super::node::{build_node_group, node_source};
use super::pod::{build_pod_group, pod_source};
use super::service::{build_service_group, service_source};
use crate::discovery::TargetGroup;

/// `(namespace, name)`; namespace empty for nodes.
pub(crate) type ObjectKey = (String, String);

/// One object of any watched kind.
#[derive(Debug, Clone)]
pub(crate) enum Object {
    Pod(Box<Pod>),
    Node(Box<Node>),
    Service(Box<Service>),
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
}

impl Object {
    fn kind(&self) -> Role {
        match self {
            Object::Pod(_) => Role::Pod,
            Object::Node(_) => Role::Node,
            Object::Service(_) => Role::Service,
            Object::Endpoints(_) => Role::Endpoints,
            Object::EndpointSlice(_) => Role::EndpointSlice,
            Object::Ingress(_) => Role::Ingress,
        }
    }

    fn key(&self) -> ObjectKey {
        let meta = match self {
            Object::Pod(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
        };
        object_key(meta)
    }
}

/// What a watch reported.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    /// Added or modified.
    Applied(Object),
    /// Deleted.
    Deleted(Object),
    /// A (re-)list completed: the complete set of `kind` objects in
    /// `namespace` (all namespaces when `None`).
    Relisted {
        kind: Role,
        namespace: Option<String>,
        objects: Vec<Object>,
    },
}

/// Every object the discovery watches, by kind.
#[derive(Debug)]
pub(crate) struct DiscoveryState {
    role: Role,
    objects: BTreeMap<Role, BTreeMap<ObjectKey, Object>>,
    /// Groups last sent, by source.
    sent: BTreeMap<String, TargetGroup>,
}

impl ObjectLookup for DiscoveryState {
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        match self.get(Role::Pod, namespace, name)? {
            Object::Pod(p) => Some(p),
            _ => None,
        }
    }

    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        match self.get(Role::Service, namespace, name)? {
            Object::Service(s) => Some(s),
            _ => None,
        }
    }
}

impl DiscoveryState {
    pub(crate) fn new(role: Role) -> Self {
        DiscoveryState {
            role,
            objects: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }

    fn get(&self, kind: Role, namespace: &str, name: &str) -> Option<&Object> {
        self.objects
            .get(&kind)?
            .get(&(namespace.to_string(), name.to_string()))
    }

    /// Applies a change; returns the groups to send.
    pub(crate) fn apply(&mut self, change: Change) -> Vec<TargetGroup> {
        let mut touched: BTreeSet<(Role, ObjectKey)> = BTreeSet::new();
        match change {
            Change::Applied(o) => {
                let (kind, key) = (o.kind(), o.key());
                self.objects.entry(kind).or_default().insert(key.clone(), o);
                touched.insert((kind, key));
            }
            Change::Deleted(o) => {
                let (kind, key) = (o.kind(), o.key());
                self.objects.entry(kind).or_default().remove(&key);
                touched.insert((kind, key));
            }
            Change::Relisted {
                kind,
                namespace,
                objects,
            } => {
                let cache = self.objects.entry(kind).or_default();
                let in_scope = |k: &ObjectKey| namespace.as_ref().is_none_or(|ns| &k.0 == ns);
                let gone: Vec<ObjectKey> = cache.keys().filter(|k| in_scope(k)).cloned().collect();
                for k in gone {
                    cache.remove(&k);
                    touched.insert((kind, k));
                }
                for o in objects {
                    let key = o.key();
                    cache.insert(key.clone(), o);
                    touched.insert((kind, key));
                }
            }
        }
        let sources = self.affected_sources(&touched);
        let mut out = Vec::new();
        for (source, kind, key) in sources {
            let Some(group) = self.build(kind, &key, &source) else {
                continue;
            };
            let changed = match self.sent.get(&source) {
                Some(prev) => *prev != group,
                None => !group.targets.is_empty(),
            };
            if changed {
                if group.targets.is_empty() {
                    self.sent.remove(&source);
                } else {
                    self.sent.insert(source, group.clone());
                }
                out.push(group);
            }
        }
        out
    }

    /// The groups (source, kind of the group's object, key) whose targets
    /// depend on the touched objects.
    fn affected_sources(&self, touched: &BTreeSet<(Role, ObjectKey)>) -> BTreeSet<(String, Role, ObjectKey)> {
        let mut out = BTreeSet::new();
        let own = |kind: Role, key: &ObjectKey| -> String {
            match kind {
                Role::Pod => pod_source(&key.0, &key.1),
                Role::Node => node_source(&key.1),
                Role::Service => service_source(&key.0, &key.1),
                Role::Endpoints => endpoints_source(&key.0, &key.1),
                Role::EndpointSlice => endpointslice_source(&key.0, &key.1),
                Role::Ingress => ingress_source(&key.0, &key.1),
            }
        };
        for (kind, key) in touched {
            if *kind == self.role {
                out.insert((own(*kind, key), *kind, key.clone()));
                continue;
            }
            // A pod or service changed under an endpoints role: rebuild the
            // groups that show its labels.
            for (gkey, obj) in self.objects.get(&self.role).into_iter().flatten() {
                let depends = match (obj, kind) {
                    (Object::Endpoints(_), Role::Service) => gkey == key,
                    (Object::Endpoints(e), Role::Pod) => endpoints::references_pod(e, &key.0, &key.1),
                    (Object::EndpointSlice(s), Role::Service) => {
                        gkey.0 == key.0 && endpointslice::service_name(s) == Some(key.1.as_str())
                    }
                    (Object::EndpointSlice(s), Role::Pod) => endpointslice::references_pod(s, &key.0, &key.1),
                    _ => false,
                };
                if depends {
                    out.insert((own(self.role, gkey), self.role, gkey.clone()));
                }
            }
        }
        out
    }

    /// The current group of one object of the role (an empty group when it
    /// is gone); `None` when there is nothing to send.
    fn build(&self, kind: Role, key: &ObjectKey, source: &str) -> Option<TargetGroup> {
        let Some(obj) = self.get(kind, &key.0, &key.1) else {
            return Some(TargetGroup::removed(source));
        };
        match obj {
            Object::Pod(p) => Some(build_pod_group(p)),
            Object::Node(n) => build_node_group(n),
            Object::Service(s) => Some(build_service_group(s)),
            Object::Endpoints(e) => Some(build_endpoints_group(e, self)),
            Object::EndpointSlice(s) => Some(build_endpointslice_group(s, self)),
            Object::Ingress(i) => Some(build_ingress_group(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::discovery::kubernetes::meta::test_support::obj;

    fn pod(name: &str, ip: &str) -> Object {
        Object::Pod(Box::new(obj(json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
            "status": {"podIP": ip}
        }))))
    }

    fn endpoints() -> Object {
        Object::Endpoints(Box::new(obj(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "1.1.1.1",
                "targetRef": {"kind": "Pod", "name": "a", "namespace": "default"}}],
                "ports": [{"port": 80}]}]
        }))))
    }

    fn service(label: &str) -> Object {
        Object::Service(Box::new(obj(json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"tier": label}}
        }))))
    }

    #[test]
    fn pod_role_adds_updates_removes_and_relists() {
        let mut st = DiscoveryState::new(Role::Pod);
        let g = st.apply(Change::Applied(pod("a", "1.1.1.1")));
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].source, "pod/default/a");
        // The same object again changes nothing.
        assert!(st.apply(Change::Applied(pod("a", "1.1.1.1"))).is_empty());
        let g = st.apply(Change::Applied(pod("a", "1.1.1.2")));
        assert_eq!(g[0].targets[0].get("__address__"), Some("1.1.1.2:80"));
        st.apply(Change::Applied(pod("b", "2.2.2.2")));
        // A re-list without `a` removes it; `b` unchanged is not resent.
        let g = st.apply(Change::Relisted {
            kind: Role::Pod,
            namespace: None,
            objects: vec![pod("b", "2.2.2.2"), pod("c", "3.3.3.3")],
        });
        let sources: Vec<(&str, usize)> = g.iter().map(|g| (g.source.as_str(), g.targets.len())).collect();
        assert_eq!(sources, [("pod/default/a", 0), ("pod/default/c", 1)]);
        let g = st.apply(Change::Deleted(pod("c", "3.3.3.3")));
        assert_eq!(g, vec![TargetGroup::removed("pod/default/c")]);
    }

    #[test]
    fn endpoints_role_follows_its_pods_and_service() {
        let mut st = DiscoveryState::new(Role::Endpoints);
        let g = st.apply(Change::Applied(endpoints()));
        assert_eq!(g[0].targets[0].get("__meta_kubernetes_pod_name"), None);
        let g = st.apply(Change::Applied(pod("a", "1.1.1.1")));
        assert_eq!(g.len(), 1, "the pod's labels reach the endpoints group");
        assert_eq!(g[0].targets[0].get("__meta_kubernetes_pod_name"), Some("a"));
        assert!(
            st.apply(Change::Applied(pod("z", "9.9.9.9"))).is_empty(),
            "an unrelated pod"
        );
        let g = st.apply(Change::Applied(service("front")));
        assert_eq!(
            g[0].labels.get("__meta_kubernetes_service_label_tier"),
            Some("front")
        );
        let g = st.apply(Change::Deleted(service("front")));
        assert_eq!(g[0].labels.get("__meta_kubernetes_service_name"), None);
    }
}
