//! The `otlp` receiver's config, decoded strictly with otelcol's key names and defaults
//! (`core:receiver/otlpreceiver/config.go`, `configgrpc`, `confighttp`, `configtls`).
//!
//! Every key otelcol accepts is accepted here. Some are accepted but have no effect in ferrocol
//! (buffer sizes, HTTP timeouts, `include_metadata`, keepalive enforcement, `curve_preferences`);
//! features that need otelcol extensions (`auth`, `middlewares`) or hardware (`tpm`) fail
//! validation with a clear message instead of being silently ignored.

use std::net::{IpAddr, Ipv4Addr};

use indexmap::IndexMap;
use serde::Deserialize;

use super::sections::{null_as_default, null_or_string_map, optional_or_null, optional_section};
use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::{lenient_string, GoDuration};

/// The default HTTP body limit (20 MiB), as in confighttp.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: i64 = 20 * 1024 * 1024;
/// gRPC's default maximum received message size.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: i64 = 4;
/// The largest accepted `max_recv_msg_size_mib` (larger values would overflow in Go too).
const MAX_RECV_MSG_SIZE_MIB_LIMIT: i64 = 1 << 20;

/// The content encodings confighttp accepts by default (`""` is identity).
pub const DEFAULT_COMPRESSION_ALGORITHMS: &[&str] = &[
    "",
    "gzip",
    "zstd",
    "zlib",
    "snappy",
    "deflate",
    "lz4",
    "x-snappy-framed",
];

/// `receivers::otlp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpReceiverConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub protocols: Protocols,
}

/// `protocols`: a protocol is enabled when its key is present (even with no value).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Protocols {
    #[serde(deserialize_with = "optional_section")]
    pub grpc: Option<GrpcConfig>,
    #[serde(deserialize_with = "optional_section")]
    pub http: Option<HttpConfig>,
}

/// `protocols::grpc` (configgrpc.ServerConfig).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub transport: String,
    pub dialer: Option<DialerConfig>,
    pub max_recv_msg_size_mib: i64,
    pub max_concurrent_streams: u32,
    pub read_buffer_size: i64,
    pub write_buffer_size: i64,
    #[serde(deserialize_with = "optional_or_null")]
    pub keepalive: Option<GrpcKeepalive>,
    pub include_metadata: bool,
    pub auth: Option<serde_yaml::Value>,
    #[serde(deserialize_with = "optional_or_null")]
    pub tls: Option<TlsServerConfig>,
    #[serde(deserialize_with = "null_as_default")]
    pub middlewares: Vec<serde_yaml::Value>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: "localhost:4317".into(),
            transport: "tcp".into(),
            dialer: None,
            max_recv_msg_size_mib: 0,
            max_concurrent_streams: 0,
            read_buffer_size: 512 * 1024,
            write_buffer_size: 0,
            keepalive: None,
            include_metadata: false,
            auth: None,
            tls: None,
            middlewares: Vec::new(),
        }
    }
}

impl GrpcConfig {
    /// The largest accepted (decompressed) message, in bytes.
    pub fn max_recv_msg_size(&self) -> usize {
        let mib = if self.max_recv_msg_size_mib <= 0 {
            DEFAULT_MAX_RECV_MSG_SIZE_MIB
        } else {
            self.max_recv_msg_size_mib.min(MAX_RECV_MSG_SIZE_MIB_LIMIT)
        };
        usize::try_from(mib * 1024 * 1024).unwrap_or(usize::MAX)
    }
}

/// confignet's `dialer` (accepted, unused by a server).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerConfig {
    pub timeout: GoDuration,
}

/// `grpc::keepalive`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcKeepalive {
    #[serde(deserialize_with = "optional_or_null")]
    pub server_parameters: Option<KeepaliveServerParameters>,
    #[serde(deserialize_with = "optional_or_null")]
    pub enforcement_policy: Option<KeepaliveEnforcementPolicy>,
}

/// `grpc::keepalive::server_parameters` (zero means "gRPC default").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveServerParameters {
    pub max_connection_idle: GoDuration,
    pub max_connection_age: GoDuration,
    pub max_connection_age_grace: GoDuration,
    pub time: GoDuration,
    pub timeout: GoDuration,
}

/// `grpc::keepalive::enforcement_policy` (accepted; HTTP/2 ping policing is not configurable
/// in the server ferrocol uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveEnforcementPolicy {
    pub min_time: GoDuration,
    pub permit_without_stream: bool,
}

/// `protocols::http` (confighttp.ServerConfig plus the receiver's URL paths).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint: String,
    #[serde(deserialize_with = "optional_or_null")]
    pub tls: Option<TlsServerConfig>,
    #[serde(deserialize_with = "optional_or_null")]
    pub cors: Option<CorsConfig>,
    pub auth: Option<serde_yaml::Value>,
    pub max_request_body_size: i64,
    pub include_metadata: bool,
    pub include_tls_metadata: bool,
    #[serde(deserialize_with = "null_or_string_map")]
    pub response_headers: IndexMap<String, String>,
    pub compression_algorithms: Option<Vec<String>>,
    pub read_timeout: GoDuration,
    pub read_header_timeout: GoDuration,
    pub write_timeout: GoDuration,
    pub idle_timeout: GoDuration,
    pub keepalive: Option<HttpKeepalive>,
    #[serde(deserialize_with = "null_as_default")]
    pub middlewares: Vec<serde_yaml::Value>,
    #[serde(deserialize_with = "lenient_string")]
    pub traces_url_path: String,
    #[serde(deserialize_with = "lenient_string")]
    pub metrics_url_path: String,
    #[serde(deserialize_with = "lenient_string")]
    pub logs_url_path: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: "localhost:4318".into(),
            tls: None,
            cors: None,
            auth: None,
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
            include_metadata: false,
            include_tls_metadata: false,
            response_headers: IndexMap::new(),
            compression_algorithms: None,
            read_timeout: GoDuration::default(),
            read_header_timeout: GoDuration::default(),
            write_timeout: GoDuration::default(),
            idle_timeout: GoDuration::default(),
            keepalive: None,
            middlewares: Vec::new(),
            traces_url_path: "/v1/traces".into(),
            metrics_url_path: "/v1/metrics".into(),
            logs_url_path: "/v1/logs".into(),
        }
    }
}

impl HttpConfig {
    /// The body limit in bytes (zero or negative means the 20 MiB default, as in confighttp).
    pub fn max_body(&self) -> usize {
        let v = if self.max_request_body_size <= 0 {
            DEFAULT_MAX_REQUEST_BODY_SIZE
        } else {
            self.max_request_body_size
        };
        usize::try_from(v).unwrap_or(usize::MAX)
    }

    /// The accepted `Content-Encoding` names (lower case; `""` is identity).
    pub fn compression_algorithms(&self) -> Vec<String> {
        match &self.compression_algorithms {
            Some(v) => v.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
            None => DEFAULT_COMPRESSION_ALGORITHMS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// The traces, metrics and logs URL paths, each with a leading `/`.
    pub fn url_paths(&self) -> [String; 3] {
        [
            sanitize_path(&self.traces_url_path),
            sanitize_path(&self.metrics_url_path),
            sanitize_path(&self.logs_url_path),
        ]
    }
}

/// `http::keepalive` (accepted; idle connections are closed by the peer or at shutdown).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpKeepalive {
    pub enabled: bool,
    pub idle_timeout: GoDuration,
}

impl Default for HttpKeepalive {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout: GoDuration::default(),
        }
    }
}

/// `http::cors`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub allowed_origins: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub allowed_headers: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub exposed_headers: Vec<String>,
    pub max_age: i64,
}

/// `tls` of a server (configtls.ServerConfig).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    pub ca_file: String,
    pub ca_pem: String,
    pub cert_file: String,
    pub cert_pem: String,
    pub key_file: String,
    pub key_pem: String,
    #[serde(deserialize_with = "null_as_default")]
    pub cipher_suites: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub curve_preferences: Vec<String>,
    pub include_system_ca_certs_pool: bool,
    pub min_version: String,
    pub max_version: String,
    pub reload_interval: GoDuration,
    pub tpm: Option<serde_yaml::Value>,
    pub client_ca_file: String,
    pub client_ca_file_reload: bool,
}

impl TlsServerConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        let has_cert = !self.cert_file.is_empty() || !self.cert_pem.is_empty();
        let has_key = !self.key_file.is_empty() || !self.key_pem.is_empty();
        if has_cert != has_key {
            errs.add(
                path,
                "failed to load TLS config: for auth via TLS, provide both certificate and key, or neither",
            );
        }
        if (!self.cert_file.is_empty() && !self.cert_pem.is_empty())
            || (!self.key_file.is_empty() && !self.key_pem.is_empty())
        {
            errs.add(
                path,
                "failed to load TLS config: provide the certificate and key either as files or as PEM, not both",
            );
        }
        let min = tls_version(&self.min_version);
        let max = tls_version(&self.max_version);
        if let Err(e) = &min {
            errs.add(path, format!("invalid TLS min_version: {e}"));
        }
        if let Err(e) = &max {
            errs.add(path, format!("invalid TLS max_version: {e}"));
        }
        if let (Ok(Some(lo)), Ok(Some(hi))) = (min, max) {
            if lo > hi {
                errs.add(
                    path,
                    "invalid TLS configuration: min_version cannot be greater than max_version",
                );
            }
        }
        if let Some(tpm) = &self.tpm {
            if tpm.get("enabled").and_then(|v| v.as_bool()) == Some(true) {
                errs.add(
                    format!("{path}::tpm"),
                    "TPM-backed TLS keys are not supported by ferrocol",
                );
            }
        }
    }
}

/// Parses a configtls version (`1.0` .. `1.3`; empty = default) into (major, minor).
pub fn tls_version(v: &str) -> Result<Option<(u8, u8)>, String> {
    match v {
        "" => Ok(None),
        "1.0" => Ok(Some((1, 0))),
        "1.1" => Ok(Some((1, 1))),
        "1.2" => Ok(Some((1, 2))),
        "1.3" => Ok(Some((1, 3))),
        other => Err(format!("unsupported TLS version: {other:?}")),
    }
}

/// Where a server endpoint's host part points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// Empty, `0.0.0.0` or `::`: every interface (dual-stack when IPv6 is available, as Go).
    Any,
    Ip(IpAddr),
    /// A name resolved when binding.
    Name(String),
}

/// Splits `host:port` the way Go's `net.SplitHostPort` does; `localhost` is 127.0.0.1.
pub fn parse_endpoint(endpoint: &str) -> Result<(Host, u16), String> {
    let e = endpoint.trim();
    let (host, port) = if let Some(rest) = e.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("address {e}: missing ']' in address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| format!("address {e}: missing port in address"))?;
        (h, port)
    } else {
        let (h, p) = e
            .rsplit_once(':')
            .ok_or_else(|| format!("address {e}: missing port in address"))?;
        if h.contains(':') {
            return Err(format!("address {e}: too many colons in address"));
        }
        (h, p)
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("address {e}: invalid port {port:?}"))?;
    let host = match host {
        "" | "0.0.0.0" | "::" => Host::Any,
        "localhost" => Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        h => match h.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(h.to_string()),
        },
    };
    Ok((host, port))
}

fn sanitize_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// Go's `url.Parse` failures that matter for a path: bad escapes and control characters.
fn check_url_path(p: &str) -> Result<(), String> {
    if p.chars().any(|c| c.is_control()) {
        return Err(format!(
            "parse {p:?}: net/url: invalid control character in URL"
        ));
    }
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
                && b.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit());
            if !ok {
                let end = (i + 3).min(b.len());
                let esc = String::from_utf8_lossy(&b[i..end]);
                return Err(format!("parse {p:?}: invalid URL escape {esc:?}"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn check_extension_features(
    auth: &Option<serde_yaml::Value>,
    middlewares: &[serde_yaml::Value],
    path: &str,
    errs: &mut ConfigErrors,
) {
    if auth.is_some() {
        errs.add(
            format!("{path}::auth"),
            "authenticator extensions are not supported by ferrocol",
        );
    }
    if !middlewares.is_empty() {
        errs.add(
            format!("{path}::middlewares"),
            "middleware extensions are not supported by ferrocol",
        );
    }
}

impl Validate for OtlpReceiverConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        let p = &self.protocols;
        if p.grpc.is_none() && p.http.is_none() {
            errs.add(
                path,
                "must specify at least one protocol when using the OTLP receiver",
            );
        }
        if let Some(g) = &p.grpc {
            let gp = format!("{path}::protocols::grpc");
            if let Err(e) = parse_endpoint(&g.endpoint) {
                errs.add(format!("{gp}::endpoint"), e);
            }
            match g.transport.as_str() {
                "tcp" | "tcp4" | "tcp6" => {}
                "unix" | "unixgram" | "unixpacket" => errs.add(
                    format!("{gp}::transport"),
                    format!(
                        "transport {:?} is not supported by ferrocol; use tcp",
                        g.transport
                    ),
                ),
                other => errs.add(
                    format!("{gp}::transport"),
                    format!("invalid transport type: {other:?}"),
                ),
            }
            if g.max_recv_msg_size_mib < 0 || g.max_recv_msg_size_mib > MAX_RECV_MSG_SIZE_MIB_LIMIT
            {
                errs.add(
                    &gp,
                    format!(
                        "invalid max_recv_msg_size_mib value, must be between 1 and {MAX_RECV_MSG_SIZE_MIB_LIMIT}: {}",
                        g.max_recv_msg_size_mib
                    ),
                );
            }
            if g.read_buffer_size < 0 {
                errs.add(
                    &gp,
                    format!("invalid read_buffer_size value: {}", g.read_buffer_size),
                );
            }
            if g.write_buffer_size < 0 {
                errs.add(
                    &gp,
                    format!("invalid write_buffer_size value: {}", g.write_buffer_size),
                );
            }
            check_extension_features(&g.auth, &g.middlewares, &gp, errs);
            if let Some(t) = &g.tls {
                t.validate(&format!("{gp}::tls"), errs);
            }
        }
        if let Some(h) = &p.http {
            let hp = format!("{path}::protocols::http");
            if let Err(e) = parse_endpoint(&h.endpoint) {
                errs.add(format!("{hp}::endpoint"), e);
            }
            check_extension_features(&h.auth, &h.middlewares, &hp, errs);
            if let Some(t) = &h.tls {
                t.validate(&format!("{hp}::tls"), errs);
            }
            if h.include_tls_metadata && h.tls.is_none() {
                errs.add(
                    &hp,
                    "invalid include_tls_metadata value, must be false when not using TLS",
                );
            }
            for p in h.url_paths() {
                if let Err(e) = check_url_path(&p) {
                    errs.add(&hp, format!("invalid HTTP URL path set for signal: {e}"));
                }
            }
            for (k, v) in &h.response_headers {
                if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    errs.add(
                        format!("{hp}::response_headers"),
                        format!("invalid header name {k:?}"),
                    );
                } else if http::HeaderValue::from_str(v).is_err() {
                    errs.add(
                        format!("{hp}::response_headers"),
                        format!("invalid value for header {k:?}"),
                    );
                }
            }
        }
    }
}
