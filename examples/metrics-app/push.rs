//! OTLP push of the same counter, configured by the standard OpenTelemetry SDK environment
//! variables and sent by `opentelemetry-otlp`.
//!
//! The variables are checked here first, so that a typo is an error at startup rather than a
//! value the SDK silently ignores: `OTEL_METRICS_EXPORTER` (`otlp`, `none`, or `prometheus`,
//! which is the /metrics endpoint that is always served), the protocol (`grpc` or
//! `http/protobuf`; `http/json` is not built in), the endpoint (plaintext `http://` only: the
//! app pushes to the agent on its own node), and `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds).
//! The SDK then reads the same variables itself (endpoint, headers, timeout, compression,
//! temporality, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), so their meaning is the
//! standard one.
//!
//! The exporter runs on the SDK's periodic reader thread: gRPC through tonic (the channel
//! lives on the tokio runtime it is built in), HTTP through reqwest's blocking client.

use std::fmt;
use std::time::Duration;

use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;

use crate::exposition::{HELP, SAMPLE};

/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "metrics-app";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// What to push, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    pub protocol: Protocol,
    /// Where the exports go (for the log; the SDK resolves the same value).
    pub endpoint: String,
    pub interval: Duration,
    /// Set `service.name` to `DEFAULT_SERVICE_NAME`.
    pub default_service_name: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    #[error(
        "OTEL_METRICS_EXPORTER={0:?}: this app supports otlp, none and prometheus (the /metrics \
         endpoint, always served)"
    )]
    Exporter(String),
    #[error("{var}={value:?}: expected grpc or http/protobuf (http/json is not built in)")]
    Protocol { var: &'static str, value: String },
    #[error(
        "{var}={value:?}: expected a plaintext http:// URL such as http://10.0.0.7:4317 (the app \
         pushes to the agent on its node; https is not built in)"
    )]
    Endpoint { var: &'static str, value: String },
    #[error("OTEL_METRIC_EXPORT_INTERVAL={0:?}: expected a positive number of milliseconds")]
    Interval(String),
}

impl fmt::Display for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.protocol {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        };
        write!(
            f,
            "otlp {p} to {} every {}ms",
            self.endpoint,
            self.interval.as_millis()
        )
    }
}

/// The first non-empty value of `vars`, with its name.
fn first(
    get: &impl Fn(&str) -> Option<String>,
    vars: &[&'static str],
) -> Option<(&'static str, String)> {
    vars.iter().find_map(|v| {
        get(v)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|s| (*v, s))
    })
}

impl PushConfig {
    /// Reads the push settings through `get` (the process environment in `main`). `Ok(None)`
    /// when OTLP push is off.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<PushConfig>, PushError> {
        let exporters = get("OTEL_METRICS_EXPORTER").unwrap_or_default();
        let mut otlp = false;
        for e in exporters
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            match e.to_ascii_lowercase().as_str() {
                "otlp" => otlp = true,
                "none" | "prometheus" => {}
                _ => return Err(PushError::Exporter(e.to_string())),
            }
        }
        if !otlp {
            return Ok(None);
        }
        let protocol = match first(
            &get,
            &[
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ],
        ) {
            None => Protocol::HttpProtobuf,
            Some((var, value)) => match value.to_ascii_lowercase().as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" => Protocol::HttpProtobuf,
                _ => return Err(PushError::Protocol { var, value }),
            },
        };
        let endpoint = match first(
            &get,
            &[
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ],
        ) {
            Some((var, value)) => {
                let host = value.strip_prefix("http://").unwrap_or("");
                if host.is_empty() || host.starts_with('/') || host.contains(char::is_whitespace) {
                    return Err(PushError::Endpoint { var, value });
                }
                // The generic variable is a base URL: the HTTP exporter appends the path.
                if var == "OTEL_EXPORTER_OTLP_ENDPOINT" && protocol == Protocol::HttpProtobuf {
                    format!("{}/v1/metrics", value.trim_end_matches('/'))
                } else {
                    value
                }
            }
            None => match protocol {
                Protocol::Grpc => "http://localhost:4317".to_string(),
                Protocol::HttpProtobuf => "http://localhost:4318/v1/metrics".to_string(),
            },
        };
        let interval = match first(&get, &["OTEL_METRIC_EXPORT_INTERVAL"]) {
            None => DEFAULT_INTERVAL,
            Some((_, v)) => match v.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => return Err(PushError::Interval(v)),
            },
        };
        let named_by_attributes = get("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
            attrs.split(',').any(|kv| {
                kv.split('=')
                    .next()
                    .is_some_and(|k| k.trim() == "service.name")
            })
        });
        let default_service_name =
            first(&get, &["OTEL_SERVICE_NAME"]).is_none() && !named_by_attributes;
        Ok(Some(PushConfig {
            protocol,
            endpoint,
            interval,
            default_service_name,
        }))
    }
}

/// The running OTLP pipeline: the counter to add to, and the provider to flush at the end.
pub struct Push {
    provider: SdkMeterProvider,
    pub counter: Counter<u64>,
}

/// Builds the exporter, the periodic reader and the counter. Must run inside the tokio
/// runtime (the gRPC channel's worker is spawned on it).
pub fn start(cfg: &PushConfig) -> Result<Push, opentelemetry_otlp::ExporterBuildError> {
    let exporter = match cfg.protocol {
        Protocol::Grpc => MetricExporter::builder()
            .with_tonic()
            .with_protocol(opentelemetry_otlp::Protocol::Grpc)
            .build()?,
        Protocol::HttpProtobuf => MetricExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()?,
    };
    let reader = PeriodicReader::builder(exporter)
        .with_interval(cfg.interval)
        .build();
    let mut resource = Resource::builder();
    if cfg.default_service_name {
        resource = resource.with_service_name(DEFAULT_SERVICE_NAME);
    }
    let provider = SdkMeterProvider::builder()
        .with_resource(resource.build())
        .with_reader(reader)
        .build();
    let counter = provider
        .meter("metrics-app")
        .u64_counter(SAMPLE)
        .with_description(HELP)
        .build();
    Ok(Push { provider, counter })
}

impl Push {
    /// Exports what was counted since the last export and stops the reader, waiting at most
    /// `timeout`.
    pub async fn shutdown(self, timeout: Duration) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown());
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(Ok(()))) => tracing::info!("OTLP exporter flushed"),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "the final OTLP export failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "the OTLP shutdown task failed"),
            Err(_) => tracing::error!(?timeout, "the final OTLP export did not finish in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<PushConfig>, PushError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PushConfig::from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn off_unless_otlp_is_named() {
        assert_eq!(env(&[]), Ok(None));
        assert_eq!(env(&[("OTEL_METRICS_EXPORTER", "none")]), Ok(None));
        assert_eq!(env(&[("OTEL_METRICS_EXPORTER", "prometheus")]), Ok(None));
        assert!(env(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")])
            .unwrap()
            .is_some());
        assert_eq!(
            env(&[("OTEL_METRICS_EXPORTER", "console")]),
            Err(PushError::Exporter("console".into()))
        );
    }

    #[test]
    fn the_deployments_settings() {
        let c = env(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://10.0.0.7:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://10.0.0.7:4317");
        assert_eq!(c.interval, Duration::from_secs(60));
        assert!(c.default_service_name);
        assert_eq!(
            c.to_string(),
            "otlp grpc to http://10.0.0.7:4317 every 60000ms"
        );
    }

    #[test]
    fn http_is_the_default_and_appends_the_signal_path() {
        let c = env(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://10.0.0.7:4318/"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_SERVICE_NAME", "checkout"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://10.0.0.7:4318/v1/metrics");
        assert_eq!(c.interval, Duration::from_millis(1500));
        assert!(!c.default_service_name);
        // The signal-specific variables win and are used as they are.
        let c = env(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://b:4318/custom",
            ),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=x, service.name=y"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://b:4318/custom");
        assert!(!c.default_service_name);
    }

    #[test]
    fn bad_values_are_errors_that_name_the_variable() {
        let otlp = ("OTEL_METRICS_EXPORTER", "otlp");
        let e = env(&[otlp, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\""));
        for bad in ["https://x:4317", "x:4317", "http://", "http:///v1"] {
            let e = env(&[otlp, ("OTEL_EXPORTER_OTLP_ENDPOINT", bad)]).unwrap_err();
            assert_eq!(
                e,
                PushError::Endpoint {
                    var: "OTEL_EXPORTER_OTLP_ENDPOINT",
                    value: bad.into()
                }
            );
        }
        for bad in ["0", "-5", "1s", "1.5"] {
            assert_eq!(
                env(&[otlp, ("OTEL_METRIC_EXPORT_INTERVAL", bad)]),
                Err(PushError::Interval(bad.into()))
            );
        }
    }
}
