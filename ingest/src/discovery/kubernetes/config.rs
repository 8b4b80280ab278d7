//! `kubernetes_sd_configs:` with Prometheus' keys and its validation rules.

use serde::{Deserialize, Serialize};

/// What kind of object becomes a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// One target per node (the kubelet).
    Node,
    /// One target per declared container port (or per container without ports).
    Pod,
    /// One target per service port.
    Service,
    /// One target per endpoint address and port, with pod and service labels.
    Endpoints,
    /// Like `endpoints`, from `discovery.k8s.io/v1` EndpointSlices.
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    /// One target per rule host and path of an Ingress.
    Ingress,
}

impl Role {
    /// The name used in labels and configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Pod => "pod",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    /// The selector roles a discovery of this role may use (Prometheus'
    /// `allowedSelectors`): the objects it watches.
    pub fn watched(self) -> &'static [Role] {
        match self {
            Role::Node => &[Role::Node],
            Role::Pod => &[Role::Pod],
            Role::Service => &[Role::Service],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

/// `namespaces:` — which namespaces to watch (all when empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespaceDiscovery {
    /// Namespaces by name.
    #[serde(default)]
    pub names: Vec<String>,
    /// Also the namespace Sluice runs in (in-cluster only).
    #[serde(default)]
    pub own_namespace: bool,
}

/// One `selectors:` entry: server-side label and field selectors for the
/// objects of `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectorConfig {
    /// Which watched objects the selectors apply to.
    pub role: Role,
    /// A label selector, e.g. `app=web,tier!=cache`.
    #[serde(default)]
    pub label: Option<String>,
    /// A field selector, e.g. `spec.nodeName=node-1`.
    #[serde(default)]
    pub field: Option<String>,
}

/// `authorization:` — credentials sent as `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// Only `Bearer` is supported by the Kubernetes client.
    #[serde(rename = "type", default = "default_auth_type")]
    pub kind: String,
    /// The token, inline.
    #[serde(default)]
    pub credentials: Option<crate::http_client::Secret>,
    /// A file holding the token (re-read, so rotated tokens work).
    #[serde(default)]
    pub credentials_file: Option<String>,
}

fn default_auth_type() -> String {
    "Bearer".into()
}

/// `tls_config:` for the API server connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// PEM CA bundle that signs the API server's certificate.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Do not verify the API server's certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// One `kubernetes_sd_configs:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubernetesSdConfig {
    /// What becomes a target.
    pub role: Role,
    /// API server URL; without it (and without a kubeconfig) the in-cluster
    /// service account is used.
    #[serde(default)]
    pub api_server: Option<String>,
    /// A kubeconfig file (its current context).
    #[serde(default)]
    pub kubeconfig_file: Option<String>,
    /// Namespaces to watch.
    #[serde(default)]
    pub namespaces: NamespaceDiscovery,
    /// Server-side selectors per watched role.
    #[serde(default)]
    pub selectors: Vec<SelectorConfig>,
    /// A file holding a bearer token (with `api_server`).
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// Credentials (with `api_server`).
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// TLS settings (with `api_server`).
    #[serde(default)]
    pub tls_config: TlsConfig,
}

impl KubernetesSdConfig {
    /// The selector given for `role`, if any: (label, field).
    pub fn selector(&self, role: Role) -> (Option<&str>, Option<&str>) {
        self.selectors
            .iter()
            .find(|s| s.role == role)
            .map(|s| (s.label.as_deref(), s.field.as_deref()))
            .unwrap_or((None, None))
    }

    fn has_http_settings(&self) -> bool {
        self.bearer_token_file.is_some()
            || self.authorization.is_some()
            || self.tls_config != TlsConfig::default()
    }

    /// Problems with the values, each with its config path (Prometheus'
    /// rules for this section).
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if let Some(url) = &self.api_server {
            let ok = url
                .parse::<axum::http::Uri>()
                .ok()
                .is_some_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
            if !ok {
                errs.push(format!("{path}.api_server: {url:?} is not an http(s) URL"));
            }
        }
        if self.api_server.is_some() && self.kubeconfig_file.is_some() {
            errs.push(format!(
                "{path}: cannot use 'kubeconfig_file' and 'api_server' simultaneously"
            ));
        }
        if self.kubeconfig_file.is_some() && self.has_http_settings() {
            errs.push(format!(
                "{path}: cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
            ));
        }
        if self.api_server.is_none() && self.kubeconfig_file.is_none() && self.has_http_settings() {
            errs.push(format!(
                "{path}: to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
            ));
        }
        if self.namespaces.own_namespace && (self.api_server.is_some() || self.kubeconfig_file.is_some()) {
            errs.push(format!(
                "{path}.namespaces.own_namespace: only works with the in-cluster config (no 'api_server' or 'kubeconfig_file')"
            ));
        }
        if self.bearer_token_file.is_some() && self.authorization.is_some() {
            errs.push(format!(
                "{path}: at most one of bearer_token_file and authorization must be configured"
            ));
        }
        if let Some(a) = &self.authorization {
            if !a.kind.eq_ignore_ascii_case("bearer") {
                errs.push(format!(
                    "{path}.authorization.type: only Bearer is supported, got {:?}",
                    a.kind
                ));
            }
            if a.credentials.is_some() == a.credentials_file.is_some() {
                errs.push(format!(
                    "{path}.authorization: exactly one of credentials and credentials_file must be set"
                ));
            }
        }
        let mut seen = Vec::new();
        for (i, s) in self.selectors.iter().enumerate() {
            if seen.contains(&s.role) {
                errs.push(format!(
                    "{path}.selectors[{i}]: duplicated selector role: {}",
                    s.role.as_str()
                ));
            }
            seen.push(s.role);
            if !self.role.watched().contains(&s.role) {
                let allowed: Vec<&str> = self.role.watched().iter().map(|r| r.as_str()).collect();
                errs.push(format!(
                    "{path}.selectors[{i}]: {} role supports only {} selectors",
                    self.role.as_str(),
                    allowed.join(", ")
                ));
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> KubernetesSdConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn prometheus_rules_are_enforced() {
        assert!(cfg("role: pod").validate("k").is_empty());
        assert!(
            cfg("role: endpoints\nselectors: [{role: pod, label: 'a=b'}, {role: service}]")
                .validate("k")
                .is_empty()
        );
        let bad = cfg(
            "role: pod\napi_server: 'https://k:6443'\nkubeconfig_file: /k\nnamespaces: {own_namespace: true}\n\
             selectors: [{role: node}, {role: node}]\nbearer_token_file: /t\n\
             authorization: {type: Basic}\n",
        );
        let errs = bad.validate("k").join("\n");
        for needle in [
            "cannot use 'kubeconfig_file' and 'api_server'",
            "custom HTTP client configuration together with 'kubeconfig_file'",
            "own_namespace",
            "duplicated selector role: node",
            "pod role supports only pod selectors",
            "at most one of bearer_token_file and authorization",
            "only Bearer",
            "exactly one of credentials and credentials_file",
        ] {
            assert!(errs.contains(needle), "missing {needle:?} in\n{errs}");
        }
        let errs = cfg("role: node\ntls_config: {insecure_skip_verify: true}").validate("k");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("provide the 'api_server'"));
        assert!(!cfg("role: node\napi_server: 'nope'").validate("k").is_empty());
        assert!(
            cfg("role: ingress\nselectors: [{role: ingress, label: 'a=b'}]")
                .validate("k")
                .is_empty()
        );
        assert!(serde_yaml::from_str::<KubernetesSdConfig>("role: gateway").is_err());
    }
}
