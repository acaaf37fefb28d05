//! Config of the `otlp_http` exporter (otelcol's `otlphttpexporter.Config` = `confighttp`
//! client settings + per-signal endpoints + encoding + retry + queue), its defaults and
//! validation, and the per-signal URL composition (`composeSignalURL`).
//!
//! Accepted without effect (documented, not errors): `read_buffer_size`, `write_buffer_size`,
//! `max_idle_conns`, `max_conns_per_host`, `tls.insecure` (the URL scheme decides), `auth`
//! (a warning is logged at build).

use indexmap::IndexMap;
use serde::Deserialize;

use crate::component::Signal;
use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::{lenient_string, lenient_string_map, GoDuration};
use crate::exporters::otlp::config::{validate_headers, AuthConfig};
use crate::exporters::queue::{QueueConfig, RetryConfig};
use crate::exporters::tls::TlsClientConfig;

/// Request body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Proto,
    Json,
}

/// Request body compression (the `Content-Encoding` sent is the configured name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCompression {
    None,
    Gzip,
    Zstd,
    /// zlib format; `deflate` and `zlib` both use it.
    Zlib,
}

/// `compression_params:`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressionParams {
    /// 0 = the algorithm's default level.
    pub level: i32,
}

/// The `otlp_http` exporter config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub traces_endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub metrics_endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub logs_endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub profiles_endpoint: String,
    #[serde(deserialize_with = "lenient_string")]
    pub encoding: String,
    #[serde(deserialize_with = "lenient_string")]
    pub compression: String,
    pub compression_params: CompressionParams,
    pub timeout: GoDuration,
    #[serde(deserialize_with = "lenient_string_map")]
    pub headers: IndexMap<String, String>,
    pub tls: TlsClientConfig,
    #[serde(deserialize_with = "lenient_string")]
    pub proxy_url: String,
    pub read_buffer_size: u64,
    pub write_buffer_size: u64,
    pub max_idle_conns: Option<u64>,
    pub max_idle_conns_per_host: Option<u64>,
    pub max_conns_per_host: Option<u64>,
    pub idle_conn_timeout: Option<GoDuration>,
    pub disable_keep_alives: bool,
    pub http2_read_idle_timeout: GoDuration,
    pub http2_ping_timeout: GoDuration,
    pub auth: Option<AuthConfig>,
    pub retry_on_failure: RetryConfig,
    pub sending_queue: QueueConfig,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            traces_endpoint: String::new(),
            metrics_endpoint: String::new(),
            logs_endpoint: String::new(),
            profiles_endpoint: String::new(),
            encoding: "proto".into(),
            compression: "gzip".into(),
            compression_params: CompressionParams::default(),
            timeout: GoDuration::from_secs(30),
            headers: IndexMap::new(),
            tls: TlsClientConfig::default(),
            proxy_url: String::new(),
            read_buffer_size: 0,
            write_buffer_size: 512 * 1024,
            max_idle_conns: Some(100),
            max_idle_conns_per_host: None,
            max_conns_per_host: None,
            idle_conn_timeout: Some(GoDuration::from_secs(90)),
            disable_keep_alives: false,
            http2_read_idle_timeout: GoDuration::default(),
            http2_ping_timeout: GoDuration::default(),
            auth: None,
            retry_on_failure: RetryConfig::default(),
            sending_queue: QueueConfig::default(),
        }
    }
}

impl OtlpHttpConfig {
    pub fn encoding(&self) -> Result<Encoding, String> {
        match self.encoding.as_str() {
            "proto" => Ok(Encoding::Proto),
            "json" => Ok(Encoding::Json),
            other => Err(format!("invalid encoding type: {other}")),
        }
    }

    pub fn compression(&self) -> Result<HttpCompression, String> {
        match self.compression.as_str() {
            "" | "none" => Ok(HttpCompression::None),
            "gzip" => Ok(HttpCompression::Gzip),
            "zstd" => Ok(HttpCompression::Zstd),
            "deflate" | "zlib" => Ok(HttpCompression::Zlib),
            c @ ("snappy" | "lz4" | "x-snappy-framed") => Err(format!(
                "compression {c:?} is not supported by ferrocol (use gzip, zstd, deflate, zlib or none)"
            )),
            other => Err(format!("unsupported compression type {other:?}")),
        }
    }

    /// The URL for one signal (`composeSignalURL`): the per-signal endpoint verbatim, else
    /// `endpoint` + `/v1/<signal>` (without doubling a trailing `/`). None when neither is set.
    pub fn signal_url(&self, signal: Signal) -> Option<String> {
        let specific = match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        };
        if !specific.is_empty() {
            return Some(specific.clone());
        }
        compose(&self.endpoint, &format!("v1/{}", signal.as_str()))
    }

    /// The profiles URL (ferrocol has no profiles pipelines; kept for completeness).
    pub fn profiles_url(&self) -> Option<String> {
        if !self.profiles_endpoint.is_empty() {
            return Some(self.profiles_endpoint.clone());
        }
        compose(&self.endpoint, "v1development/profiles")
    }
}

fn compose(endpoint: &str, suffix: &str) -> Option<String> {
    if endpoint.is_empty() {
        None
    } else if endpoint.ends_with('/') {
        Some(format!("{endpoint}{suffix}"))
    } else {
        Some(format!("{endpoint}/{suffix}"))
    }
}

fn check_url(url: &str, key: &str, path: &str, errs: &mut ConfigErrors) {
    if url.is_empty() {
        return;
    }
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http") | Some("https")) && u.host().is_some() => {}
        _ => errs.add(
            format!("{path}::{key}"),
            format!("invalid URL {url:?}: expected http:// or https:// followed by a host"),
        ),
    }
}

impl Validate for OtlpHttpConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if self.endpoint.is_empty()
            && self.traces_endpoint.is_empty()
            && self.metrics_endpoint.is_empty()
            && self.logs_endpoint.is_empty()
            && self.profiles_endpoint.is_empty()
        {
            errs.add(path, "at least one endpoint must be specified");
        }
        for (key, url) in [
            ("endpoint", &self.endpoint),
            ("traces_endpoint", &self.traces_endpoint),
            ("metrics_endpoint", &self.metrics_endpoint),
            ("logs_endpoint", &self.logs_endpoint),
            ("profiles_endpoint", &self.profiles_endpoint),
        ] {
            check_url(url, key, path, errs);
        }
        if let Err(e) = self.encoding() {
            errs.add(format!("{path}::encoding"), e);
        }
        if let Err(e) = self.compression() {
            errs.add(format!("{path}::compression"), e);
        }
        if !self.proxy_url.is_empty() && reqwest::Proxy::all(self.proxy_url.as_str()).is_err() {
            errs.add(
                format!("{path}::proxy_url"),
                format!("invalid proxy URL {:?}", self.proxy_url),
            );
        }
        self.tls.validate(path, errs);
        validate_headers(&self.headers, path, errs);
        self.retry_on_failure.validate(path, errs);
        self.sending_queue.validate(path, errs);
    }
}
