//! TLS on loopback: a throwaway PKI made with Debian's `openssl` CLI at test
//! time (a CA, a server certificate for `metrics.sluice.test`, a client
//! certificate), and an exporter that speaks HTTPS and requires a client
//! certificate from that CA.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// The name on the server certificate (it has no IP address: a scrape of
/// 127.0.0.1 verifies only with `tls_config.server_name`).
pub(crate) const SERVER_NAME: &str = "metrics.sluice.test";

/// PEM files of a test PKI.
pub(crate) struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPki {
    /// Generates the CA and the two leaf certificates under `dir`; the
    /// server certificate names only [`SERVER_NAME`].
    pub(crate) fn generate(dir: &Path) -> TestPki {
        Self::generate_for(dir, &format!("DNS:{SERVER_NAME}"))
    }

    /// [`TestPki::generate`] with the server certificate's subjectAltName
    /// `server_san` (e.g. `IP:127.0.0.1`).
    pub(crate) fn generate_for(dir: &Path, server_san: &str) -> TestPki {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("ca.cnf"),
            "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = sluice test CA\n\
             [v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier = hash\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-config",
                "ca.cnf",
                "-extensions",
                "v3_ca",
            ],
        );
        for (name, usage, san) in [
            ("server", "serverAuth", server_san),
            ("client", "clientAuth", "DNS:sluice-scraper"),
        ] {
            std::fs::write(
                dir.join(format!("{name}.ext")),
                format!(
                    "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n\
                     extendedKeyUsage = {usage}\nsubjectAltName = {san}\n"
                ),
            )
            .unwrap();
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={}", san.split_once(':').map_or(san, |(_, v)| v)),
                ],
            );
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                ],
            );
        }
        TestPki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }
}

/// An HTTPS exporter (mutual TLS) serving a fixed exposition; one thread
/// per connection, closed after each response.
pub(crate) struct TlsExporter {
    pub port: u16,
    /// Requests answered over a verified TLS session.
    pub served: Arc<AtomicUsize>,
}

impl TlsExporter {
    pub(crate) fn start(pki: &TestPki, body: &str) -> TlsExporter {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let client_verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .unwrap();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
        let config = Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(client_verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let counter = served.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let (config, response, counter) = (config.clone(), response.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                    let Ok(conn) = ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = StreamOwned::new(conn, tcp);
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if tls
                        .write_all(response.as_bytes())
                        .and_then(|_| tls.flush())
                        .is_ok()
                    {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        TlsExporter { port, served }
    }

    pub(crate) fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
