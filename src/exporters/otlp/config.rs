//! Config of the `otlp_grpc` exporter (otelcol's `otlpexporter.Config` = `configgrpc`
//! client settings + timeout + retry + queue), its defaults and validation, and the parsing
//! of `endpoint` into a dial target. `AuthConfig` is shared with `otlp_http`.
//!
//! Accepted but without effect in ferrocol (documented, not errors): `balancer_name` (one
//! HTTP/2 connection per exporter), `read_buffer_size`, `write_buffer_size`,
//! `wait_for_ready`, and `auth` (authenticator extensions do not exist here; a warning is
//! logged at build).

use indexmap::IndexMap;
use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::{lenient_string, lenient_string_map, optional_section, GoDuration};
use crate::exporters::queue::{QueueConfig, RetryConfig};
use crate::exporters::tls::TlsClientConfig;

/// `auth:` (otelcol's `configauth.Config`): accepted, not applied.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub authenticator: String,
}

/// `keepalive:` (gRPC client keepalive pings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveConfig {
    pub time: GoDuration,
    pub timeout: GoDuration,
    pub permit_without_stream: bool,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self {
            time: GoDuration::from_secs(10),
            timeout: GoDuration::from_secs(10),
            permit_without_stream: false,
        }
    }
}

/// gRPC send compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCompression {
    None,
    Gzip,
    Zstd,
}

/// The `otlp_grpc` exporter config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint: String,
    pub tls: TlsClientConfig,
    #[serde(deserialize_with = "lenient_string_map")]
    pub headers: IndexMap<String, String>,
    #[serde(deserialize_with = "lenient_string")]
    pub compression: String,
    #[serde(deserialize_with = "lenient_string")]
    pub balancer_name: String,
    #[serde(deserialize_with = "optional_section")]
    pub keepalive: Option<KeepaliveConfig>,
    pub write_buffer_size: u64,
    pub read_buffer_size: u64,
    pub wait_for_ready: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub authority: String,
    pub auth: Option<AuthConfig>,
    pub timeout: GoDuration,
    pub retry_on_failure: RetryConfig,
    pub sending_queue: QueueConfig,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            tls: TlsClientConfig::default(),
            headers: IndexMap::new(),
            compression: "gzip".into(),
            balancer_name: "round_robin".into(),
            keepalive: None,
            write_buffer_size: 512 * 1024,
            read_buffer_size: 0,
            wait_for_ready: false,
            authority: String::new(),
            auth: None,
            timeout: GoDuration::from_secs(5),
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

impl OtlpGrpcConfig {
    /// The configured send compression (validated).
    pub fn compression(&self) -> Result<GrpcCompression, String> {
        match self.compression.as_str() {
            "" | "none" => Ok(GrpcCompression::None),
            "gzip" => Ok(GrpcCompression::Gzip),
            "zstd" => Ok(GrpcCompression::Zstd),
            "snappy" => Err(
                "compression \"snappy\" is not supported by ferrocol (use gzip, zstd or none)"
                    .into(),
            ),
            other => Err(format!("unsupported compression type {other:?}")),
        }
    }
}

impl Validate for OtlpGrpcConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if self.endpoint.trim().is_empty() {
            errs.add(path, "requires a non-empty \"endpoint\"");
        } else if let Err(e) = dial_target(&self.endpoint) {
            errs.add(format!("{path}::endpoint"), e);
        }
        self.tls.validate(path, errs);
        validate_headers(&self.headers, path, errs);
        if let Err(e) = self.compression() {
            errs.add(format!("{path}::compression"), e);
        }
        if !matches!(
            self.balancer_name.as_str(),
            "" | "round_robin" | "pick_first"
        ) {
            errs.add(
                format!("{path}::balancer_name"),
                format!(
                    "invalid balancer_name: {:?} (supported: round_robin, pick_first)",
                    self.balancer_name
                ),
            );
        }
        if !self.authority.is_empty() && self.authority.parse::<http::uri::Authority>().is_err() {
            errs.add(
                format!("{path}::authority"),
                format!("invalid authority {:?}", self.authority),
            );
        }
        self.retry_on_failure.validate(path, errs);
        self.sending_queue.validate(path, errs);
    }
}

/// Checks header names, and that values are valid header text (never echoing values).
pub fn validate_headers(headers: &IndexMap<String, String>, path: &str, errs: &mut ConfigErrors) {
    for (k, v) in headers {
        if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
            errs.add(
                format!("{path}::headers"),
                format!("invalid header name {k:?}"),
            );
        } else if http::HeaderValue::from_str(v).is_err() {
            errs.add(
                format!("{path}::headers"),
                format!("invalid value for header {k:?} (not valid header text)"),
            );
        }
    }
}

/// Turns `endpoint` into the `host:port` to dial: strips `http://`, `https://`, `dns:///`,
/// `dns://<server>/` and `passthrough:///`; defaults the port to 443 as grpc-go does.
pub fn dial_target(endpoint: &str) -> Result<String, String> {
    let e = endpoint.trim();
    let rest = if let Some(r) = e.strip_prefix("http://") {
        r
    } else if let Some(r) = e.strip_prefix("https://") {
        r
    } else if let Some(r) = e.strip_prefix("passthrough:///") {
        r
    } else if let Some(r) = e.strip_prefix("dns://") {
        r.split_once('/').map(|(_, t)| t).unwrap_or(r)
    } else if e.starts_with("unix:") {
        return Err(format!(
            "endpoint {e:?}: unix socket endpoints are not supported by ferrocol"
        ));
    } else {
        e
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return Err(format!(
            "invalid endpoint {e:?}: expected host:port, optionally prefixed with http://, https:// or dns:///"
        ));
    }
    let authority: http::uri::Authority = rest
        .parse()
        .map_err(|err| format!("invalid endpoint {e:?}: {err}"))?;
    if authority.as_str().contains('@') {
        return Err(format!("invalid endpoint {e:?}: user info is not allowed"));
    }
    Ok(match authority.port_u16() {
        Some(_) => authority.to_string(),
        None => format!("{}:443", authority.host()),
    })
}
