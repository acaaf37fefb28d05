//! The `health_check` extension's configuration: otelcol-contrib's legacy (v1) settings
//! (`internal/healthcheck/config.go`, `internal/httpserver/config.go`) plus the
//! `confighttp` server keys it squashes in.
//!
//! Accepted and ignored: `check_collector_pipeline` (otelcol ignores it too), `use_v2` and
//! `component_health` (v2-only, meaningless without the feature gate), and the server keys
//! that cannot matter for a body-less GET endpoint (`cors`, `include_metadata`,
//! `max_request_body_size`, `compression_algorithms`, the timeouts, `keep_alives_enabled`).
//! Rejected with a clear error: `tls` and `auth`/`middlewares` (not implemented), and the v2
//! `http`/`grpc` sections (otelcol rejects them without its feature gate).

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::{lenient_string, lenient_string_map, GoDuration};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// `host:port` to listen on.
    #[serde(deserialize_with = "lenient_string")]
    pub endpoint: String,
    /// The path served; a path ending in `/` also serves everything below it (Go's ServeMux).
    #[serde(deserialize_with = "lenient_string")]
    pub path: String,
    /// Fixed bodies instead of the JSON status.
    pub response_body: Option<ResponseBodyConfig>,
    /// Accepted for compatibility, ignored (as in otelcol).
    pub check_collector_pipeline: Option<CheckCollectorPipelineConfig>,
    /// v2 opt-in flag; ignored without the v2 implementation.
    pub use_v2: bool,
    /// v2 component-health settings; ignored.
    pub component_health: Option<serde_yaml::Value>,
    /// v2 HTTP section: rejected (feature gate disabled).
    #[serde(deserialize_with = "present")]
    pub http: Option<serde_yaml::Value>,
    /// v2 gRPC section: rejected (feature gate disabled).
    #[serde(deserialize_with = "present")]
    pub grpc: Option<serde_yaml::Value>,

    // confighttp.ServerConfig keys.
    /// TLS server settings: not supported yet.
    pub tls: Option<serde_yaml::Value>,
    /// CORS settings: accepted, ignored (browsers do not probe health).
    pub cors: Option<CorsConfig>,
    /// Server authenticator: not supported (ferrocol has no auth extensions).
    pub auth: Option<serde_yaml::Value>,
    /// Middleware extensions: not supported.
    pub middlewares: Vec<serde_yaml::Value>,
    pub max_request_body_size: i64,
    pub include_metadata: bool,
    /// Headers added to every response.
    #[serde(deserialize_with = "lenient_string_map")]
    pub response_headers: IndexMap<String, String>,
    pub compression_algorithms: Option<Vec<String>>,
    pub read_timeout: GoDuration,
    pub read_header_timeout: GoDuration,
    pub write_timeout: GoDuration,
    pub idle_timeout: GoDuration,
    pub keep_alives_enabled: bool,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            endpoint: "localhost:13133".into(),
            path: "/".into(),
            response_body: None,
            check_collector_pipeline: None,
            use_v2: false,
            component_health: None,
            http: None,
            grpc: None,
            tls: None,
            cors: None,
            auth: None,
            middlewares: Vec::new(),
            max_request_body_size: 0,
            include_metadata: false,
            response_headers: IndexMap::new(),
            compression_algorithms: None,
            read_timeout: GoDuration::default(),
            read_header_timeout: GoDuration::from_secs(60),
            write_timeout: GoDuration::from_secs(30),
            idle_timeout: GoDuration::from_secs(60),
            keep_alives_enabled: true,
        }
    }
}

/// Fixed response bodies (otelcol's `response_body`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseBodyConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub healthy: String,
    #[serde(deserialize_with = "lenient_string")]
    pub unhealthy: String,
}

/// Legacy pipeline check settings: accepted, ignored (otelcol ignores them too).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckCollectorPipelineConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "lenient_string")]
    pub interval: String,
    pub exporter_failure_threshold: i64,
}

/// `confighttp` CORS settings: accepted, ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub max_age: i64,
}

/// Records that a key was present even when its value is null.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_yaml::Value>, D::Error> {
    serde_yaml::Value::deserialize(d).map(Some)
}

impl Validate for HealthCheckConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if self.http.is_some() || self.grpc.is_some() {
            errs.add(
                path,
                "v2 healthcheck configuration (http/grpc fields) detected but feature gate is disabled. \
                 Either remove the v2 config fields or enable the feature gate with: \
                 --feature-gates=+extension.healthcheck.useComponentStatus",
            );
            // otelcol reports only this error in that case.
            return;
        }
        if self.endpoint.is_empty() {
            errs.add(path, "http endpoint required");
        }
        if !self.path.starts_with('/') {
            errs.add(path, "path must start with /");
        }
        if self.tls.as_ref().is_some_and(|t| !t.is_null()) {
            errs.add(
                format!("{path}::tls"),
                "TLS is not supported by ferrocol's health_check yet; remove `tls` (Kubernetes probes use plain HTTP)",
            );
        }
        if self.auth.as_ref().is_some_and(|a| !a.is_null()) {
            errs.add(
                format!("{path}::auth"),
                "authentication is not supported by ferrocol's health_check (ferrocol has no authenticator extensions)",
            );
        }
        if !self.middlewares.is_empty() {
            errs.add(
                format!("{path}::middlewares"),
                "middleware extensions are not supported by ferrocol",
            );
        }
        for (name, value) in &self.response_headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errs.add(
                    format!("{path}::response_headers"),
                    format!("invalid header name {name:?}"),
                );
            } else if http::HeaderValue::from_str(value).is_err() {
                // Never echo the value: header values may be secrets.
                errs.add(
                    format!("{path}::response_headers"),
                    format!("invalid value for header {name:?}"),
                );
            }
        }
    }
}
