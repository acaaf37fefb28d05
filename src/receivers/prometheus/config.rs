//! The `prometheus` receiver's own config (spec 5.1): `config` (a Prometheus document, parsed
//! by `promconfig`), `api_server`, and the historical keys older ConfigMaps still carry
//! (accepted with a warning). `target_allocator` is rejected: ferrocol discovers targets
//! itself, node-locally.

use serde_yaml::Value;

use super::promconfig::{self, PromConfig};
use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::discovery::kubernetes::KubernetesSdConfig;

/// The decoded receiver config.
#[derive(Debug, Clone)]
pub struct PrometheusReceiverConfig {
    pub prom: PromConfig,
    /// `api_server.server_config.endpoint` when `api_server.enabled`.
    pub api_endpoint: Option<String>,
    pub trim_metric_suffixes: bool,
    pub warnings: Vec<String>,
}

const KEYS: [&str; 7] = [
    "config",
    "api_server",
    "trim_metric_suffixes",
    "target_allocator",
    "use_start_time_metric",
    "start_time_metric_regex",
    "report_extra_scrape_metrics",
];

/// Decodes and validates, reporting every problem with its key path under `path`.
pub fn decode(raw: &Value, path: &str) -> Result<PrometheusReceiverConfig, ConfigErrors> {
    let mut errs = ConfigErrors::default();
    let mut warnings = Vec::new();
    let empty = serde_yaml::Mapping::new();
    let map = match raw {
        Value::Mapping(m) => m,
        Value::Null => &empty,
        _ => {
            errs.add(path, "expected a map");
            return Err(errs);
        }
    };
    for k in map.keys() {
        let k = k.as_str().unwrap_or("");
        if !KEYS.contains(&k) {
            errs.add(path, format!("'' has invalid keys: {k}"));
        }
    }
    if map.get("target_allocator").is_some_and(|v| !v.is_null()) {
        errs.add(
            format!("{path}::target_allocator"),
            "the OpenTelemetry Operator target allocator is not supported by ferrocol: it discovers targets itself (use kubernetes_sd_configs with a spec.nodeName field selector)",
        );
    }
    for k in ["use_start_time_metric", "start_time_metric_regex"] {
        if map.contains_key(k) {
            warnings.push(format!("{path}::{k} was removed from otelcol and is ignored; use the metricstarttime processor"));
        }
    }
    let trim = map
        .get("trim_metric_suffixes")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if trim {
        errs.add(
            format!("{path}::trim_metric_suffixes"),
            "trim_metric_suffixes is not supported by ferrocol yet",
        );
    }
    let mut api_endpoint = None;
    if let Some(api) = map.get("api_server").filter(|v| !v.is_null()) {
        let enabled = api.get("enabled").and_then(Value::as_bool).unwrap_or(false);
        let ep = api
            .get("server_config")
            .and_then(|s| s.get("endpoint"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if enabled && ep.is_empty() {
            errs.add(
                format!("{path}::api_server"),
                "invalid API server configuration settings: if api_server is enabled, it requires a non-empty server_config endpoint",
            );
        }
        if enabled && !ep.is_empty() {
            api_endpoint = Some(ep.to_string());
        }
    }
    let cfg_path = format!("{path}::config");
    let prom = match promconfig::parse(map.get("config").unwrap_or(&Value::Null), &cfg_path) {
        Ok(p) => Some(p),
        Err(list) => {
            for (p, m) in list {
                errs.add(p, m);
            }
            None
        }
    };
    if let Some(p) = &prom {
        if p.scrape_configs.is_empty() {
            errs.add(path, "no Prometheus scrape_configs or target_allocator set");
        }
        for (ji, job) in p.scrape_configs.iter().enumerate() {
            let jp = format!("{cfg_path}::scrape_configs::{ji} (job {:?})", job.job_name);
            for (i, sd) in job.kubernetes_sd_configs.iter().enumerate() {
                if let Err(e) = KubernetesSdConfig::from_yaml(sd) {
                    errs.add(format!("{jp}::kubernetes_sd_configs::{i}"), e);
                }
            }
            let h = &job.http;
            for (what, file) in [
                ("client cert", &h.tls_cert_file),
                ("client key", &h.tls_key_file),
                ("CA", &h.tls_ca_file),
            ] {
                if let Some(f) = file {
                    if let Err(e) = std::fs::metadata(f) {
                        errs.add(
                            format!("{jp}::tls_config"),
                            format!("error checking {what} file {f:?}: {e}"),
                        );
                    }
                }
            }
            if let Some((_, _, Some(f))) = &h.authorization {
                if let Err(e) = std::fs::metadata(f) {
                    errs.add(
                        format!("{jp}::authorization"),
                        format!("error checking authorization credentials file {f:?}: {e}"),
                    );
                }
            }
        }
    }
    match (prom, errs.is_empty()) {
        (Some(prom), true) => Ok(PrometheusReceiverConfig {
            prom,
            api_endpoint,
            trim_metric_suffixes: trim,
            warnings,
        }),
        _ => Err(errs),
    }
}

/// Marker so the factory can use the shared decode helpers' `Validate` idiom.
impl Validate for PrometheusReceiverConfig {}
