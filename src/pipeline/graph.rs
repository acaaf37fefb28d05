//! Config -> instance graph, with otelcol's instance keys (spec 1.4): one receiver instance
//! per ID (serving every signal it is used with, as otelcol's shared OTLP receiver does; its
//! telemetry identity stays (signal, id)), one processor instance per (pipeline, id), one
//! exporter instance per (signal, id) fed by every pipeline that lists it. Configured but
//! unused components are not instantiated.

use indexmap::IndexMap;

use crate::component::{Signal, SignalSet};
use crate::config::id::{ComponentId, PipelineId};
use crate::config::model::Config;

/// A receiver instance and the pipelines it feeds, per signal.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverNode {
    pub id: ComponentId,
    pub signals: SignalSet,
    pub pipelines: Vec<PipelineId>,
}

/// A pipeline instance: its processors (in order) and exporters.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineNode {
    pub id: PipelineId,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// An exporter instance (signal, id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExporterKey {
    pub signal: Signal,
    pub id: ComponentId,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub receivers: IndexMap<ComponentId, ReceiverNode>,
    pub pipelines: IndexMap<PipelineId, PipelineNode>,
    pub exporters: Vec<ExporterKey>,
    pub extensions: Vec<ComponentId>,
}

impl Graph {
    /// Builds the instance graph of a validated config.
    pub fn from_config(cfg: &Config) -> Graph {
        let mut g = Graph {
            extensions: cfg.service.extensions.clone(),
            ..Default::default()
        };
        for (pid, p) in &cfg.service.pipelines {
            for rid in &p.receivers {
                let node = g
                    .receivers
                    .entry(rid.clone())
                    .or_insert_with(|| ReceiverNode {
                        id: rid.clone(),
                        signals: SignalSet::NONE,
                        pipelines: Vec::new(),
                    });
                node.signals.insert(pid.signal);
                if !node.pipelines.contains(pid) {
                    node.pipelines.push(pid.clone());
                }
            }
            for eid in &p.exporters {
                let key = ExporterKey {
                    signal: pid.signal,
                    id: eid.clone(),
                };
                if !g.exporters.contains(&key) {
                    g.exporters.push(key);
                }
            }
            g.pipelines.insert(
                pid.clone(),
                PipelineNode {
                    id: pid.clone(),
                    processors: p.processors.clone(),
                    exporters: p.exporters.clone(),
                },
            );
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_receivers_and_exporters_per_signal() {
        let doc: serde_yaml::Value = serde_yaml::from_str(
            "receivers: {otlp: null}\nprocessors: {batch: null}\nexporters: {debug: null, otlp: {endpoint: x}}\n\
             service:\n  pipelines:\n    metrics: {receivers: [otlp], processors: [batch], exporters: [debug]}\n\
             \x20   metrics/2: {receivers: [otlp], exporters: [debug, otlp]}\n\
             \x20   traces: {receivers: [otlp], processors: [batch], exporters: [debug]}\n",
        )
        .unwrap();
        let cfg = Config::from_value(&doc).unwrap();
        let g = Graph::from_config(&cfg);
        assert_eq!(g.receivers.len(), 1);
        let r = &g.receivers[&ComponentId::parse("otlp").unwrap()];
        assert!(r.signals.contains(Signal::Metrics) && r.signals.contains(Signal::Traces));
        assert!(!r.signals.contains(Signal::Logs));
        assert_eq!(r.pipelines.len(), 3);
        // debug/metrics is shared by two pipelines; debug/traces is its own instance.
        assert_eq!(g.exporters.len(), 3);
        assert_eq!(g.pipelines.len(), 3);
    }
}
