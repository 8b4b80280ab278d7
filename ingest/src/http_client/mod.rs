//! The HTTP client of a scrape job: Prometheus' `basic_auth`,
//! `authorization`, `bearer_token[_file]` and `tls_config`.
//!
//! Each job has one [`ScrapeClient`]. Before every request it reads the
//! credential files (so a rotated token is used by the next scrape, as in
//! Prometheus) and the TLS files; the connection pool is rebuilt only when
//! the TLS files' contents changed. Credentials go into the request as
//! sensitive headers; errors name files, never their contents.
//!
//! TLS is rustls on the ring provider. reqwest is built without a provider
//! of its own, so a process must install ring as rustls' default
//! ([`install_crypto_provider`]) before it builds any plain
//! `reqwest::Client`; scrape clients carry their own config and do not
//! depend on it.

pub mod config;
pub(crate) mod tls;

use std::sync::Mutex;

use reqwest::header::{AUTHORIZATION, HeaderValue};

pub use config::{Authorization, BasicAuth, HttpClientConfig, Secret, TlsConfig, TlsVersion};
use tls::TlsMaterial;

/// Installs ring as the process' default rustls provider (idempotent).
/// reqwest clients built without their own TLS config need it.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client of one scrape job.
#[derive(Debug)]
pub struct ScrapeClient {
    settings: HttpClientConfig,
    /// The client built for the TLS files' contents with this fingerprint.
    cached: Mutex<Option<(u64, reqwest::Client)>>,
}

impl ScrapeClient {
    /// A client for `settings` (nothing is read until the first request).
    pub fn new(settings: HttpClientConfig) -> Self {
        ScrapeClient {
            settings,
            cached: Mutex::new(None),
        }
    }

    /// A GET request for `url` carrying the job's credentials, read now.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let req = self.client()?.get(url);
        self.authorize(req)
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        let material = TlsMaterial::load(&self.settings.tls_config)?;
        let fingerprint = material.fingerprint();
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((f, client)) = cached.as_ref()
            && *f == fingerprint
        {
            return Ok(client.clone());
        }
        let tls = tls::client_config(&self.settings.tls_config, &material)?;
        let client = reqwest::Client::builder()
            .gzip(true)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        *cached = Some((fingerprint, client.clone()));
        Ok(client)
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, String> {
        let s = &self.settings;
        if let Some(b) = &s.basic_auth {
            let username = match &b.username_file {
                Some(f) => read_trimmed(f, "basic auth username")?,
                None => b.username.clone(),
            };
            let password = match (&b.password_file, &b.password) {
                (Some(f), _) => read_trimmed(f, "basic auth password")?,
                (None, Some(p)) => p.expose().to_string(),
                (None, None) => String::new(),
            };
            // reqwest marks the header sensitive.
            return Ok(req.basic_auth(username, Some(password)));
        }
        let (kind, credentials) = if let Some(a) = &s.authorization {
            let c = match (&a.credentials_file, &a.credentials) {
                (Some(f), _) => read_trimmed(f, "authorization credentials")?,
                (None, Some(c)) => c.expose().to_string(),
                (None, None) => String::new(),
            };
            (a.kind.as_str(), c)
        } else if let Some(f) = &s.bearer_token_file {
            ("Bearer", read_trimmed(f, "bearer token")?)
        } else if let Some(t) = &s.bearer_token {
            ("Bearer", t.expose().to_string())
        } else {
            return Ok(req);
        };
        let mut value = HeaderValue::from_str(&format!("{kind} {credentials}")).map_err(|_| {
            "authorization credentials contain characters not allowed in an HTTP header".to_string()
        })?;
        value.set_sensitive(true);
        Ok(req.header(AUTHORIZATION, value))
    }
}

/// A credentials file's contents without surrounding whitespace (as
/// Prometheus reads them).
fn read_trimmed(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("unable to read {what} file {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(c: &ScrapeClient) -> Option<String> {
        let req = c.get("http://127.0.0.1:1/metrics").unwrap().build().unwrap();
        req.headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn credentials_files_are_read_for_every_request() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "first\n").unwrap();
        let c = ScrapeClient::new(HttpClientConfig {
            bearer_token_file: Some(token.display().to_string()),
            ..Default::default()
        });
        assert_eq!(header(&c).as_deref(), Some("Bearer first"));
        std::fs::write(&token, "second").unwrap();
        assert_eq!(header(&c).as_deref(), Some("Bearer second"));
        std::fs::remove_file(&token).unwrap();
        let err = c.get("http://127.0.0.1:1/metrics").unwrap_err();
        assert!(err.starts_with("unable to read bearer token file"), "{err}");
    }

    #[test]
    fn authorization_and_basic_auth_headers() {
        let c = ScrapeClient::new(HttpClientConfig {
            authorization: Some(Authorization {
                kind: "Token".into(),
                credentials: Some(Secret::new("abc")),
                credentials_file: None,
            }),
            ..Default::default()
        });
        assert_eq!(header(&c).as_deref(), Some("Token abc"));
        let c = ScrapeClient::new(HttpClientConfig {
            basic_auth: Some(BasicAuth {
                username: "user".into(),
                password: Some(Secret::new("pass")),
                ..Default::default()
            }),
            ..Default::default()
        });
        // base64("user:pass")
        assert_eq!(header(&c).as_deref(), Some("Basic dXNlcjpwYXNz"));
        let req = c.get("http://127.0.0.1:1/metrics").unwrap().build().unwrap();
        assert!(req.headers()[AUTHORIZATION].is_sensitive());
        assert!(!format!("{req:?}").contains("dXNlcjpwYXNz"));
        assert!(header(&ScrapeClient::new(HttpClientConfig::default())).is_none());
    }
}
