//! The web config file, in the format of Prometheus' `--web.config.file`
//! (the Prometheus exporter-toolkit's), so an operator's existing file and
//! habits carry over:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional mTLS
//!   client_ca_file: ca.crt
//!   min_version: TLS12
//! http_server_config:
//!   headers: { Strict-Transport-Security: max-age=31536000 }
//! basic_auth_users:
//!   grafana: $2y$10$...   # bcrypt hash, as `htpasswd -nB` prints
//! ```
//!
//! Relative paths are relative to the file's directory, as in Prometheus.
//! Every problem in the file is reported at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

/// The parsed file, paths resolved; [`crate::WebSecurity::load`] turns it
/// into TLS and auth state.
#[derive(Debug, Default, Deserialize)]
pub struct WebConfigFile {
    /// HTTPS; absent means plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// Response headers.
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name → bcrypt hash; empty means no authentication.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, PasswordHash>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
pub struct TlsServerConfig {
    /// Server certificate chain (PEM).
    #[serde(default)]
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    #[serde(default)]
    pub key_file: PathBuf,
    /// Whether clients must present a certificate: Go's `tls.ClientAuthType`
    /// names.
    #[serde(default)]
    pub client_auth_type: ClientAuth,
    /// CAs that client certificates must chain to.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Oldest TLS version accepted (`TLS12` by default, as Prometheus).
    #[serde(default)]
    pub min_version: Option<String>,
    /// Newest TLS version accepted.
    #[serde(default)]
    pub max_version: Option<String>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
pub struct HttpServerConfig {
    /// Headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Accepted for compatibility; HTTP/2 is served over TLS whenever the
    /// client offers it.
    #[serde(default)]
    pub http2: Option<bool>,
}

/// A bcrypt hash. Never printed: `Debug` shows `<secret>`, as Prometheus
/// redacts it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Client-certificate policy, named as in Go's `crypto/tls`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// A certificate is asked for and, if given, must verify.
    VerifyClientCertIfGiven,
    /// A certificate must be given and verify.
    RequireAndVerifyClientCert,
    /// Go's "ask but do not verify" modes: refused at load time, since a
    /// certificate nobody verifies proves nothing.
    RequestClientCert,
    /// See [`ClientAuth::RequestClientCert`].
    RequireAnyClientCert,
}

/// TLS protocol versions rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl FromStr for TlsVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{s} is not supported (TLS 1.2 is the oldest Sluice speaks)"
            )),
            other => Err(format!("unknown TLS version {other:?} (expected TLS12 or TLS13)")),
        }
    }
}

impl WebConfigFile {
    /// Reads and checks `path`; `Err` lists every problem, one per line.
    pub fn load(path: &Path) -> Result<WebConfigFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let mut cfg = Self::parse(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        let errs = cfg.validate();
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(errs.join("\n"))
        }
    }

    /// Parses the YAML; unknown keys are errors (a misspelt `basic_auth_users`
    /// would otherwise leave the server open), all reported together.
    pub fn parse(text: &str) -> Result<WebConfigFile, String> {
        if text.trim().is_empty() {
            return Ok(WebConfigFile::default());
        }
        let mut unknown = Vec::new();
        let de = serde_yaml::Deserializer::from_str(text);
        let cfg: WebConfigFile = serde_ignored::deserialize(de, |p| {
            // `?` marks the step through an Option; users never wrote it.
            unknown.push(p.to_string().replace(".?", ""))
        })
        .map_err(|e| format!("parsing the web config: {e}"))?;
        if unknown.is_empty() {
            Ok(cfg)
        } else {
            Err(unknown
                .iter()
                .map(|k| format!("{k}: unknown field"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(tls) = &mut self.tls_server_config {
            for p in [&mut tls.cert_file, &mut tls.key_file]
                .into_iter()
                .chain(tls.client_ca_file.as_mut())
            {
                if !p.as_os_str().is_empty() && p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
    }

    /// Problems that YAML types cannot express, each with its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for (user, hash) in &self.basic_auth_users {
            if user.is_empty() {
                errs.push("basic_auth_users: user names must not be empty".to_string());
            }
            if bcrypt::HashParts::from_str(&hash.0).is_err() {
                errs.push(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (expected `$2y$…`, as `htpasswd -nB` prints)"
                ));
            }
        }
        for name in self.http_server_config.headers.keys() {
            if axum::http::HeaderName::from_str(name).is_err() {
                errs.push(format!(
                    "http_server_config.headers: {name:?} is not a valid header name"
                ));
            }
        }
        if let Some(tls) = &self.tls_server_config {
            errs.extend(tls.validate());
        }
        errs
    }
}

impl TlsServerConfig {
    fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        for (key, path) in [("cert_file", &self.cert_file), ("key_file", &self.key_file)] {
            if path.as_os_str().is_empty() {
                errs.push(format!("tls_server_config.{key}: required"));
            } else if let Err(e) = std::fs::metadata(path) {
                errs.push(format!("tls_server_config.{key}: {}: {e}", path.display()));
            }
        }
        match (self.client_auth_type, &self.client_ca_file) {
            (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, _) => errs.push(format!(
                "tls_server_config.client_auth_type: {:?} is not supported (it accepts certificates nobody verifies); \
                 use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                self.client_auth_type
            )),
            (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, None) => errs.push(
                "tls_server_config.client_ca_file: required when client certificates are verified".to_string(),
            ),
            (ClientAuth::NoClientCert, Some(_)) => errs.push(
                "tls_server_config.client_ca_file: set, but client_auth_type is NoClientCert; \
                 set client_auth_type to verify client certificates"
                    .to_string(),
            ),
            _ => {}
        }
        if let Some(ca) = &self.client_ca_file
            && let Err(e) = std::fs::metadata(ca)
        {
            errs.push(format!("tls_server_config.client_ca_file: {}: {e}", ca.display()));
        }
        let versions = [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ]
        .map(|(key, v)| (key, v.as_deref().map(TlsVersion::from_str)));
        for (key, v) in &versions {
            if let Some(Err(e)) = v {
                errs.push(format!("tls_server_config.{key}: {e}"));
            }
        }
        if let [(_, Some(Ok(min))), (_, Some(Ok(max)))] = versions
            && min > max
        {
            errs.push("tls_server_config: min_version is newer than max_version".to_string());
        }
        errs
    }

    /// The versions to offer, after [`WebConfigFile::validate`] accepted them.
    pub fn versions(&self) -> Vec<TlsVersion> {
        let min = self
            .min_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(TlsVersion::Tls12);
        let max = self
            .max_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(TlsVersion::Tls13);
        [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| (min..=max).contains(v))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        let cfg = WebConfigFile::parse("").unwrap();
        assert!(cfg.tls_server_config.is_none() && cfg.basic_auth_users.is_empty());
    }

    #[test]
    fn every_problem_is_reported_together() {
        let cfg = WebConfigFile::parse(
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS11\n\
             basic_auth_users:\n  alice: plaintext\nhttp_server_config:\n  headers:\n    \"bad header\": x\n",
        )
        .unwrap();
        let errs = cfg.validate().join("\n");
        for want in [
            "basic_auth_users.alice: not a bcrypt hash",
            "tls_server_config.cert_file: /nonexistent/c.pem",
            "tls_server_config.key_file: required",
            "tls_server_config.client_ca_file: required",
            "tls_server_config.min_version: TLS11 is not supported",
            "\"bad header\" is not a valid header name",
        ] {
            assert!(errs.contains(want), "missing {want:?} in:\n{errs}");
        }
    }

    #[test]
    fn unknown_keys_are_errors_not_silently_open_servers() {
        let err = WebConfigFile::parse("basic_auth_user:\n  alice: x\ntls_server_config:\n  certfile: a\n")
            .unwrap_err();
        assert!(err.contains("basic_auth_user: unknown field"), "{err}");
        assert!(err.contains("tls_server_config.certfile: unknown field"), "{err}");
    }

    #[test]
    fn hashes_are_never_printed() {
        let cfg = WebConfigFile::parse(
            "basic_auth_users:\n  alice: $2y$10$abcdefghijklmnopqrstuu5pGl.gyeJ5m6gPdwS9nVxcEyrsX9fW6\n",
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(shown.contains("<secret>") && !shown.contains("$2y$"), "{shown}");
    }

    #[test]
    fn version_range_is_inclusive() {
        let tls = TlsServerConfig {
            min_version: Some("TLS13".into()),
            ..TlsServerConfig::default()
        };
        assert_eq!(tls.versions(), vec![TlsVersion::Tls13]);
        assert_eq!(
            TlsServerConfig::default().versions(),
            vec![TlsVersion::Tls12, TlsVersion::Tls13]
        );
    }
}
