//! Builds the `kube` client for one `kubernetes_sd_configs` entry, as Prometheus chooses its
//! REST config: `kubeconfig_file` (current context), else `api_server` with the inline HTTP
//! options (plain `http://` allowed), else the in-cluster service account. Also reads the
//! pod's own namespace for `namespaces.own_namespace`.
//!
//! Not supported: `follow_redirects`/`enable_http2` (accepted, no effect: the API client
//! speaks HTTP/1.1 and the API server does not redirect), TLS min/max versions, and proxies
//! (rejected by the config). A bearer token file is re-read by kube (about every minute);
//! other credential files are read when the client is built.

use http::{HeaderName, HeaderValue};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::config::{HttpClientConfig, KubernetesSdConfig};

/// Where the in-cluster service account keeps the pod's namespace.
pub const OWN_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Why a client could not be built. Retryable: files may appear and the environment may
/// be fixed, so the discoverer logs it and tries again with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid api_server URL {url:?}")]
    Url { url: String },
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("loading kubeconfig {path}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("loading the in-cluster configuration")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("could not determine the pod's namespace")]
    OwnNamespace(#[source] std::io::Error),
    #[error("could not read own namespace name (empty file)")]
    EmptyOwnNamespace,
    #[error("invalid credentials: {0}")]
    Credentials(String),
    #[error("building the Kubernetes client")]
    Build(#[source] kube::Error),
}

/// The client plus, with `own_namespace` in-cluster, the pod's own namespace.
pub async fn build(
    cfg: &KubernetesSdConfig,
) -> Result<(kube::Client, Option<String>), ClientError> {
    let mut own = None;
    let config = if let Some(path) = &cfg.kubeconfig_file {
        let kc = Kubeconfig::read_from(path).map_err(|source| ClientError::Kubeconfig {
            path: path.clone(),
            source,
        })?;
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|source| ClientError::Kubeconfig {
                path: path.clone(),
                source,
            })?
    } else if let Some(url) = &cfg.api_server {
        explicit(url, &cfg.http)?
    } else {
        let c = kube::Config::incluster().map_err(ClientError::InCluster)?;
        if cfg.namespaces.own_namespace {
            let ns =
                std::fs::read_to_string(OWN_NAMESPACE_FILE).map_err(ClientError::OwnNamespace)?;
            if ns.is_empty() {
                return Err(ClientError::EmptyOwnNamespace);
            }
            own = Some(ns);
        }
        c
    };
    let client = kube::Client::try_from(config).map_err(ClientError::Build)?;
    Ok((client, own))
}

fn read(path: &str) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map_err(|source| ClientError::Read {
        path: path.to_string(),
        source,
    })
}

/// A config for an explicit `api_server` with Prometheus's inline HTTP options.
fn explicit(url: &str, h: &HttpClientConfig) -> Result<kube::Config, ClientError> {
    let uri: http::Uri = url.parse().map_err(|_| ClientError::Url {
        url: url.to_string(),
    })?;
    let mut c = kube::Config::new(uri);
    let tls = &h.tls_config;
    c.accept_invalid_certs = tls.insecure_skip_verify;
    if !tls.server_name.is_empty() {
        c.tls_server_name = Some(tls.server_name.clone());
    }
    if !tls.ca_file.is_empty() {
        c.root_cert_file = Some(tls.ca_file.clone().into());
    } else if !tls.ca.is_empty() {
        let certs = CertificateDer::pem_slice_iter(tls.ca.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClientError::Credentials(format!("tls_config.ca: {e}")))?;
        c.root_cert = Some(certs);
    }

    let mut auth = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        auth.insert(k.to_string(), serde_json::Value::String(v));
    };
    if !tls.cert_file.is_empty() {
        put("client-certificate", tls.cert_file.clone());
    } else if !tls.cert.is_empty() {
        put("client-certificate-data", base64(tls.cert.as_bytes()));
    }
    if !tls.key_file.is_empty() {
        put("client-key", tls.key_file.clone());
    } else if !tls.key.is_empty() {
        put("client-key-data", base64(tls.key.as_bytes()));
    }
    if let Some(b) = &h.basic_auth {
        let user = if b.username_file.is_empty() {
            b.username.clone()
        } else {
            read(&b.username_file)?.trim().to_string()
        };
        let pass = if b.password_file.is_empty() {
            b.password.clone()
        } else {
            read(&b.password_file)?.trim().to_string()
        };
        put("username", user);
        put("password", pass);
    }
    if let Some(a) = &h.authorization {
        if a.type_.eq_ignore_ascii_case("bearer") {
            if !a.credentials_file.is_empty() {
                put("tokenFile", a.credentials_file.clone());
            } else if !a.credentials.is_empty() {
                put("token", a.credentials.clone());
            }
        } else {
            let creds = if a.credentials_file.is_empty() {
                a.credentials.clone()
            } else {
                read(&a.credentials_file)?.trim().to_string()
            };
            let value = HeaderValue::try_from(format!("{} {}", a.type_, creds))
                .map_err(|_| ClientError::Credentials("authorization header value".into()))?;
            c.headers
                .push((HeaderName::from_static("authorization"), value));
        }
    }
    c.auth_info = serde_json::from_value::<AuthInfo>(serde_json::Value::Object(auth))
        .map_err(|e| ClientError::Credentials(e.to_string()))?;
    Ok(c)
}

/// Standard base64 with padding (kube expects `*-data` kubeconfig fields encoded).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn explicit_server_maps_http_options() {
        let mut h = HttpClientConfig::default();
        h.tls_config.insecure_skip_verify = true;
        h.tls_config.server_name = "kubernetes".into();
        h.authorization = Some(super::super::config::Authorization {
            type_: "Bearer".into(),
            credentials: "secret".into(),
            credentials_file: String::new(),
        });
        let c = explicit("http://127.0.0.1:8080", &h).expect("config");
        assert!(c.accept_invalid_certs);
        assert_eq!(c.tls_server_name.as_deref(), Some("kubernetes"));
        assert!(c.auth_info.token.is_some());
        assert_eq!(c.cluster_url.to_string(), "http://127.0.0.1:8080/");
    }
}
