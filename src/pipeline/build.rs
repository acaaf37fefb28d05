//! Building single instances for the running topology: an exporter (with its queue from the
//! exporter helper), a pipeline (processor chain and bounded input, pointed at its exporters),
//! a receiver (whose consumers fan out into the pipelines) and an extension. Building may bind
//! sockets but starts nothing (the exporter helper's idle workers aside, which end when the
//! input is dropped); `running::RunningTopology` spawns and wires. Everything here is generic
//! over factories: no component type is named.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::context::BuildContext;
use crate::component::factory::{
    AnyExporter, AnyProcessor, BoxFuture, BuildError, BuiltComponent, Exporter, Processor,
    ReceiverOutputs, ReconfigureHook,
};
use crate::component::registry::Registry;
use crate::component::status::StatusRegistry;
use crate::component::{Kind, Signal};
use crate::config::id::{ComponentId, PipelineId};
use crate::config::model::Config;
use crate::data::{Logs, Metrics, SignalData, Traces};
use crate::pipeline::exporter_input::{self, ExporterInput};
use crate::pipeline::fanout::{Consumer, PipelineSender};
use crate::pipeline::graph::{ExporterKey, PipelineNode, ReceiverNode};
use crate::pipeline::listeners::ListenerRegistry;
use crate::pipeline::pipeline_task::{PipelineTask, Stage};
use crate::pipeline::PIPELINE_INPUT_CAPACITY;
use crate::telemetry::metrics::MetricsRegistry;

/// Per-signal access to the type-erased component variants.
pub trait SignalSlots: SignalData + Sized {
    fn exporter(any: AnyExporter) -> Option<Arc<dyn Exporter<Self>>>;
    fn processor(any: AnyProcessor) -> Option<Box<dyn Processor<Self>>>;
    fn output(outputs: &mut ReceiverOutputs) -> &mut Option<Consumer<Self>>;
    fn maps(w: &mut Wiring) -> &mut SignalWiring<Self>;
    fn maps_ref(w: &Wiring) -> &SignalWiring<Self>;
}

macro_rules! slots {
    ($t:ty, $v:ident, $field:ident) => {
        impl SignalSlots for $t {
            fn exporter(any: AnyExporter) -> Option<Arc<dyn Exporter<Self>>> {
                match any {
                    AnyExporter::$v(e) => Some(e),
                    _ => None,
                }
            }
            fn processor(any: AnyProcessor) -> Option<Box<dyn Processor<Self>>> {
                match any {
                    AnyProcessor::$v(p) => Some(p),
                    _ => None,
                }
            }
            fn output(o: &mut ReceiverOutputs) -> &mut Option<Consumer<Self>> {
                &mut o.$field
            }
            fn maps(w: &mut Wiring) -> &mut SignalWiring<Self> {
                &mut w.$field
            }
            fn maps_ref(w: &Wiring) -> &SignalWiring<Self> {
                &w.$field
            }
        }
    };
}
slots!(Traces, Traces, traces);
slots!(Metrics, Metrics, metrics);
slots!(Logs, Logs, logs);

/// Runs `$e` with `$t` bound to the marker type of `$signal`.
macro_rules! by_signal {
    ($signal:expr, $t:ident => $e:expr) => {
        match $signal {
            $crate::component::Signal::Traces => {
                type $t = $crate::data::Traces;
                $e
            }
            $crate::component::Signal::Metrics => {
                type $t = $crate::data::Metrics;
                $e
            }
            $crate::component::Signal::Logs => {
                type $t = $crate::data::Logs;
                $e
            }
        }
    };
}
pub(crate) use by_signal;

/// Exporter inputs and pipeline senders of one signal.
pub struct SignalWiring<S: SignalData> {
    pub exporters: HashMap<ComponentId, ExporterInput<S>>,
    pub pipelines: HashMap<PipelineId, PipelineSender<S>>,
}

impl<S: SignalData> Default for SignalWiring<S> {
    fn default() -> Self {
        Self {
            exporters: HashMap::new(),
            pipelines: HashMap::new(),
        }
    }
}

/// Exporter inputs and pipeline senders of every signal.
#[derive(Default)]
pub struct Wiring {
    pub traces: SignalWiring<Traces>,
    pub metrics: SignalWiring<Metrics>,
    pub logs: SignalWiring<Logs>,
}

impl Wiring {
    /// Drops every pipeline sender (shutdown).
    pub fn clear_pipelines(&mut self) {
        self.traces.pipelines.clear();
        self.metrics.pipelines.clear();
        self.logs.pipelines.clear();
    }

    /// Drops every exporter input (shutdown).
    pub fn clear_exporters(&mut self) {
        self.traces.exporters.clear();
        self.metrics.exporters.clear();
        self.logs.exporters.clear();
    }
}

/// A named task not yet spawned.
pub struct Unit {
    pub name: String,
    pub task: BoxFuture<'static, ()>,
    pub shutdown: CancellationToken,
}

/// What every build needs: the factories, the registries handed to components, and the
/// token that aborts exporters when the shutdown deadline passes.
#[derive(Clone)]
pub struct BuildEnv {
    pub registry: Arc<Registry>,
    pub metrics: Arc<MetricsRegistry>,
    pub status: Arc<StatusRegistry>,
    pub listeners: Arc<ListenerRegistry>,
    /// Cancelled when the exporters' drain deadline passes.
    pub exporter_abort: CancellationToken,
}

impl BuildEnv {
    pub fn new(
        registry: Arc<Registry>,
        metrics: Arc<MetricsRegistry>,
        status: Arc<StatusRegistry>,
    ) -> Self {
        Self {
            registry,
            metrics,
            status,
            listeners: ListenerRegistry::new(),
            exporter_abort: CancellationToken::new(),
        }
    }

    fn ctx(&self, id: &ComponentId, kind: Kind, token: &CancellationToken) -> BuildContext {
        BuildContext::new(
            id.clone(),
            kind,
            Arc::clone(&self.metrics),
            Arc::clone(&self.status),
            token.clone(),
        )
        .with_listeners(Arc::clone(&self.listeners))
    }
}

fn mismatch(kind: &'static str, id: &ComponentId, signal: Signal) -> BuildError {
    BuildError::new(
        kind,
        id.to_string(),
        format!("factory returned the wrong signal for {signal}"),
    )
}

/// Builds exporter instance `key`; its input goes into `staged`.
pub fn build_exporter(
    env: &BuildEnv,
    cfg: &Config,
    key: &ExporterKey,
    staged: &mut Wiring,
) -> Result<Unit, BuildError> {
    let factory = env
        .registry
        .exporter(key.id.type_name())
        .ok_or_else(|| BuildError::new("exporter", key.id.to_string(), "no such factory"))?;
    let raw = cfg.exporters.get(&key.id).cloned().unwrap_or_default();
    let ctx = env.ctx(&key.id, Kind::Exporter, &env.exporter_abort);
    let (any, settings) = factory.build(&raw, &ctx, key.signal)?;
    by_signal!(key.signal, S => {
        let exp = S::exporter(any).ok_or_else(|| mismatch("exporter", &key.id, S::SIGNAL))?;
        let name = key.id.to_string();
        let (input, task) = exporter_input::start::<S>(
            &name,
            exp,
            settings,
            &env.metrics,
            env.exporter_abort.clone(),
        );
        S::maps(staged).exporters.insert(key.id.clone(), input);
        Ok(Unit {
            name: format!("exporter/{}/{name}", S::SIGNAL),
            task,
            shutdown: env.exporter_abort.clone(),
        })
    })
}

fn pipeline_unit<S: SignalSlots>(
    env: &BuildEnv,
    pid: &PipelineId,
    procs: Vec<(ComponentId, AnyProcessor)>,
    exporters: &[ComponentId],
    staged: &mut Wiring,
    running: &Wiring,
) -> Result<Unit, BuildError> {
    let mut stages = Vec::new();
    for (id, any) in procs {
        let p = S::processor(any).ok_or_else(|| mismatch("processor", &id, S::SIGNAL))?;
        stages.push(Stage::new(&id.to_string(), p, &env.metrics));
    }
    let mut inputs = Vec::new();
    for eid in exporters {
        let input = S::maps(staged)
            .exporters
            .get(eid)
            .or_else(|| S::maps_ref(running).exporters.get(eid))
            .ok_or_else(|| {
                BuildError::new(
                    "pipeline",
                    pid.to_string(),
                    format!("exporter {eid} was not built"),
                )
            })?;
        inputs.push(input.clone());
    }
    let (tx, rx) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
    S::maps(staged).pipelines.insert(pid.clone(), tx);
    let task = PipelineTask {
        id: pid.to_string(),
        input: rx,
        stages,
        exporters: inputs,
    };
    Ok(Unit {
        name: format!("pipeline/{pid}"),
        task: Box::pin(task.run()),
        shutdown: CancellationToken::new(),
    })
}

/// Builds pipeline `pid`: its processors, and its input sender into `staged`. Its exporters
/// are taken from `staged` (built in this round) or else from `running`.
pub fn build_pipeline(
    env: &BuildEnv,
    cfg: &Config,
    pid: &PipelineId,
    node: &PipelineNode,
    staged: &mut Wiring,
    running: &Wiring,
) -> Result<Unit, BuildError> {
    let mut procs = Vec::new();
    for id in &node.processors {
        let factory = env
            .registry
            .processor(id.type_name())
            .ok_or_else(|| BuildError::new("processor", id.to_string(), "no such factory"))?;
        let raw = cfg.processors.get(id).cloned().unwrap_or_default();
        let ctx = env.ctx(id, Kind::Processor, &CancellationToken::new());
        procs.push((id.clone(), factory.build(&raw, &ctx, pid.signal)?));
    }
    by_signal!(pid.signal, S => pipeline_unit::<S>(env, pid, procs, &node.exporters, staged, running))
}

/// The consumers a receiver instance needs: `existing` ones reused (a rebuilt receiver shares
/// them with its predecessor, so edges and counters carry over), new ones for new signals.
pub fn receiver_outputs(
    env: &BuildEnv,
    node: &ReceiverNode,
    existing: Option<&ReceiverOutputs>,
) -> ReceiverOutputs {
    let mut out = ReceiverOutputs::default();
    let name = node.id.to_string();
    for s in node.signals.iter() {
        match s {
            Signal::Traces => {
                out.traces = existing
                    .and_then(|e| e.traces.clone())
                    .or_else(|| Some(Consumer::new(&name, Arc::clone(&env.metrics))))
            }
            Signal::Metrics => {
                out.metrics = existing
                    .and_then(|e| e.metrics.clone())
                    .or_else(|| Some(Consumer::new(&name, Arc::clone(&env.metrics))))
            }
            Signal::Logs => {
                out.logs = existing
                    .and_then(|e| e.logs.clone())
                    .or_else(|| Some(Consumer::new(&name, Arc::clone(&env.metrics))))
            }
        }
    }
    out
}

/// Builds receiver `rid` feeding `outputs`; returns its unit and its reconfigure hook.
pub fn build_receiver(
    env: &BuildEnv,
    cfg: &Config,
    rid: &ComponentId,
    outputs: ReceiverOutputs,
) -> Result<(Unit, Option<ReconfigureHook>), BuildError> {
    let factory = env
        .registry
        .receiver(rid.type_name())
        .ok_or_else(|| BuildError::new("receiver", rid.to_string(), "no such factory"))?;
    let token = CancellationToken::new();
    let raw = cfg.receivers.get(rid).cloned().unwrap_or_default();
    let BuiltComponent { task, reconfigure } =
        factory.build(&raw, env.ctx(rid, Kind::Receiver, &token), outputs)?;
    Ok((
        Unit {
            name: format!("receiver/{rid}"),
            task,
            shutdown: token,
        },
        reconfigure,
    ))
}

/// Builds extension `id`.
pub fn build_extension(env: &BuildEnv, cfg: &Config, id: &ComponentId) -> Result<Unit, BuildError> {
    let factory = env
        .registry
        .extension(id.type_name())
        .ok_or_else(|| BuildError::new("extension", id.to_string(), "no such factory"))?;
    let token = CancellationToken::new();
    let raw = cfg.extensions.get(id).cloned().unwrap_or_default();
    let BuiltComponent { task, .. } = factory.build(&raw, env.ctx(id, Kind::Extension, &token))?;
    Ok(Unit {
        name: format!("extension/{id}"),
        task,
        shutdown: token,
    })
}
