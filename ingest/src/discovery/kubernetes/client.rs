//! The Kubernetes client of a discovery: kubeconfig file, explicit API
//! server (with token and TLS settings), or the in-cluster service account.

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};

use super::config::KubernetesSdConfig;

/// A client and the namespace Sluice runs in (in-cluster only).
pub(crate) struct Connection {
    pub client: kube::Client,
    pub own_namespace: Option<String>,
}

/// Builds the client the config asks for.
pub(crate) async fn connect(cfg: &KubernetesSdConfig) -> Result<Connection, String> {
    let (config, own_namespace) = if let Some(path) = &cfg.kubeconfig_file {
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| format!("kubeconfig_file {path}: {e}"))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig_file {path}: {e}"))?;
        (config, None)
    } else if let Some(url) = &cfg.api_server {
        (api_server_config(cfg, url)?, None)
    } else {
        let config = kube::Config::incluster().map_err(|e| format!("in-cluster config: {e}"))?;
        // The service account's namespace, read by `incluster` from the
        // mounted secret.
        let ns = config.default_namespace.clone();
        (config, Some(ns))
    };
    let client = kube::Client::try_from(config).map_err(|e| format!("kubernetes client: {e}"))?;
    Ok(Connection {
        client,
        own_namespace,
    })
}

/// `api_server` with Prometheus' HTTP settings: a bearer token (file or
/// inline), a CA file, or no verification.
fn api_server_config(cfg: &KubernetesSdConfig, url: &str) -> Result<kube::Config, String> {
    let uri = url
        .parse::<axum::http::Uri>()
        .map_err(|e| format!("api_server {url:?}: {e}"))?;
    let mut config = kube::Config::new(uri);
    config.accept_invalid_certs = cfg.tls_config.insecure_skip_verify;
    if let Some(ca) = &cfg.tls_config.ca_file {
        config.root_cert_file = Some(ca.into());
    }
    let token_file = cfg.bearer_token_file.clone().or_else(|| {
        cfg.authorization
            .as_ref()
            .and_then(|a| a.credentials_file.clone())
    });
    let token = cfg
        .authorization
        .as_ref()
        .and_then(|a| a.credentials.as_ref())
        .map(|c| c.expose().to_string());
    // AuthInfo keeps tokens as secrets; building it through serde avoids
    // depending on the secrecy crate directly. A token file is re-read by
    // the client, so rotated service-account tokens keep working.
    let auth: AuthInfo = serde_json::from_value(serde_json::json!({
        "token": token,
        "tokenFile": token_file,
    }))
    .map_err(|e| format!("credentials: {e}"))?;
    config.auth_info = auth;
    Ok(config)
}
