//! How Sluice serves HTTP: every listener of a process (query API, receivers,
//! health endpoints) goes through [`serve`], so TLS, basic auth and response
//! headers from one web config file (Prometheus' `--web.config.file`
//! format, [`config`]) apply to all of them alike — including `/-/healthy`
//! and `/-/ready`, as in Prometheus (Kubernetes probes send the header).

pub mod config;

mod auth;
mod tls;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue};
use tokio::net::TcpListener;

pub use config::WebConfigFile;
pub use tls::TlsListener;

/// TLS and auth state loaded from a web config file; the default serves
/// plain HTTP to everyone.
#[derive(Clone, Default)]
pub struct WebSecurity {
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: Option<Arc<auth::BasicAuth>>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for WebSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSecurity")
            .field("tls", &self.tls.is_some())
            .field("basic_auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl WebSecurity {
    /// Reads `path` (Prometheus' web config format); `Err` lists every
    /// problem found, one per line.
    pub fn load(path: &Path) -> Result<WebSecurity, String> {
        let file = WebConfigFile::load(path).map_err(|e| format!("{}:\n{e}", path.display()))?;
        Self::from_file(file).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Builds the state from a checked file.
    pub fn from_file(file: WebConfigFile) -> Result<WebSecurity, String> {
        let tls = file
            .tls_server_config
            .as_ref()
            .map(tls::server_config)
            .transpose()?;
        let auth = (!file.basic_auth_users.is_empty())
            .then(|| Arc::new(auth::BasicAuth::new(file.basic_auth_users)));
        let mut headers = Vec::new();
        for (name, value) in file.http_server_config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| format!("http_server_config.headers: {name:?}: {e}"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| format!("http_server_config.headers.{name}: {e}"))?;
            headers.push((name, value));
        }
        Ok(WebSecurity { tls, auth, headers })
    }

    /// `https` when TLS is on, for log lines and links.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Whether `basic_auth_users` is set: every listener then asks for a
    /// user and password.
    pub fn requires_password(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether `user` and `password` match `basic_auth_users` (bcrypt, with
    /// the same verdict cache as HTTP basic auth); false when no users are
    /// configured. For listeners that are not HTTP (the Postgres one).
    pub async fn check_password(&self, user: &str, password: &str) -> bool {
        match &self.auth {
            Some(a) => a.check(user.to_string(), password.to_string()).await,
            None => false,
        }
    }

    /// The TLS settings of `tls_server_config`, if set, for listeners that
    /// are not HTTP (they set their own ALPN protocols on a copy).
    pub fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.tls.clone()
    }

    /// `app` behind the auth check and with the configured headers.
    pub fn protect(&self, app: Router) -> Router {
        let app = match &self.auth {
            Some(a) => {
                let a = a.clone();
                app.layer(axum::middleware::from_fn(move |req, next| {
                    auth::require(a.clone(), req, next)
                }))
            }
            None => app,
        };
        if self.headers.is_empty() {
            return app;
        }
        let headers = self.headers.clone();
        app.layer(axum::middleware::map_response(
            move |mut resp: axum::response::Response| {
                let headers = headers.clone();
                async move {
                    for (k, v) in headers {
                        resp.headers_mut().insert(k, v);
                    }
                    resp
                }
            },
        ))
    }
}

/// Serves `app` on `listener` with `web`'s TLS and auth until `shutdown`
/// completes, then lets in-flight requests finish.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    web: &WebSecurity,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = web.protect(app);
    match &web.tls {
        Some(cfg) => {
            let tls = TlsListener::new(listener, cfg.clone())?;
            axum::serve(tls, app).with_graceful_shutdown(shutdown).await
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
    }
}
