//! Label helpers shared by the roles: Prometheus' naming of Kubernetes
//! metadata as `__meta_kubernetes_*` labels.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sluice_model::Labels;

/// Every Kubernetes meta label starts with this.
pub(crate) const META: &str = "__meta_kubernetes_";
/// The object's namespace.
pub(crate) const NAMESPACE: &str = "__meta_kubernetes_namespace";
/// The value of `*present_*` labels.
pub(crate) const PRESENT: &str = "true";

/// Prometheus' `strutil.SanitizeLabelName`: every character outside
/// `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `net.JoinHostPort`: IPv6 hosts get brackets.
pub(crate) fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Prometheus' `addObjectMetaLabels`: `<role>_name`, and every label and
/// annotation as `<role>_label_<name>` / `<role>_labelpresent_<name>`
/// (`annotation` likewise), names sanitized.
pub(crate) fn add_object_meta(l: &mut Labels, meta: &ObjectMeta, role: &str) {
    l.set(
        &format!("{META}{role}_name"),
        meta.name.as_deref().unwrap_or_default(),
    );
    for (kind, map) in [("label", &meta.labels), ("annotation", &meta.annotations)] {
        for (k, v) in map.iter().flatten() {
            let name = sanitize(k);
            l.set(&format!("{META}{role}_{kind}_{name}"), v);
            l.set(&format!("{META}{role}_{kind}present_{name}"), PRESENT);
        }
    }
}

/// `(namespace, name)` of an object.
pub(crate) fn object_key(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for the ported Prometheus expectations.
    use sluice_model::Labels;

    /// A label set from pairs; empty values vanish as they do when
    /// Prometheus builds a target.
    pub(crate) fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(pairs.iter().copied())
    }

    /// Decodes a Kubernetes object from its API JSON.
    pub(crate) fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid Kubernetes object JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized_and_ipv6_bracketed() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(join_host_port("1.2.3.4", 80), "1.2.3.4:80");
        assert_eq!(join_host_port("2001:db8::1", 80), "[2001:db8::1]:80");
    }
}
