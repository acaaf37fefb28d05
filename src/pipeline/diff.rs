//! `TopologyDiff`: what a reload changes, per component instance, comparing the raw
//! (expanded) config values of the old and new configs, as otelcol's fingerprints would:
//!
//! * an exporter (signal, id) changed when its raw config differs;
//! * a pipeline changed when its processor list, any of its processors' configs, its exporter
//!   list or any of its exporters changed (its receivers are edges, not part of it);
//! * a receiver changed when its raw config or the set of signals it serves differs (the
//!   pipelines it feeds are edges, swapped without touching it);
//! * an extension changed when its raw config differs.

use std::fmt;

use crate::component::Signal;
use crate::config::id::{ComponentId, PipelineId};
use crate::config::model::Config;
use crate::pipeline::graph::{ExporterKey, Graph};

/// Instances added, changed (rebuilt), removed and kept, for one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<K> {
    pub added: Vec<K>,
    pub changed: Vec<K>,
    pub removed: Vec<K>,
    pub kept: Vec<K>,
}

impl<K> Default for Change<K> {
    fn default() -> Self {
        Self {
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
            kept: Vec::new(),
        }
    }
}

impl<K: PartialEq + Clone> Change<K> {
    fn compute<'a>(
        old: impl Iterator<Item = &'a K>,
        new: impl Iterator<Item = &'a K> + Clone,
        differs: impl Fn(&K) -> bool,
    ) -> Self
    where
        K: 'a,
    {
        let mut c = Change::default();
        let old: Vec<&K> = old.collect();
        for k in new.clone() {
            if !old.contains(&k) {
                c.added.push(k.clone());
            } else if differs(k) {
                c.changed.push(k.clone());
            } else {
                c.kept.push(k.clone());
            }
        }
        let new: Vec<&K> = new.collect();
        for k in old {
            if !new.contains(&k) {
                c.removed.push(k.clone());
            }
        }
        c
    }

    /// Whether `k` is rebuilt or new.
    pub fn builds(&self, k: &K) -> bool {
        self.added.contains(k) || self.changed.contains(k)
    }
}

/// Everything a reload changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopologyDiff {
    pub exporters: Change<ExporterKey>,
    pub pipelines: Change<PipelineId>,
    pub receivers: Change<ComponentId>,
    pub extensions: Change<ComponentId>,
}

impl TopologyDiff {
    /// The diff from (`old`, `old_graph`) to (`new`, `new_graph`).
    pub fn between(old: &Config, old_graph: &Graph, new: &Config, new_graph: &Graph) -> Self {
        let exporters = Change::compute(
            old_graph.exporters.iter(),
            new_graph.exporters.iter(),
            |k| old.exporters.get(&k.id) != new.exporters.get(&k.id),
        );
        let pipelines = Change::compute(
            old_graph.pipelines.keys(),
            new_graph.pipelines.keys(),
            |pid| {
                let (o, n) = (&old_graph.pipelines[pid], &new_graph.pipelines[pid]);
                o.processors != n.processors
                    || o.exporters != n.exporters
                    || n.processors
                        .iter()
                        .any(|p| old.processors.get(p) != new.processors.get(p))
                    || n.exporters.iter().any(|e| {
                        exporters.changed.contains(&ExporterKey {
                            signal: pid.signal,
                            id: e.clone(),
                        })
                    })
            },
        );
        let receivers = Change::compute(
            old_graph.receivers.keys(),
            new_graph.receivers.keys(),
            |rid| {
                old.receivers.get(rid) != new.receivers.get(rid)
                    || old_graph.receivers[rid].signals != new_graph.receivers[rid].signals
            },
        );
        let extensions = Change::compute(
            old_graph.extensions.iter(),
            new_graph.extensions.iter(),
            |id| old.extensions.get(id) != new.extensions.get(id),
        );
        Self {
            exporters,
            pipelines,
            receivers,
            extensions,
        }
    }
}

fn exporter_name(k: &ExporterKey) -> String {
    format!("exporter/{}/{}", k.signal, k.id)
}

/// What a reload did, for the log line and the admin endpoint's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

impl ReloadSummary {
    /// Names every instance of `diff`; `reconfigured` receivers changed in place.
    pub fn of(diff: &TopologyDiff, reconfigured: &[ComponentId]) -> Self {
        let mut s = ReloadSummary::default();
        let mut put = |c: &Change<String>| {
            s.added.extend(c.added.iter().cloned());
            s.changed.extend(c.changed.iter().cloned());
            s.removed.extend(c.removed.iter().cloned());
            s.kept.extend(c.kept.iter().cloned());
        };
        let map = |c: &Change<ComponentId>, kind: &str| Change {
            added: c.added.iter().map(|i| format!("{kind}/{i}")).collect(),
            changed: c.changed.iter().map(|i| format!("{kind}/{i}")).collect(),
            removed: c.removed.iter().map(|i| format!("{kind}/{i}")).collect(),
            kept: c.kept.iter().map(|i| format!("{kind}/{i}")).collect(),
        };
        put(&map(&diff.receivers, "receiver"));
        put(&Change {
            added: diff
                .pipelines
                .added
                .iter()
                .map(|p| format!("pipeline/{p}"))
                .collect(),
            changed: diff
                .pipelines
                .changed
                .iter()
                .map(|p| format!("pipeline/{p}"))
                .collect(),
            removed: diff
                .pipelines
                .removed
                .iter()
                .map(|p| format!("pipeline/{p}"))
                .collect(),
            kept: diff
                .pipelines
                .kept
                .iter()
                .map(|p| format!("pipeline/{p}"))
                .collect(),
        });
        put(&Change {
            added: diff.exporters.added.iter().map(exporter_name).collect(),
            changed: diff.exporters.changed.iter().map(exporter_name).collect(),
            removed: diff.exporters.removed.iter().map(exporter_name).collect(),
            kept: diff.exporters.kept.iter().map(exporter_name).collect(),
        });
        put(&map(&diff.extensions, "extension"));
        for r in reconfigured {
            let name = format!("receiver/{r}");
            if let Some(i) = s.changed.iter().position(|c| *c == name) {
                s.changed[i] = format!("{name} (in place)");
            }
        }
        s
    }

    /// Whether nothing was added, changed or removed.
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "added: {}; changed: {}; removed: {}; kept: {}",
            list(&self.added),
            list(&self.changed),
            list(&self.removed),
            list(&self.kept)
        )
    }
}

/// The signals of an exporter key list (helper for tests and logs).
pub fn signals_of(keys: &[ExporterKey]) -> Vec<Signal> {
    let mut v: Vec<Signal> = keys.iter().map(|k| k.signal).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(y: &str) -> (Config, Graph) {
        let c = Config::from_value(&serde_yaml::from_str(y).unwrap()).unwrap();
        let g = Graph::from_config(&c);
        (c, g)
    }

    const BASE: &str = "receivers: {otlp: {protocols: {grpc: null}}, prometheus: {config: {}}}\n\
        processors: {batch: {timeout: 1s}}\n\
        exporters: {debug: null, otlp: {endpoint: a}}\n\
        service: {pipelines: {metrics: {receivers: [otlp, prometheus], processors: [batch], exporters: [debug]},\n\
        \x20 traces: {receivers: [otlp], exporters: [otlp]}}}";

    #[test]
    fn identical_configs_keep_everything() {
        let (a, ga) = cfg(BASE);
        let d = TopologyDiff::between(&a, &ga, &a, &ga);
        let s = ReloadSummary::of(&d, &[]);
        assert!(s.is_noop(), "{s}");
        assert_eq!(s.kept.len(), 2 + 2 + 2);
    }

    #[test]
    fn a_processor_change_rebuilds_only_its_pipeline() {
        let (a, ga) = cfg(BASE);
        let (b, gb) = cfg(&BASE.replace("timeout: 1s", "timeout: 2s"));
        let d = TopologyDiff::between(&a, &ga, &b, &gb);
        assert_eq!(
            d.pipelines.changed,
            vec![PipelineId::parse("metrics").unwrap()]
        );
        assert_eq!(d.pipelines.kept, vec![PipelineId::parse("traces").unwrap()]);
        assert!(d.receivers.changed.is_empty() && d.exporters.changed.is_empty());
    }

    #[test]
    fn an_exporter_change_rebuilds_the_pipelines_using_it() {
        let (a, ga) = cfg(BASE);
        let (b, gb) = cfg(&BASE.replace("endpoint: a", "endpoint: b"));
        let d = TopologyDiff::between(&a, &ga, &b, &gb);
        assert_eq!(d.exporters.changed.len(), 1);
        assert_eq!(
            d.pipelines.changed,
            vec![PipelineId::parse("traces").unwrap()]
        );
        let s = ReloadSummary::of(&d, &[]).to_string();
        assert!(
            s.contains("changed: pipeline/traces, exporter/traces/otlp"),
            "{s}"
        );
    }

    #[test]
    fn receiver_edges_are_not_changes_but_new_signals_are() {
        let (a, ga) = cfg(BASE);
        // prometheus leaves the metrics pipeline: an edge change only.
        let (b, gb) = cfg(&BASE.replace("[otlp, prometheus]", "[otlp]"));
        let d = TopologyDiff::between(&a, &ga, &b, &gb);
        assert_eq!(
            d.receivers.removed,
            vec![ComponentId::parse("prometheus").unwrap()]
        );
        assert_eq!(d.receivers.kept, vec![ComponentId::parse("otlp").unwrap()]);
        assert!(d.pipelines.changed.is_empty());
        // otlp starts serving logs: rebuilt.
        let (c, gc) = cfg(&BASE.replace(
            "exporters: [otlp]}}}",
            "exporters: [otlp]}, logs: {receivers: [otlp], exporters: [debug]}}}",
        ));
        let d = TopologyDiff::between(&a, &ga, &c, &gc);
        assert_eq!(
            d.receivers.changed,
            vec![ComponentId::parse("otlp").unwrap()]
        );
        assert_eq!(d.pipelines.added, vec![PipelineId::parse("logs").unwrap()]);
        assert_eq!(signals_of(&d.exporters.added), vec![Signal::Logs]);
    }
}
