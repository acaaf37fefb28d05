//! The running topology. Start-up and reload are one operation, `apply`: the new config is
//! diffed against the running one per instance (`diff`), every added or changed instance is
//! built first (`stage`; ports bound, nothing started), and only if all of them build is
//! anything changed (`commit`). A failed build drops what was staged, which unbinds its
//! sockets: the running topology is untouched.
//!
//! Commit order keeps every accepted item: new exporters and pipelines start; the fan-out
//! edges of every receiver are swapped to the new pipeline senders in one step; a replaced
//! pipeline sees its input close once the last batch in flight reaches it, flushes its
//! processors into its (old) exporters and ends; a replaced exporter hands its queue to its
//! successor, a removed one drains to its backend. Changed receivers restart on the same
//! sockets (the listener registry hands them over) or reconfigure in place when they offer
//! a hook; removed ones stop accepting, finish in-flight requests and stop.
//!
//! Shutdown is ordered, bounded and data-safe: receivers stop, their consumers drop the
//! pipeline senders, pipelines flush and drop the exporter inputs, exporters drain their
//! queues until the deadline; what is left is counted as dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::component::factory::{ApplyReconfigure, BuildError, ReceiverOutputs, ReconfigureHook};
use crate::config::id::{ComponentId, PipelineId};
use crate::config::model::Config;
use crate::pipeline::build::{
    build_exporter, build_extension, build_pipeline, build_receiver, by_signal, receiver_outputs,
    BuildEnv, SignalSlots, Unit, Wiring,
};
use crate::pipeline::diff::{ReloadSummary, TopologyDiff};
use crate::pipeline::graph::{ExporterKey, Graph, ReceiverNode};
use crate::shutdown::join_until;

/// How long a reload waits for replaced receivers and extensions to stop before moving on
/// (they keep stopping in the background).
const RETIRE_WAIT: Duration = Duration::from_secs(10);

struct Spawned {
    name: String,
    handle: JoinHandle<()>,
    shutdown: CancellationToken,
}

fn spawn(u: Unit) -> Spawned {
    let span = tracing::info_span!("component", id = %u.name);
    Spawned {
        name: u.name,
        handle: tokio::spawn(u.task.instrument(span)),
        shutdown: u.shutdown,
    }
}

struct RunningReceiver {
    task: Spawned,
    reconfigure: Option<ReconfigureHook>,
}

/// Everything built for one apply, nothing started.
#[derive(Default)]
struct Staged {
    wiring: Wiring,
    exporters: Vec<(ExporterKey, Unit)>,
    pipelines: Vec<(PipelineId, Unit)>,
    receivers: Vec<(ComponentId, Unit, Option<ReconfigureHook>, ReceiverOutputs)>,
    reconfigure: Vec<(ComponentId, ApplyReconfigure)>,
    extensions: Vec<(ComponentId, Unit)>,
}

pub struct RunningTopology {
    env: BuildEnv,
    config: Config,
    graph: Graph,
    wiring: Wiring,
    /// The consumers of every receiver, kept across rebuilds of the same receiver.
    outputs: HashMap<ComponentId, ReceiverOutputs>,
    receivers: HashMap<ComponentId, RunningReceiver>,
    pipelines: HashMap<PipelineId, Spawned>,
    exporters: HashMap<ExporterKey, Spawned>,
    extensions: HashMap<ComponentId, Spawned>,
    /// Replaced or removed pipelines and exporters still flushing / draining.
    draining_pipelines: Vec<Spawned>,
    draining_exporters: Vec<Spawned>,
}

fn set_edges<S: SignalSlots>(w: &Wiring, out: &mut ReceiverOutputs, node: &ReceiverNode) {
    if let Some(c) = S::output(out) {
        let maps = S::maps_ref(w);
        let edges = node
            .pipelines
            .iter()
            .filter(|p| p.signal == S::SIGNAL)
            .filter_map(|p| maps.pipelines.get(p).map(|tx| (p.to_string(), tx.clone())))
            .collect();
        c.set_edges(edges);
    }
}

/// Moves one signal's staged inputs and senders into the running wiring; a replaced exporter
/// hands its queue to its successor; removed ones are dropped from the wiring.
fn commit_signal<S: SignalSlots>(running: &mut Wiring, staged: &mut Wiring, diff: &TopologyDiff) {
    let st = std::mem::take(S::maps(staged));
    let run = S::maps(running);
    for (id, input) in st.exporters {
        if let Some(old) = run.exporters.insert(id, input.clone()) {
            old.hand_over_to(input);
        }
    }
    for (pid, tx) in st.pipelines {
        run.pipelines.insert(pid, tx);
    }
    for k in diff
        .exporters
        .removed
        .iter()
        .filter(|k| k.signal == S::SIGNAL)
    {
        run.exporters.remove(&k.id);
    }
    for p in diff
        .pipelines
        .removed
        .iter()
        .filter(|p| p.signal == S::SIGNAL)
    {
        run.pipelines.remove(p);
    }
}

fn clear_outputs(o: &ReceiverOutputs) {
    if let Some(c) = &o.traces {
        c.clear();
    }
    if let Some(c) = &o.metrics {
        c.clear();
    }
    if let Some(c) = &o.logs {
        c.clear();
    }
}

/// The consumers of `old` for signals `new` does not serve.
fn dropped_signals(old: &ReceiverOutputs, new: &ReceiverOutputs) -> ReceiverOutputs {
    ReceiverOutputs {
        traces: old.traces.clone().filter(|_| new.traces.is_none()),
        metrics: old.metrics.clone().filter(|_| new.metrics.is_none()),
        logs: old.logs.clone().filter(|_| new.logs.is_none()),
    }
}

async fn stop_all(what: &str, units: Vec<Spawned>) {
    for u in &units {
        u.shutdown.cancel();
    }
    let tasks = units.into_iter().map(|u| (u.name, u.handle)).collect();
    for name in join_until(what, tasks, Instant::now() + RETIRE_WAIT).await {
        tracing::warn!(component = %name, "Still stopping after the reload; continuing in the background.");
    }
}

impl RunningTopology {
    /// An empty topology; `apply` starts everything.
    pub fn new(env: BuildEnv) -> Self {
        Self {
            env,
            config: Config::default(),
            graph: Graph::default(),
            wiring: Wiring::default(),
            outputs: HashMap::new(),
            receivers: HashMap::new(),
            pipelines: HashMap::new(),
            exporters: HashMap::new(),
            extensions: HashMap::new(),
            draining_pipelines: Vec::new(),
            draining_exporters: Vec::new(),
        }
    }

    /// Builds and starts `config`: exporters first, receivers last (otelcol's start order).
    pub async fn start(env: BuildEnv, config: Config) -> Result<Self, BuildError> {
        let mut t = Self::new(env);
        t.apply(config).await?;
        Ok(t)
    }

    /// The running config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The running instance graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Moves the running topology to `new`: builds what is added or changed, and only if all
    /// of it builds, swaps it in (see the module docs). On error nothing changed.
    pub async fn apply(&mut self, new: Config) -> Result<ReloadSummary, BuildError> {
        let new_graph = Graph::from_config(&new);
        let diff = TopologyDiff::between(&self.config, &self.graph, &new, &new_graph);
        let staged = self.stage(&new, &new_graph, &diff)?;
        let reconfigured: Vec<ComponentId> = staged
            .reconfigure
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let summary = ReloadSummary::of(&diff, &reconfigured);
        self.commit(new, new_graph, &diff, staged).await;
        Ok(summary)
    }

    fn stage(&self, new: &Config, g: &Graph, diff: &TopologyDiff) -> Result<Staged, BuildError> {
        let env = &self.env;
        let mut st = Staged::default();
        for key in diff.exporters.added.iter().chain(&diff.exporters.changed) {
            let unit = build_exporter(env, new, key, &mut st.wiring)?;
            st.exporters.push((key.clone(), unit));
        }
        for pid in diff.pipelines.added.iter().chain(&diff.pipelines.changed) {
            let unit = build_pipeline(
                env,
                new,
                pid,
                &g.pipelines[pid],
                &mut st.wiring,
                &self.wiring,
            )?;
            st.pipelines.push((pid.clone(), unit));
        }
        for rid in &diff.receivers.changed {
            let same_signals = self.graph.receivers[rid].signals == g.receivers[rid].signals;
            let hook = self.receivers.get(rid).and_then(|r| r.reconfigure.as_ref());
            if let (true, Some(hook)) = (same_signals, hook) {
                let raw = new.receivers.get(rid).cloned().unwrap_or_default();
                if let Some(apply) = hook(&raw) {
                    st.reconfigure.push((rid.clone(), apply));
                }
            }
        }
        for rid in diff.receivers.added.iter().chain(&diff.receivers.changed) {
            if st.reconfigure.iter().any(|(id, _)| id == rid) {
                continue;
            }
            let outputs = receiver_outputs(env, &g.receivers[rid], self.outputs.get(rid));
            let (unit, hook) = build_receiver(env, new, rid, outputs.clone())?;
            st.receivers.push((rid.clone(), unit, hook, outputs));
        }
        for id in diff.extensions.added.iter().chain(&diff.extensions.changed) {
            st.extensions
                .push((id.clone(), build_extension(env, new, id)?));
        }
        Ok(st)
    }

    async fn commit(&mut self, new: Config, g: Graph, diff: &TopologyDiff, mut st: Staged) {
        // 1. New exporters and pipelines run; the wiring points at them.
        for (key, unit) in st.exporters {
            if let Some(old) = self.exporters.insert(key, spawn(unit)) {
                self.draining_exporters.push(old);
            }
        }
        for (pid, unit) in st.pipelines {
            if let Some(old) = self.pipelines.insert(pid, spawn(unit)) {
                self.draining_pipelines.push(old);
            }
        }
        for s in crate::component::Signal::ALL {
            by_signal!(s, S => commit_signal::<S>(&mut self.wiring, &mut st.wiring, diff));
        }
        for k in &diff.exporters.removed {
            if let Some(old) = self.exporters.remove(k) {
                self.draining_exporters.push(old);
            }
        }
        for p in &diff.pipelines.removed {
            if let Some(old) = self.pipelines.remove(p) {
                self.draining_pipelines.push(old);
            }
        }

        // 2. Every receiver's edges point at the new pipelines, in one step per consumer.
        let mut to_clear: Vec<ReceiverOutputs> = Vec::new();
        for (rid, _, _, outputs) in &st.receivers {
            if let Some(old) = self.outputs.insert(rid.clone(), outputs.clone()) {
                to_clear.push(dropped_signals(&old, outputs));
            }
        }
        for rid in &diff.receivers.removed {
            if let Some(old) = self.outputs.remove(rid) {
                to_clear.push(old);
            }
        }
        for (rid, node) in &g.receivers {
            if let Some(out) = self.outputs.get_mut(rid) {
                set_edges::<crate::data::Traces>(&self.wiring, out, node);
                set_edges::<crate::data::Metrics>(&self.wiring, out, node);
                set_edges::<crate::data::Logs>(&self.wiring, out, node);
            }
        }

        // 3. Receivers: in-place changes, then new instances, then the old ones stop.
        for (_, apply) in st.reconfigure {
            apply();
        }
        let mut new_extensions = Vec::new();
        for (id, unit) in st.extensions {
            new_extensions.push((id, spawn(unit)));
        }
        let mut stopping = Vec::new();
        for (rid, unit, hook, _) in st.receivers {
            let r = RunningReceiver {
                task: spawn(unit),
                reconfigure: hook,
            };
            if let Some(old) = self.receivers.insert(rid, r) {
                stopping.push(old.task);
            }
        }
        for rid in &diff.receivers.removed {
            if let Some(old) = self.receivers.remove(rid) {
                stopping.push(old.task);
            }
        }
        if !stopping.is_empty() {
            stop_all("replaced receivers", stopping).await;
        }
        for o in &to_clear {
            clear_outputs(o);
        }

        // 4. Extensions: the new ones already serve (on handed-over sockets); old ones stop.
        let mut old_ext = Vec::new();
        for (id, s) in new_extensions {
            if let Some(old) = self.extensions.insert(id, s) {
                old_ext.push(old);
            }
        }
        for id in &diff.extensions.removed {
            if let Some(old) = self.extensions.remove(id) {
                old_ext.push(old);
            }
        }
        if !old_ext.is_empty() {
            stop_all("replaced extensions", old_ext).await;
        }

        self.config = new;
        self.graph = g;
        self.draining_pipelines.retain(|s| !s.handle.is_finished());
        self.draining_exporters.retain(|s| !s.handle.is_finished());
    }

    /// Waits (bounded) until replaced pipelines and exporters have flushed and drained; true
    /// when they all did. For tests and for a reload that must be complete before answering.
    pub async fn settle(&mut self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            self.draining_pipelines.retain(|s| !s.handle.is_finished());
            self.draining_exporters.retain(|s| !s.handle.is_finished());
            if self.draining_pipelines.is_empty() && self.draining_exporters.is_empty() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops everything in order within `timeout`.
    pub async fn shutdown(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        // 1. Receivers: stop accepting, finish in-flight requests.
        for r in self.receivers.values() {
            r.task.shutdown.cancel();
        }
        let tasks = self
            .receivers
            .drain()
            .map(|(_, r)| (r.task.name, r.task.handle))
            .collect();
        let recv_deadline = Instant::now() + (deadline - Instant::now()) / 3;
        for name in join_until("receivers", tasks, recv_deadline).await {
            tracing::warn!(component = %name, "Receiver did not stop in time.");
        }
        // 2. Drop every edge into the pipelines so their inputs close once in-flight sends end.
        for o in self.outputs.values() {
            clear_outputs(o);
        }
        self.outputs.clear();
        self.wiring.clear_pipelines();
        // 3. Pipelines flush their batches into the exporters and end.
        let tasks = self
            .pipelines
            .drain()
            .map(|(_, p)| p)
            .chain(self.draining_pipelines.drain(..))
            .map(|p| (p.name, p.handle))
            .collect();
        let pipe_deadline = Instant::now() + (deadline - Instant::now()) / 2;
        for name in join_until("pipelines", tasks, pipe_deadline).await {
            tracing::warn!(component = %name, "Pipeline did not stop in time.");
        }
        // 4. Exporters drain their queues until the deadline; then the rest is dropped and counted.
        self.wiring.clear_exporters();
        let tasks: Vec<(String, JoinHandle<()>)> = self
            .exporters
            .drain()
            .map(|(_, e)| e)
            .chain(self.draining_exporters.drain(..))
            .map(|e| (e.name, e.handle))
            .collect();
        let late = join_until("exporters", tasks, deadline).await;
        if !late.is_empty() {
            tracing::error!(still_running = ?late, "Shutdown deadline reached; dropping what exporters still hold.");
            self.env.exporter_abort.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // 5. Extensions last.
        for e in self.extensions.values() {
            e.shutdown.cancel();
        }
        let tasks = self
            .extensions
            .drain()
            .map(|(_, e)| (e.name, e.handle))
            .collect();
        let _ = join_until("extensions", tasks, Instant::now() + Duration::from_secs(2)).await;
    }
}
