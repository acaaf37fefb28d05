//! The top-level shell of an otelcol config: the five component sections as maps from
//! `ComponentId` to the component's raw (expanded) YAML value, kept raw so that factories
//! decode it strictly and reload can diff it, plus the typed `service` section.
//!
//! Parsing here is structural only and collects every problem; component configs are
//! decoded by their factories in `validate`.

use indexmap::IndexMap;
use serde_yaml::Value;

use super::decode::decode;
use super::error::{ConfigError, ConfigErrors};
use super::id::{ComponentId, PipelineId};
use crate::telemetry::config::TelemetryConfig;

/// A component section: ID -> raw config (null = defaults).
pub type Section = IndexMap<ComponentId, Value>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipelineConfig {
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceConfig {
    pub extensions: Vec<ComponentId>,
    pub pipelines: IndexMap<PipelineId, PipelineConfig>,
    pub telemetry: TelemetryConfig,
    /// The raw telemetry value, for diffing on reload.
    pub telemetry_raw: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub receivers: Section,
    pub processors: Section,
    pub exporters: Section,
    pub connectors: Section,
    pub extensions: Section,
    pub service: ServiceConfig,
}

const TOP_KEYS: [&str; 6] = [
    "receivers",
    "processors",
    "exporters",
    "connectors",
    "extensions",
    "service",
];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "array",
        Value::Mapping(_) => "map",
        Value::Tagged(_) => "tagged value",
    }
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Checks `map` has only `allowed` keys; reports otelcol's `'<path>' has invalid keys: a, b`.
fn check_keys(map: &serde_yaml::Mapping, allowed: &[&str], path: &str, errs: &mut ConfigErrors) {
    let bad: Vec<String> = map
        .keys()
        .map(key_text)
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !bad.is_empty() {
        errs.push(ConfigError::new(
            "",
            format!("'{}' has invalid keys: {}", path, bad.join(", ")),
        ));
    }
}

fn parse_section(v: Option<&Value>, section: &str, errs: &mut ConfigErrors) -> Section {
    let mut out = Section::new();
    let map = match v {
        None | Some(Value::Null) => return out,
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            errs.add(section, format!("expected a map, got {}", type_name(other)));
            return out;
        }
    };
    for (k, val) in map {
        let key = key_text(k);
        match ComponentId::parse(&key) {
            Ok(id) => {
                if out.contains_key(&id) {
                    errs.add(section, format!("duplicate name {:?}", id.to_string()));
                } else {
                    out.insert(id, val.clone());
                }
            }
            Err(e) => errs.add(section, e),
        }
    }
    out
}

/// A list of IDs; a string is split on `,` as mapstructure does.
fn parse_id_list(v: Option<&Value>, path: &str, errs: &mut ConfigErrors) -> Vec<ComponentId> {
    let items: Vec<String> = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::String(s)) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Some(Value::Sequence(seq)) => seq.iter().map(key_text).collect(),
        Some(other) => {
            errs.add(
                path,
                format!(
                    "source data must be an array or slice, got {}",
                    type_name(other)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for s in items {
        match ComponentId::parse(&s) {
            Ok(id) => out.push(id),
            Err(e) => errs.add(path, e),
        }
    }
    out
}

impl Config {
    /// Parses the resolved document. Every structural problem is reported.
    pub fn from_value(doc: &Value) -> Result<Config, ConfigErrors> {
        let mut errs = ConfigErrors::default();
        let empty = serde_yaml::Mapping::new();
        let top = match doc {
            Value::Mapping(m) => m,
            Value::Null => &empty,
            other => {
                errs.add(
                    "",
                    format!("the configuration must be a map, got {}", type_name(other)),
                );
                return Err(errs);
            }
        };
        check_keys(top, &TOP_KEYS, "", &mut errs);
        let mut cfg = Config {
            receivers: parse_section(top.get("receivers"), "receivers", &mut errs),
            processors: parse_section(top.get("processors"), "processors", &mut errs),
            exporters: parse_section(top.get("exporters"), "exporters", &mut errs),
            connectors: parse_section(top.get("connectors"), "connectors", &mut errs),
            extensions: parse_section(top.get("extensions"), "extensions", &mut errs),
            service: ServiceConfig::default(),
        };
        match top.get("service") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(svc)) => cfg.service = parse_service(svc, &mut errs),
            Some(other) => errs.add(
                "service",
                format!("expected a map, got {}", type_name(other)),
            ),
        }
        errs.into_result().map(|_| cfg)
    }
}

fn parse_service(svc: &serde_yaml::Mapping, errs: &mut ConfigErrors) -> ServiceConfig {
    check_keys(
        svc,
        &["extensions", "pipelines", "telemetry"],
        "service",
        errs,
    );
    let mut out = ServiceConfig {
        extensions: parse_id_list(svc.get("extensions"), "service::extensions", errs),
        ..Default::default()
    };
    match svc.get("pipelines") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(p)) => {
            for (k, v) in p {
                let key = key_text(k);
                let pid = match PipelineId::parse(&key) {
                    Ok(p) => p,
                    Err(e) => {
                        errs.add("service::pipelines", e);
                        continue;
                    }
                };
                let path = format!("service::pipelines::{key}");
                let pc = match v {
                    Value::Null => PipelineConfig::default(),
                    Value::Mapping(m) => {
                        let bad: Vec<String> = m
                            .keys()
                            .map(key_text)
                            .filter(|k| {
                                !["receivers", "processors", "exporters"].contains(&k.as_str())
                            })
                            .collect();
                        if !bad.is_empty() {
                            errs.add(
                                &path,
                                format!("'[{key}]' has invalid keys: {}", bad.join(", ")),
                            );
                        }
                        PipelineConfig {
                            receivers: parse_id_list(
                                m.get("receivers"),
                                &format!("{path}::receivers"),
                                errs,
                            ),
                            processors: parse_id_list(
                                m.get("processors"),
                                &format!("{path}::processors"),
                                errs,
                            ),
                            exporters: parse_id_list(
                                m.get("exporters"),
                                &format!("{path}::exporters"),
                                errs,
                            ),
                        }
                    }
                    other => {
                        errs.add(&path, format!("expected a map, got {}", type_name(other)));
                        continue;
                    }
                };
                if out.pipelines.contains_key(&pid) {
                    errs.add("service::pipelines", format!("duplicate name {key:?}"));
                } else {
                    out.pipelines.insert(pid, pc);
                }
            }
        }
        Some(other) => errs.add(
            "service::pipelines",
            format!("expected a map, got {}", type_name(other)),
        ),
    }
    let raw = svc.get("telemetry").cloned().unwrap_or(Value::Null);
    match decode::<TelemetryConfig>(&raw, "service::telemetry") {
        Ok(t) => out.telemetry = t,
        Err(e) => errs.extend(e),
    }
    out.telemetry_raw = raw;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> Result<Config, ConfigErrors> {
        Config::from_value(&serde_yaml::from_str(y).unwrap())
    }

    #[test]
    fn parses_sections_and_pipelines() {
        let c = parse(
            "receivers: {otlp: {protocols: {grpc: null}}}\nexporters: {debug: null, otlp/2: {endpoint: x}}\n\
             service: {pipelines: {metrics/a: {receivers: otlp, exporters: [debug, otlp/2]}}}",
        )
        .unwrap();
        assert_eq!(c.receivers.len(), 2 - 1);
        let p = &c.service.pipelines[&PipelineId::parse("metrics/a").unwrap()];
        assert_eq!(p.receivers, vec![ComponentId::parse("otlp").unwrap()]);
        assert_eq!(p.exporters.len(), 2);
    }

    #[test]
    fn reports_every_structural_error() {
        let e = parse("receiverz: {}\nservice: {pipelinez: {}, pipelines: {spans: {}, traces: {receivers: {a: 1}}}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'' has invalid keys: receiverz"), "{e}");
        assert!(e.contains("'service' has invalid keys: pipelinez"), "{e}");
        assert!(e.contains("unknown pipeline signal: \"spans\""), "{e}");
        assert!(
            e.contains("source data must be an array or slice, got map"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_normalised_ids() {
        let e = parse("exporters: {\"debug/ a\": null, \"debug /a\": null}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate name \"debug/a\""), "{e}");
    }
}
