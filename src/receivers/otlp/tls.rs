//! Server-side TLS for both OTLP servers, built with rustls (ring) from a configtls
//! `ServerConfig`: certificate and key from files or PEM text, optional client certificate
//! verification (`client_ca_file`), TLS version bounds, a TLS 1.2 cipher suite allow-list,
//! and periodic certificate reloading (`reload_interval`), checked lazily at handshake time
//! as otelcol does.
//!
//! Not implemented: TLS 1.0/1.1 (rustls does not speak them; a `min_version` below 1.2 acts as
//! 1.2), `curve_preferences`, reloading the client CA file, and TPM-held keys.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::config::{tls_version, TlsServerConfig};

/// ALPN for the gRPC server.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN for the HTTP server (h2 first, as Go's `http2.NextProtoTLS, "http/1.1"`).
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Builds the rustls server config. Errors name the file or setting at fault.
pub fn server_config(cfg: &TlsServerConfig, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(provider_with_suites(&cfg.cipher_suites)?);
    let versions = protocol_versions(cfg)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("invalid TLS configuration: {e}"))?;
    let builder = if cfg.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let pem = std::fs::read(&cfg.client_ca_file).map_err(|e| {
            format!(
                "failed to load client CA CertPool: failed to load CA {}: {e}",
                cfg.client_ca_file
            )
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| format!("failed to load client CA {}: {e}", cfg.client_ca_file))?;
            roots
                .add(cert)
                .map_err(|e| format!("failed to load client CA {}: {e}", cfg.client_ca_file))?;
        }
        if roots.is_empty() {
            return Err(format!(
                "failed to load client CA {}: no certificates found",
                cfg.client_ca_file
            ));
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| format!("failed to load client CA {}: {e}", cfg.client_ca_file))?;
        builder.with_client_cert_verifier(verifier)
    };
    let source = CertSource::from_config(cfg)?;
    let reloader = CertReloader::new(source, cfg.reload_interval.0, provider)?;
    let mut config = builder.with_cert_resolver(Arc::new(reloader));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn protocol_versions(
    cfg: &TlsServerConfig,
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let min = tls_version(&cfg.min_version)
        .map_err(|e| format!("invalid TLS min_version: {e}"))?
        .unwrap_or((1, 2));
    let max = tls_version(&cfg.max_version)
        .map_err(|e| format!("invalid TLS max_version: {e}"))?
        .unwrap_or((1, 3));
    if min < (1, 2) {
        tracing::warn!(
            min_version = cfg.min_version.as_str(),
            "TLS versions below 1.2 are not supported; using 1.2 as the minimum."
        );
    }
    let mut v = Vec::new();
    if min <= (1, 2) && max >= (1, 2) {
        v.push(&rustls::version::TLS12);
    }
    if max >= (1, 3) {
        v.push(&rustls::version::TLS13);
    }
    if v.is_empty() {
        return Err(format!(
            "invalid TLS configuration: no TLS version between min_version {:?} and max_version {:?} is supported",
            cfg.min_version, cfg.max_version
        ));
    }
    Ok(v)
}

/// The ring provider, with its TLS 1.2 suites restricted to `names` when given (TLS 1.3 suites
/// are not configurable, as in Go). Names use the IANA spelling Go uses.
fn provider_with_suites(names: &[String]) -> Result<CryptoProvider, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let known: Vec<String> = provider
        .cipher_suites
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    for n in names {
        if !known.iter().any(|k| k == n) {
            tracing::warn!(
                cipher_suite = n.as_str(),
                "TLS cipher suite is not available in ferrocol; ignoring it."
            );
        }
    }
    provider.cipher_suites.retain(|s| {
        s.version() == &rustls::version::TLS13
            || names.iter().any(|n| *n == format!("{:?}", s.suite()))
    });
    Ok(provider)
}

#[derive(Clone)]
enum CertSource {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: String, key: String },
}

impl CertSource {
    fn from_config(cfg: &TlsServerConfig) -> Result<Self, String> {
        if !cfg.cert_file.is_empty() && !cfg.key_file.is_empty() {
            Ok(Self::Files {
                cert: PathBuf::from(&cfg.cert_file),
                key: PathBuf::from(&cfg.key_file),
            })
        } else if !cfg.cert_pem.is_empty() && !cfg.key_pem.is_empty() {
            Ok(Self::Pem {
                cert: cfg.cert_pem.clone(),
                key: cfg.key_pem.clone(),
            })
        } else if !cfg.cert_file.is_empty() && !cfg.key_pem.is_empty() {
            let cert = std::fs::read_to_string(&cfg.cert_file)
                .map_err(|e| format!("failed to load TLS cert file {}: {e}", cfg.cert_file))?;
            Ok(Self::Pem {
                cert,
                key: cfg.key_pem.clone(),
            })
        } else if !cfg.cert_pem.is_empty() && !cfg.key_file.is_empty() {
            let key = std::fs::read_to_string(&cfg.key_file)
                .map_err(|e| format!("failed to load TLS key file {}: {e}", cfg.key_file))?;
            Ok(Self::Pem {
                cert: cfg.cert_pem.clone(),
                key,
            })
        } else {
            Err(
                "a TLS server needs a certificate and key (cert_file/key_file or cert_pem/key_pem)"
                    .into(),
            )
        }
    }

    fn load(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
        let (cert_pem, key_pem, cert_name, key_name) = match self {
            CertSource::Files { cert, key } => (
                std::fs::read(cert)
                    .map_err(|e| format!("failed to load TLS cert file {}: {e}", cert.display()))?,
                std::fs::read(key)
                    .map_err(|e| format!("failed to load TLS key file {}: {e}", key.display()))?,
                cert.display().to_string(),
                key.display().to_string(),
            ),
            CertSource::Pem { cert, key } => (
                cert.as_bytes().to_vec(),
                key.as_bytes().to_vec(),
                "cert_pem".to_string(),
                "key_pem".to_string(),
            ),
        };
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("failed to parse TLS certificate {cert_name}: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "failed to parse TLS certificate {cert_name}: no certificate found"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| format!("failed to parse TLS private key {key_name}: {e}"))?;
        let ck = CertifiedKey::from_der(certs, key, provider).map_err(|e| {
            format!("failed to load TLS certificate {cert_name} with key {key_name}: {e}")
        })?;
        Ok(Arc::new(ck))
    }
}

/// Serves the current certificate and re-reads it once `interval` has passed since the last
/// load (on the next handshake). A failed reload keeps the previous certificate.
struct CertReloader {
    source: CertSource,
    interval: Option<Duration>,
    provider: Arc<CryptoProvider>,
    state: Mutex<(Instant, Arc<CertifiedKey>)>,
}

impl CertReloader {
    fn new(
        source: CertSource,
        interval: Duration,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let ck = source.load(&provider)?;
        Ok(Self {
            source,
            interval: (!interval.is_zero()).then_some(interval),
            provider,
            state: Mutex::new((Instant::now(), ck)),
        })
    }
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertReloader")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(every) = self.interval {
            if g.0.elapsed() >= every {
                g.0 = Instant::now();
                match self.source.load(&self.provider) {
                    Ok(ck) => {
                        g.1 = ck;
                        tracing::info!("Reloaded the TLS certificate.");
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = e.as_str(),
                            "Failed to reload the TLS certificate; keeping the previous one."
                        );
                    }
                }
            }
        }
        Some(Arc::clone(&g.1))
    }
}
