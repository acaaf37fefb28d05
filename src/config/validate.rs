//! Whole-config validation, in one pass: every component's type is looked up in the registry
//! and its config decoded and validated by its factory, then the graph rules of otelcol
//! (spec 1.4-1.5) are checked: pipelines reference configured components, none is empty,
//! processors appear once per pipeline, each component supports the pipeline's signal.
//!
//! With `UnsupportedMode::Disable`, otelcol components that ferrocol lacks (and connectors)
//! are removed from the config and from every pipeline before the graph checks, and reported
//! as `disabled` so the caller can say so loudly.

use super::error::{ConfigError, ConfigErrors};
use super::id::ComponentId;
use super::model::{Config, Section};
use crate::component::registry::{Lookup, Registry};
use crate::component::Kind;

/// What to do with otelcol components that ferrocol does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnsupportedMode {
    /// Fail validation, naming each (the default).
    #[default]
    Fail,
    /// Start without them.
    Disable,
}

/// A config that passed validation, with what was left out and what deserves a warning.
#[derive(Debug, Clone)]
pub struct Validated {
    pub config: Config,
    /// Components removed under `UnsupportedMode::Disable`: (section, id).
    pub disabled: Vec<(&'static str, ComponentId)>,
    pub warnings: Vec<String>,
}

fn sections(cfg: &Config) -> [(Kind, &Section); 4] {
    [
        (Kind::Receiver, &cfg.receivers),
        (Kind::Processor, &cfg.processors),
        (Kind::Exporter, &cfg.exporters),
        (Kind::Extension, &cfg.extensions),
    ]
}

/// Validates `cfg` against `registry`, reporting every problem.
pub fn validate(
    mut cfg: Config,
    registry: &Registry,
    mode: UnsupportedMode,
) -> Result<Validated, ConfigErrors> {
    let mut errs = ConfigErrors::default();
    let mut warnings = Vec::new();
    let mut disabled: Vec<(&'static str, ComponentId)> = Vec::new();

    if cfg.receivers.is_empty()
        && cfg.processors.is_empty()
        && cfg.exporters.is_empty()
        && cfg.connectors.is_empty()
        && cfg.extensions.is_empty()
    {
        errs.add("", "empty configuration file");
        return Err(errs);
    }

    // Stage 2/3: types and component configs.
    for (kind, section) in sections(&cfg) {
        let sec = kind.section();
        let valid = registry.type_names(kind);
        for (id, raw) in section {
            let path = format!("{sec}::{id}");
            match registry.lookup(kind, id.type_name()) {
                Lookup::Found { factory, alias_of } => {
                    if let Some(c) = alias_of {
                        warnings.push(format!("{:?} alias is deprecated; use {c:?} instead", id.type_name()));
                    }
                    errs.extend(factory.validate(raw, &path));
                }
                Lookup::RemovedLogging => errs.add(
                    &path,
                    "the logging exporter has been deprecated, use the debug exporter instead",
                ),
                Lookup::Unsupported => match mode {
                    UnsupportedMode::Disable => disabled.push((sec, id.clone())),
                    UnsupportedMode::Fail => errs.add(
                        &path,
                        format!(
                            "{kind} type {:?} (id {:?}) is an otelcol component that ferrocol does not support; \
                             remove it, or start with --unsupported-components=disable to run without it",
                            id.type_name(),
                            id.to_string()
                        ),
                    ),
                },
                Lookup::Unknown => errs.add(
                    sec,
                    format!(
                        "unknown type: {:?} for id: {:?} (valid values: [{}])",
                        id.type_name(),
                        id.to_string(),
                        valid.join(" ")
                    ),
                ),
            }
        }
    }
    for id in cfg.connectors.keys() {
        let known = Registry::is_known_connector(id.type_name());
        match mode {
            UnsupportedMode::Disable if known => disabled.push(("connectors", id.clone())),
            _ => errs.add(
                format!("connectors::{id}"),
                format!(
                    "connector {:?} is not supported: ferrocol has no connectors yet{}",
                    id.to_string(),
                    if known {
                        "; start with --unsupported-components=disable to run without it"
                    } else {
                        ""
                    }
                ),
            ),
        }
    }

    if mode == UnsupportedMode::Disable && !disabled.is_empty() {
        remove_disabled(&mut cfg, &disabled, &mut warnings);
    }

    check_graph(&cfg, registry, &mut errs);
    if cfg.service.telemetry.metrics.address.is_some() {
        warnings.push(
            "service::telemetry::metrics::address was removed from otelcol in v0.128; ferrocol serves it as a pull reader, migrate to 'readers'"
                .to_string(),
        );
    }
    errs.into_result().map(|_| Validated {
        config: cfg,
        disabled,
        warnings,
    })
}

fn remove_disabled(
    cfg: &mut Config,
    disabled: &[(&'static str, ComponentId)],
    warnings: &mut Vec<String>,
) {
    let gone = |sec: &str, id: &ComponentId| disabled.iter().any(|(s, d)| *s == sec && d == id);
    cfg.receivers.retain(|id, _| !gone("receivers", id));
    cfg.processors.retain(|id, _| !gone("processors", id));
    cfg.exporters.retain(|id, _| !gone("exporters", id));
    cfg.extensions.retain(|id, _| !gone("extensions", id));
    cfg.connectors.retain(|id, _| !gone("connectors", id));
    let conn = |id: &ComponentId| disabled.iter().any(|(s, d)| *s == "connectors" && d == id);
    cfg.service.extensions.retain(|id| !gone("extensions", id));
    let mut dropped_pipelines = Vec::new();
    for (pid, p) in cfg.service.pipelines.iter_mut() {
        p.receivers.retain(|id| !gone("receivers", id) && !conn(id));
        p.processors.retain(|id| !gone("processors", id));
        p.exporters.retain(|id| !gone("exporters", id) && !conn(id));
        if p.receivers.is_empty() || p.exporters.is_empty() {
            dropped_pipelines.push(pid.clone());
        }
    }
    for pid in dropped_pipelines {
        warnings.push(format!(
            "pipeline {pid:?} has no receiver or no exporter left once unsupported components are disabled; it is not started"
        ));
        cfg.service.pipelines.shift_remove(&pid);
    }
}

fn check_graph(cfg: &Config, registry: &Registry, errs: &mut ConfigErrors) {
    let svc = &cfg.service;
    if cfg.receivers.is_empty() && cfg.connectors.is_empty() {
        errs.add("", "no receiver configuration specified in config");
    }
    if cfg.exporters.is_empty() && cfg.connectors.is_empty() {
        errs.add("", "no exporter configuration specified in config");
    }
    for id in &svc.extensions {
        if !cfg.extensions.contains_key(id) {
            errs.add(
                "service::extensions",
                format!(
                    "references extension {:?} which is not configured",
                    id.to_string()
                ),
            );
        }
    }
    if svc.pipelines.is_empty() {
        errs.add(
            "service::pipelines",
            "service must have at least one pipeline",
        );
    }
    for (pid, p) in &svc.pipelines {
        let path = format!("service::pipelines::{pid}");
        if p.receivers.is_empty() {
            errs.add(&path, "must have at least one receiver");
        }
        if p.exporters.is_empty() {
            errs.add(&path, "must have at least one exporter");
        }
        for id in &p.receivers {
            if !cfg.receivers.contains_key(id) && !cfg.connectors.contains_key(id) {
                errs.add(
                    &path,
                    format!(
                        "references receiver {:?} which is not configured",
                        id.to_string()
                    ),
                );
            } else if let Some(f) = registry.receiver(id.type_name()) {
                if !f.supports(pid.signal) {
                    errs.push(unsupported_signal(
                        "receiver",
                        id,
                        pid.signal.as_str(),
                        None,
                    ));
                }
            }
        }
        let mut seen = Vec::new();
        for id in &p.processors {
            if seen.contains(&id) {
                errs.add(
                    &path,
                    format!("references processor {:?} multiple times", id.to_string()),
                );
            }
            seen.push(id);
            if !cfg.processors.contains_key(id) {
                errs.add(
                    &path,
                    format!(
                        "references processor {:?} which is not configured",
                        id.to_string()
                    ),
                );
            } else if let Some(f) = registry.processor(id.type_name()) {
                if !f.supports(pid.signal) {
                    errs.push(unsupported_signal(
                        "processor",
                        id,
                        pid.signal.as_str(),
                        Some(&pid.to_string()),
                    ));
                }
            }
        }
        for id in &p.exporters {
            if !cfg.exporters.contains_key(id) && !cfg.connectors.contains_key(id) {
                errs.add(
                    &path,
                    format!(
                        "references exporter {:?} which is not configured",
                        id.to_string()
                    ),
                );
            } else if let Some(f) = registry.exporter(id.type_name()) {
                if !f.supports(pid.signal) {
                    errs.push(unsupported_signal(
                        "exporter",
                        id,
                        pid.signal.as_str(),
                        None,
                    ));
                }
            }
        }
    }
}

fn unsupported_signal(
    kind: &str,
    id: &ComponentId,
    signal: &str,
    pipeline: Option<&str>,
) -> ConfigError {
    let msg = match pipeline {
        Some(p) => format!("failed to build pipelines: failed to create {:?} {kind}, in pipeline {p:?}: telemetry type is not supported", id.to_string()),
        None => format!("failed to build pipelines: failed to create {:?} {kind} for data type {signal:?}: telemetry type is not supported", id.to_string()),
    };
    ConfigError::new("", msg)
}
