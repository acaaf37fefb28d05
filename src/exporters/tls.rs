//! Client TLS settings shared by the OTLP exporters (otelcol's `configtls.ClientConfig`):
//! the strict `tls:` config section, its validation, and loading it into rustls material
//! (a server certificate verifier, an optional client identity, allowed protocol versions).
//!
//! Trust: `ca_file`/`ca_pem` when given (plus the system pool with
//! `include_system_ca_certs_pool`), otherwise the system pool. `insecure_skip_verify` accepts
//! any server certificate (handshake signatures are still checked). `server_name_override`
//! is the name the certificate is verified against.
//!
//! Deliberately not done: `reload_interval` (files are read once, at build),
//! `cipher_suites` / `curve_preferences` (accepted; rustls' safe defaults are used), TLS 1.0
//! and 1.1 (rustls has neither: a `min_version` of 1.0 or 1.1 means 1.2).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::GoDuration;

/// The `tls:` section of a client. Every default is the zero value (TLS on, system roots).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// gRPC only: plaintext (unless a CA is configured). HTTP decides by the URL scheme.
    pub insecure: bool,
    pub insecure_skip_verify: bool,
    pub ca_file: String,
    pub ca_pem: String,
    pub cert_file: String,
    pub cert_pem: String,
    pub key_file: String,
    pub key_pem: String,
    pub server_name_override: String,
    pub min_version: String,
    pub max_version: String,
    pub include_system_ca_certs_pool: bool,
    /// Accepted, not implemented: certificates are read once, when the exporter is built.
    pub reload_interval: GoDuration,
    /// Accepted, not applied: rustls' default cipher suites are used.
    pub cipher_suites: Vec<String>,
    /// Accepted, not applied: rustls' default key exchange groups are used.
    pub curve_preferences: Vec<String>,
}

/// A TLS protocol version as written in configs (`"1.2"`), ordered.
fn parse_version(v: &str) -> Result<Option<u8>, String> {
    match v {
        "" => Ok(None),
        "1.0" => Ok(Some(0)),
        "1.1" => Ok(Some(1)),
        "1.2" => Ok(Some(2)),
        "1.3" => Ok(Some(3)),
        other => Err(format!("unsupported TLS version: {other:?}")),
    }
}

impl Validate for TlsClientConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        let p = format!("{path}::tls");
        if !self.ca_file.is_empty() && !self.ca_pem.is_empty() {
            errs.add(
                &p,
                "provide either a CA file or the PEM-encoded string, but not both",
            );
        }
        if !self.cert_file.is_empty() && !self.cert_pem.is_empty() {
            errs.add(
                &p,
                "provide either certificate or the PEM-encoded string, but not both",
            );
        }
        if !self.key_file.is_empty() && !self.key_pem.is_empty() {
            errs.add(
                &p,
                "provide either key or the PEM-encoded string, but not both",
            );
        }
        if self.has_cert() != self.has_key() {
            errs.add(
                &p,
                "for auth via TLS, provide both certificate and key, or neither",
            );
        }
        let min = parse_version(&self.min_version);
        let max = parse_version(&self.max_version);
        if let Err(e) = &min {
            errs.add(&p, format!("invalid TLS min_version: {e}"));
        }
        if let Err(e) = &max {
            errs.add(&p, format!("invalid TLS max_version: {e}"));
        }
        if let (Ok(Some(min)), Ok(Some(max))) = (&min, &max) {
            if min > max {
                errs.add(
                    &p,
                    "invalid TLS configuration: min_version cannot be greater than max_version",
                );
            }
        }
        if let Ok(Some(max)) = max {
            if max < 2 {
                errs.add(
                    &p,
                    format!(
                        "TLS max_version {:?} is not supported by ferrocol (TLS 1.2 is the oldest it speaks)",
                        self.max_version
                    ),
                );
            }
        }
    }
}

/// Why TLS material could not be loaded (a build error).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to load CA CertPool File: failed to read {path:?}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to load {what}: failed to read {path:?}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("failed to parse {what}: {message}")]
    Parse { what: &'static str, message: String },
    #[error("invalid server_name_override {0:?}")]
    ServerName(String),
    #[error("failed to build the TLS client configuration: {0}")]
    Rustls(String),
}

impl TlsClientConfig {
    fn has_ca(&self) -> bool {
        !self.ca_file.is_empty() || !self.ca_pem.is_empty()
    }
    fn has_cert(&self) -> bool {
        !self.cert_file.is_empty() || !self.cert_pem.is_empty()
    }
    fn has_key(&self) -> bool {
        !self.key_file.is_empty() || !self.key_pem.is_empty()
    }

    /// The gRPC decision (configgrpc): TLS unless `insecure: true` without a CA.
    pub fn grpc_uses_tls(&self) -> bool {
        !self.insecure || self.has_ca()
    }

    /// Reads the files and builds the verifier and identity.
    pub fn load(&self) -> Result<TlsMaterial, TlsError> {
        let provider = provider();
        let identity = self.load_identity()?;
        let min13 = matches!(parse_version(&self.min_version), Ok(Some(3)));
        let max12 = matches!(parse_version(&self.max_version), Ok(Some(2)));
        let versions: Vec<&'static SupportedProtocolVersion> = if min13 {
            vec![&rustls::version::TLS13]
        } else if max12 {
            vec![&rustls::version::TLS12]
        } else {
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let server_name = if self.server_name_override.is_empty() {
            None
        } else {
            Some(
                ServerName::try_from(self.server_name_override.clone())
                    .map_err(|_| TlsError::ServerName(self.server_name_override.clone()))?,
            )
        };
        let inner: Arc<dyn ServerCertVerifier> = if self.insecure_skip_verify {
            Arc::new(SkipVerify(Arc::clone(&provider)))
        } else {
            self.webpki_verifier(&provider)?
        };
        let verifier = Arc::new(Verifier {
            inner,
            server_name,
            min13,
        });
        Ok(TlsMaterial {
            provider,
            verifier,
            identity,
            versions,
        })
    }

    fn webpki_verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
        let mut roots = RootCertStore::empty();
        if self.has_ca() {
            let pem = if self.ca_file.is_empty() {
                self.ca_pem.as_bytes().to_vec()
            } else {
                std::fs::read(&self.ca_file).map_err(|source| TlsError::ReadCa {
                    path: self.ca_file.clone(),
                    source,
                })?
            };
            let certs = parse_certs(&pem, "CA certificates")?;
            for c in certs {
                roots.add(c).map_err(|e| TlsError::Parse {
                    what: "CA certificates",
                    message: e.to_string(),
                })?;
            }
        }
        if !self.has_ca() || self.include_system_ca_certs_pool {
            let loaded = rustls_native_certs::load_native_certs();
            if !loaded.errors.is_empty() {
                tracing::debug!(
                    errors = loaded.errors.len(),
                    "Some system CA certificates could not be loaded"
                );
            }
            roots.add_parsable_certificates(loaded.certs);
        }
        if roots.is_empty() {
            tracing::warn!(
                "No trusted CA certificates (system pool empty, no ca_file): TLS connections will fail"
            );
            return Ok(Arc::new(RejectAll(Arc::clone(provider))));
        }
        let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(v)
    }

    fn load_identity(&self) -> Result<Option<Identity>, TlsError> {
        if !self.has_cert() || !self.has_key() {
            return Ok(None);
        }
        let read = |file: &str, inline: &str, what: &'static str| -> Result<Vec<u8>, TlsError> {
            if file.is_empty() {
                Ok(inline.as_bytes().to_vec())
            } else {
                std::fs::read(file).map_err(|source| TlsError::Read {
                    what,
                    path: file.to_string(),
                    source,
                })
            }
        };
        let cert_pem = read(&self.cert_file, &self.cert_pem, "TLS cert")?;
        let key_pem = read(&self.key_file, &self.key_pem, "TLS key")?;
        let certs = parse_certs(&cert_pem, "TLS cert")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Parse {
            what: "TLS key",
            message: e.to_string(),
        })?;
        Ok(Some(Identity {
            cert_pem,
            key_pem,
            certs,
            key,
        }))
    }
}

fn parse_certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Parse {
            what,
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Parse {
            what,
            message: "no PEM certificates found".into(),
        });
    }
    Ok(certs)
}

/// The process-wide rustls provider (installed at startup), or ring's.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A client certificate chain and key, as PEM (tonic) and parsed (rustls).
pub struct Identity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Everything a client needs to speak TLS as configured.
pub struct TlsMaterial {
    provider: Arc<CryptoProvider>,
    /// The server certificate verifier (trust roots, skip-verify, name override, min 1.3).
    pub verifier: Arc<dyn ServerCertVerifier>,
    pub identity: Option<Identity>,
    versions: Vec<&'static SupportedProtocolVersion>,
}

impl TlsMaterial {
    /// A complete rustls client config with the given ALPN protocols.
    pub fn rustls_config(&self, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, TlsError> {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError::Rustls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&self.verifier));
        let mut cfg = match &self.identity {
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(cfg)
    }
}

/// Wraps the real verifier: verifies against `server_name_override` when set, and refuses
/// TLS 1.2 handshakes when `min_version` is 1.3 (for clients whose version list we do not
/// control, i.e. tonic).
#[derive(Debug)]
struct Verifier {
    inner: Arc<dyn ServerCertVerifier>,
    server_name: Option<ServerName<'static>>,
    min13: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name = self.server_name.as_ref().unwrap_or(server_name);
        self.inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self.min13 {
            return Err(rustls::Error::General(
                "server negotiated TLS 1.2, below the configured min_version 1.3".into(),
            ));
        }
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

/// `insecure_skip_verify`: any certificate and name, but a valid handshake signature.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// No trust roots at all: every server certificate is rejected.
#[derive(Debug)]
struct RejectAll(Arc<CryptoProvider>);

impl ServerCertVerifier for RejectAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::decode::decode;

    fn errors(yaml: &str) -> String {
        let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
        match decode::<TlsClientConfig>(&raw, "exporters::otlp") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn validation_texts() {
        assert_eq!(errors("insecure: true"), "");
        assert!(errors("ca_file: a\nca_pem: b").contains(
            "exporters::otlp::tls: provide either a CA file or the PEM-encoded string, but not both"
        ));
        assert!(errors("cert_file: a").contains("provide both certificate and key"));
        assert!(errors("min_version: \"1.4\"")
            .contains("invalid TLS min_version: unsupported TLS version: \"1.4\""));
        assert!(errors("min_version: \"1.3\"\nmax_version: \"1.2\"")
            .contains("min_version cannot be greater than max_version"));
        assert!(errors("bogus: 1").contains("unknown field `bogus`"));
    }

    #[test]
    fn grpc_tls_decision() {
        let mut c = TlsClientConfig::default();
        assert!(c.grpc_uses_tls());
        c.insecure = true;
        assert!(!c.grpc_uses_tls());
        c.ca_pem = "x".into();
        assert!(c.grpc_uses_tls());
    }

    #[test]
    fn missing_files_are_build_errors() {
        let c = TlsClientConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            ..Default::default()
        };
        let e = c.load().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.starts_with(
                "failed to load CA CertPool File: failed to read \"/nonexistent/ca.pem\""
            ),
            "{e}"
        );
        let c = TlsClientConfig {
            ca_pem: "not a pem".into(),
            ..Default::default()
        };
        assert!(c.load().is_err());
    }
}
