//! Prometheus' HTTP client settings of a scrape config (`basic_auth`,
//! `authorization`, `bearer_token[_file]`, `tls_config`), with its key
//! names, defaults and validation messages.
//!
//! Secrets are [`Secret`]s: their `Debug` and `Serialize` print `<secret>`,
//! so a config that is logged or shown never reveals them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize, Serializer};

/// A secret from the config (password, token, private key). It is never
/// printed: `Debug` and `Serialize` give `<secret>`, as Prometheus does.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret's value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// `basic_auth:` — `Authorization: Basic` with a username and password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BasicAuth {
    /// The username.
    #[serde(default)]
    pub username: String,
    /// A file holding the username (re-read on every scrape).
    #[serde(default)]
    pub username_file: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password (re-read on every scrape).
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `authorization:` — `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// The scheme (default `Bearer`).
    #[serde(rename = "type", default = "default_auth_type")]
    pub kind: String,
    /// The credentials.
    #[serde(default)]
    pub credentials: Option<Secret>,
    /// A file holding the credentials (re-read on every scrape, so rotated
    /// tokens work).
    #[serde(default)]
    pub credentials_file: Option<String>,
}

fn default_auth_type() -> String {
    "Bearer".into()
}

/// A TLS protocol version as Prometheus names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TlsVersion {
    /// TLS 1.0 (rustls speaks 1.2 and 1.3 only: as a minimum it means 1.2).
    #[serde(rename = "TLS10")]
    Tls10,
    /// TLS 1.1 (as a minimum it means 1.2, see `Tls10`).
    #[serde(rename = "TLS11")]
    Tls11,
    /// TLS 1.2.
    #[serde(rename = "TLS12")]
    Tls12,
    /// TLS 1.3.
    #[serde(rename = "TLS13")]
    Tls13,
}

/// `tls_config:` for `https` targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// PEM CA certificates, inline.
    #[serde(default)]
    pub ca: Option<String>,
    /// A PEM file of CA certificates that sign the targets' certificates
    /// (default: the system's roots).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate (PEM), inline.
    #[serde(default)]
    pub cert: Option<String>,
    /// Client certificate file (PEM) for mutual TLS.
    #[serde(default)]
    pub cert_file: Option<String>,
    /// Client key (PEM), inline.
    #[serde(default)]
    pub key: Option<Secret>,
    /// Client key file (PEM).
    #[serde(default)]
    pub key_file: Option<String>,
    /// The name the target's certificate must be valid for (default: the
    /// host of the URL).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Do not verify the target's certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Lowest TLS version accepted.
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version offered.
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
}

/// The HTTP client settings of one scrape config, gathered from its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpClientConfig {
    /// `basic_auth:`
    pub basic_auth: Option<BasicAuth>,
    /// `authorization:`
    pub authorization: Option<Authorization>,
    /// `bearer_token:` (Prometheus' older spelling of `authorization`).
    pub bearer_token: Option<Secret>,
    /// `bearer_token_file:`
    pub bearer_token_file: Option<String>,
    /// `tls_config:`
    pub tls_config: TlsConfig,
}

impl HttpClientConfig {
    /// Problems with the settings, each with its config path under `path`,
    /// in Prometheus' words. Files that exist but cannot be read (or, for
    /// TLS, parsed) are reported too; a file that does not exist yet is not
    /// an error here — like Prometheus' server, Sluice reads it at every
    /// scrape, and Kubernetes mounts secrets at paths that exist only
    /// inside the pod — the scrape reports it (`up` 0) while it is missing.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            errs.push(format!(
                "{path}: at most one of bearer_token & bearer_token_file must be configured"
            ));
        }
        if self.basic_auth.is_some() && bearer {
            errs.push(format!(
                "{path}: at most one of basic_auth, bearer_token & bearer_token_file must be configured"
            ));
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            errs.push(format!(
                "{path}: at most one of basic_auth & authorization must be configured"
            ));
        }
        if self.authorization.is_some() && bearer {
            errs.push(format!(
                "{path}: authorization is not compatible with bearer_token & bearer_token_file"
            ));
        }
        if let Some(b) = &self.basic_auth {
            let p = format!("{path}.basic_auth");
            if !b.username.is_empty() && b.username_file.is_some() {
                errs.push(format!(
                    "{p}: at most one of basic_auth username & username_file must be configured"
                ));
            }
            if b.password.is_some() && b.password_file.is_some() {
                errs.push(format!(
                    "{p}: at most one of basic_auth password & password_file must be configured"
                ));
            }
            check_readable(&mut errs, &format!("{p}.username_file"), &b.username_file);
            check_readable(&mut errs, &format!("{p}.password_file"), &b.password_file);
        }
        if let Some(a) = &self.authorization {
            let p = format!("{path}.authorization");
            if a.kind.eq_ignore_ascii_case("basic") {
                errs.push(format!(
                    "{p}.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                ));
            } else if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
                errs.push(format!(
                    "{p}.type: {:?} is not a valid authorization type",
                    a.kind
                ));
            }
            if a.credentials.is_some() && a.credentials_file.is_some() {
                errs.push(format!(
                    "{p}: at most one of authorization credentials & credentials_file must be configured"
                ));
            }
            check_readable(&mut errs, &format!("{p}.credentials_file"), &a.credentials_file);
        }
        check_readable(
            &mut errs,
            &format!("{path}.bearer_token_file"),
            &self.bearer_token_file,
        );
        errs.extend(self.tls_config.validate(&format!("{path}.tls_config")));
        errs
    }

    /// Makes relative file names relative to `base` (the config file's
    /// directory), as Prometheus does.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |f: &mut Option<String>| {
            if let Some(p) = f
                && !Path::new(p.as_str()).is_absolute()
            {
                *p = base.join(&*p).display().to_string();
            }
        };
        if let Some(b) = &mut self.basic_auth {
            fix(&mut b.username_file);
            fix(&mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            fix(&mut a.credentials_file);
        }
        fix(&mut self.bearer_token_file);
        let t = &mut self.tls_config;
        fix(&mut t.ca_file);
        fix(&mut t.cert_file);
        fix(&mut t.key_file);
    }
}

impl TlsConfig {
    /// Problems with the TLS settings; the files are read and parsed.
    pub fn validate(&self, path: &str) -> Vec<String> {
        let mut errs = Vec::new();
        if self.ca.is_some() && self.ca_file.is_some() {
            errs.push(format!(
                "{path}: at most one of ca and ca_file must be configured"
            ));
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            errs.push(format!(
                "{path}: at most one of cert and cert_file must be configured"
            ));
        }
        if self.key.is_some() && self.key_file.is_some() {
            errs.push(format!(
                "{path}: at most one of key and key_file must be configured"
            ));
        }
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = self.key.is_some() || self.key_file.is_some();
        if has_cert && !has_key {
            errs.push(format!(
                "{path}: exactly one of key or key_file must be configured when a client certificate in cert or cert_file is specified"
            ));
        }
        if has_key && !has_cert {
            errs.push(format!(
                "{path}: exactly one of cert or cert_file must be configured when a client key in key or key_file is specified"
            ));
        }
        if let (Some(min), Some(max)) = (self.min_version, self.max_version)
            && min > max
        {
            errs.push(format!(
                "{path}: max_version must be greater than or equal to min_version"
            ));
        }
        if self.max_version.is_some_and(|v| v < TlsVersion::Tls12) {
            errs.push(format!(
                "{path}.max_version: TLS versions below TLS12 are not supported"
            ));
        }
        if let Some(name) = &self.server_name
            && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            errs.push(format!(
                "{path}.server_name: {name:?} is not a valid DNS name or IP address"
            ));
        }
        if !errs.is_empty() {
            return errs;
        }
        // Read and parse what is there, so a broken PEM is reported when
        // the config is loaded, not at the first scrape. Files that do not
        // exist yet (secrets mounted in a pod) are left to the scrape.
        let files = [&self.ca_file, &self.cert_file, &self.key_file];
        if files.into_iter().flatten().any(|f| !Path::new(f).exists()) {
            return errs;
        }
        match super::tls::TlsMaterial::load(self) {
            Ok(m) => {
                if let Err(e) = super::tls::client_config(self, &m) {
                    errs.push(format!("{path}: {e}"));
                }
            }
            Err(e) => errs.push(format!("{path}: {e}")),
        }
        errs
    }
}

/// A file that exists must be readable; one that does not exist yet is
/// the scrape's to report.
fn check_readable(errs: &mut Vec<String>, path: &str, file: &Option<String>) {
    if let Some(f) = file
        && let Err(e) = std::fs::read(PathBuf::from(f))
        && e.kind() != std::io::ErrorKind::NotFound
    {
        errs.push(format!("{path}: unable to read file {f}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(yaml: &str) -> HttpClientConfig {
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default)]
            basic_auth: Option<BasicAuth>,
            #[serde(default)]
            authorization: Option<Authorization>,
            #[serde(default)]
            bearer_token: Option<Secret>,
            #[serde(default)]
            bearer_token_file: Option<String>,
            #[serde(default)]
            tls_config: TlsConfig,
        }
        let k: Keys = serde_yaml::from_str(yaml).unwrap();
        HttpClientConfig {
            basic_auth: k.basic_auth,
            authorization: k.authorization,
            bearer_token: k.bearer_token,
            bearer_token_file: k.bearer_token_file,
            tls_config: k.tls_config,
        }
    }

    #[test]
    fn secrets_never_show_in_debug_or_serialized_output() {
        let c = http(
            "basic_auth: {username: u, password: hunter2}\n\
             tls_config: {key: 'PRIVATE-KEY-TEXT'}\nbearer_token: tok-123",
        );
        let debug = format!("{c:?}");
        for secret in ["hunter2", "PRIVATE-KEY-TEXT", "tok-123"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("<secret>"));
        let yaml = serde_yaml::to_string(&c.basic_auth).unwrap();
        assert!(!yaml.contains("hunter2") && yaml.contains("<secret>"), "{yaml}");
    }

    #[test]
    fn every_conflict_is_reported_at_once() {
        let c = http(
            "basic_auth: {username: u, username_file: /dev/null, password: p, password_file: /}\n\
             authorization: {type: basic, credentials: c, credentials_file: /dev/null}\n\
             bearer_token: t\nbearer_token_file: /nonexistent/token\n",
        );
        let errs = c.validate("scrape_configs[0]");
        let expected = [
            "scrape_configs[0]: at most one of bearer_token & bearer_token_file must be configured",
            "scrape_configs[0]: at most one of basic_auth, bearer_token & bearer_token_file must be configured",
            "scrape_configs[0]: at most one of basic_auth & authorization must be configured",
            "scrape_configs[0]: authorization is not compatible with bearer_token & bearer_token_file",
            "scrape_configs[0].basic_auth: at most one of basic_auth username & username_file must be configured",
            "scrape_configs[0].basic_auth: at most one of basic_auth password & password_file must be configured",
            "scrape_configs[0].basic_auth.password_file: unable to read file /",
            "scrape_configs[0].authorization.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            "scrape_configs[0].authorization: at most one of authorization credentials & credentials_file must be configured",
        ];
        assert_eq!(errs.len(), expected.len(), "{errs:#?}");
        for (e, want) in errs.iter().zip(expected) {
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }
    }

    #[test]
    fn authorization_defaults_to_bearer() {
        let c = http("authorization: {credentials_file: /dev/null}");
        assert_eq!(c.authorization.as_ref().unwrap().kind, "Bearer");
        assert!(c.validate("j").is_empty());
    }

    #[test]
    fn tls_settings_are_checked_and_files_read_at_load() {
        let c = http(
            "tls_config: {ca: x, ca_file: /nonexistent/ca.pem, cert_file: /nonexistent/c.pem, \
             min_version: TLS13, max_version: TLS12, server_name: 'not a name'}",
        );
        let errs = c.validate("j");
        let expected = [
            "j.tls_config: at most one of ca and ca_file must be configured",
            "j.tls_config: exactly one of key or key_file must be configured when a client certificate",
            "j.tls_config: max_version must be greater than or equal to min_version",
            "j.tls_config.server_name: \"not a name\" is not a valid DNS name or IP address",
        ];
        assert_eq!(errs.len(), expected.len(), "{errs:#?}");
        for (e, want) in errs.iter().zip(expected) {
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        // A file that does not exist yet (a secret mounted in a pod) is
        // the scrape's to report, not the loader's.
        let c = http(&format!(
            "tls_config: {{ca_file: {}, cert_file: {}, key_file: /nonexistent/k.pem}}",
            junk.display(),
            junk.display()
        ));
        assert!(c.validate("j").is_empty());
        std::fs::write(dir.path().join("k.pem"), "junk").unwrap();
        let c = http(&format!("tls_config: {{ca_file: {}}}", junk.display()));
        let errs = c.validate("j");
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("no certificates found in ca_file"), "{errs:?}");
        assert!(
            http("tls_config: {insecure_skip_verify: true, min_version: TLS10}")
                .validate("j")
                .is_empty()
        );
    }

    #[test]
    fn relative_files_resolve_against_the_config_directory() {
        let mut c = http(
            "authorization: {credentials_file: tok}\ntls_config: {ca_file: /abs/ca.pem, cert_file: c.pem, key_file: k.pem}",
        );
        c.resolve_paths(Path::new("/etc/sluice"));
        assert_eq!(
            c.authorization.unwrap().credentials_file.as_deref(),
            Some("/etc/sluice/tok")
        );
        assert_eq!(c.tls_config.ca_file.as_deref(), Some("/abs/ca.pem"));
        assert_eq!(c.tls_config.cert_file.as_deref(), Some("/etc/sluice/c.pem"));
        assert_eq!(c.tls_config.key_file.as_deref(), Some("/etc/sluice/k.pem"));
    }
}
