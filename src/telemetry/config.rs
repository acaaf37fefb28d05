//! `service.telemetry`: logs (level, encoding, and otelcol's other zap keys, accepted) and
//! metrics (level, readers; the removed `address` key is accepted with a warning and turned
//! into a pull reader, as the spec recommends for a drop-in). `traces` and `resource` are
//! accepted as written; ferrocol does not export its own traces.

use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub logs: LogsConfig,
    pub metrics: MetricsConfig,
    /// Accepted for compatibility; ferrocol emits no self-traces.
    pub traces: Option<serde_yaml::Value>,
    /// Extra resource attributes (legacy inline map or `attributes:` list); accepted.
    pub resource: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogEncoding {
    #[default]
    Console,
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// debug | info | warn | error (case-insensitive, as zap parses it).
    pub level: String,
    pub encoding: LogEncoding,
    pub development: bool,
    pub disable_caller: bool,
    pub disable_stacktrace: bool,
    pub sampling: Option<serde_yaml::Value>,
    pub output_paths: Vec<String>,
    pub error_output_paths: Vec<String>,
    pub initial_fields: Option<serde_yaml::Value>,
    /// OTLP log processors for the collector's own logs: accepted, not used.
    pub processors: Option<serde_yaml::Value>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            encoding: LogEncoding::Console,
            development: false,
            disable_caller: false,
            disable_stacktrace: false,
            sampling: None,
            output_paths: vec!["stderr".into()],
            error_output_paths: vec!["stderr".into()],
            initial_fields: None,
            processors: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// none | basic | normal | detailed
    pub level: String,
    pub readers: Option<Vec<serde_yaml::Value>>,
    /// Removed from otelcol in v0.128; accepted here with a warning.
    pub address: Option<String>,
    pub views: Option<serde_yaml::Value>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            level: "normal".into(),
            readers: None,
            address: None,
            views: None,
        }
    }
}

/// Where to serve self-metrics in the Prometheus format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullEndpoint {
    pub host: String,
    pub port: u16,
}

impl MetricsConfig {
    /// The Prometheus pull endpoints to serve: the explicit `pull` readers, the legacy
    /// `address`, or the default `localhost:8888` when no reader is configured.
    pub fn pull_endpoints(&self) -> Vec<PullEndpoint> {
        if self.level.eq_ignore_ascii_case("none") {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(readers) = &self.readers {
            for r in readers {
                let p = &r["pull"]["exporter"]["prometheus"];
                if p.is_mapping() {
                    let host = p["host"].as_str().unwrap_or("localhost").to_string();
                    let port = p["port"]
                        .as_u64()
                        .and_then(|v| u16::try_from(v).ok())
                        .unwrap_or(8888);
                    out.push(PullEndpoint { host, port });
                }
            }
        } else if let Some(addr) = &self.address {
            if let Some((h, p)) = addr.rsplit_once(':') {
                if let Ok(port) = p.parse() {
                    out.push(PullEndpoint {
                        host: if h.is_empty() {
                            "0.0.0.0".into()
                        } else {
                            h.to_string()
                        },
                        port,
                    });
                }
            }
        } else {
            out.push(PullEndpoint {
                host: "localhost".into(),
                port: 8888,
            });
        }
        out
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        let lvl = self.logs.level.to_ascii_lowercase();
        if !matches!(
            lvl.as_str(),
            "debug" | "info" | "warn" | "error" | "dpanic" | "panic" | "fatal"
        ) {
            errs.add(
                format!("{path}::logs::level"),
                format!("unrecognized level: {:?}", self.logs.level),
            );
        }
        let m = self.metrics.level.to_ascii_lowercase();
        if !matches!(m.as_str(), "none" | "basic" | "normal" | "detailed") {
            errs.add(
                format!("{path}::metrics::level"),
                format!("unknown metrics level {:?}", self.metrics.level),
            );
        }
        if m != "none" && self.metrics.readers.as_ref().is_some_and(|r| r.is_empty()) {
            errs.add(
                path,
                "collector telemetry metrics reader should exist when metric level is not none",
            );
        }
        if let Some(readers) = &self.metrics.readers {
            for (i, r) in readers.iter().enumerate() {
                let ok = r.get("pull").is_some() || r.get("periodic").is_some();
                if !ok {
                    errs.add(
                        format!("{path}::metrics::readers::{i}"),
                        "a reader must be either 'pull' or 'periodic'",
                    );
                }
                if let Some(port) = r["pull"]["exporter"]["prometheus"].get("port") {
                    if port.as_u64().and_then(|v| u16::try_from(v).ok()).is_none() {
                        errs.add(
                            format!(
                                "{path}::metrics::readers::{i}::pull::exporter::prometheus::port"
                            ),
                            format!("invalid port {port:?}"),
                        );
                    }
                }
            }
        }
    }
}
