//! `tls_config` as a rustls client config on the ring provider (the one
//! kube uses too, so the binary carries one TLS stack).
//!
//! The PEM files are read by [`TlsMaterial::load`]; the scrape client reads
//! them before every scrape and rebuilds its connection pool only when
//! their contents changed, so rotated certificates are picked up the way
//! Prometheus picks them up.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme, version};

use super::config::{TlsConfig, TlsVersion};

/// The crypto provider of every TLS connection Sluice makes.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The PEM contents of a `tls_config` (inline or read from its files).
#[derive(Default, Hash)]
pub(crate) struct TlsMaterial {
    ca: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
}

impl TlsMaterial {
    /// Reads the files; errors name the file, never its contents.
    pub(crate) fn load(cfg: &TlsConfig) -> Result<TlsMaterial, String> {
        let read =
            |what: &str, inline: Option<&str>, file: &Option<String>| -> Result<Option<Vec<u8>>, String> {
                match (inline, file) {
                    (Some(s), _) => Ok(Some(s.as_bytes().to_vec())),
                    (None, Some(f)) => std::fs::read(f)
                        .map(Some)
                        .map_err(|e| format!("unable to read {what} {f}: {e}")),
                    (None, None) => Ok(None),
                }
            };
        Ok(TlsMaterial {
            ca: read("ca_file", cfg.ca.as_deref(), &cfg.ca_file)?,
            cert: read("cert_file", cfg.cert.as_deref(), &cfg.cert_file)?,
            key: read("key_file", cfg.key.as_ref().map(|k| k.expose()), &cfg.key_file)?,
        })
    }

    /// A fingerprint of the contents, to notice rotated files.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// The rustls client config for `cfg` with the PEM contents `m`.
pub(crate) fn client_config(cfg: &TlsConfig, m: &TlsMaterial) -> Result<ClientConfig, String> {
    let provider = provider();
    // rustls speaks TLS 1.2 and 1.3; TLS10/TLS11 as a minimum allow both.
    let mut versions = vec![&version::TLS12, &version::TLS13];
    if cfg.min_version == Some(TlsVersion::Tls13) {
        versions.retain(|v| v.version == rustls::ProtocolVersion::TLSv1_3);
    }
    if cfg.max_version == Some(TlsVersion::Tls12) {
        versions.retain(|v| v.version == rustls::ProtocolVersion::TLSv1_2);
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = if cfg.insecure_skip_verify {
        Arc::new(NoVerification(algorithms))
    } else {
        let mut roots = RootCertStore::empty();
        match &m.ca {
            Some(pem) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("ca_file: {e}"))?;
                if certs.is_empty() {
                    return Err("no certificates found in ca_file".into());
                }
                for c in certs {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca_file: invalid certificate: {e}"))?;
                }
            }
            None => {
                // The system's roots, as Prometheus uses without ca_file.
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
            }
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("certificate verifier: {e}"))?;
        match &cfg.server_name {
            Some(name) => {
                let name =
                    ServerName::try_from(name.clone()).map_err(|e| format!("server_name {name:?}: {e}"))?;
                Arc::new(NameOverride { inner: webpki, name })
            }
            None => webpki,
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut config = match (&m.cert, &m.key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("cert_file: {e}"))?;
            if chain.is_empty() {
                return Err("no certificates found in cert_file".into());
            }
            // Only the kind of failure: a PEM error may quote a line of
            // the key.
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no private key found in key_file".to_string(),
                _ => "key_file: not a valid PEM private key".to_string(),
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Verifies the certificate for the configured `server_name` instead of the
/// URL's host (Prometheus' `tls_config.server_name`).
#[derive(Debug)]
struct NameOverride {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify: true`: any certificate is accepted (the handshake
/// signatures are still checked, so the session is encrypted to whoever
/// holds the presented key).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
