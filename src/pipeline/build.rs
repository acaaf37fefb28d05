//! Instantiating the graph: exporters first (each with its queue from the exporter helper),
//! then pipelines (processor chains and bounded inputs), then receivers (whose consumers hold
//! the only senders into the pipelines), then extensions. Building may bind sockets but starts
//! no task; `running::RunningTopology::start` does that. Everything here is generic over
//! factories: no component type is named.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::context::BuildContext;
use crate::component::factory::{
    AnyExporter, AnyProcessor, BoxFuture, BuildError, BuiltComponent, Exporter, Processor,
    ReceiverOutputs,
};
use crate::component::registry::Registry;
use crate::component::status::StatusRegistry;
use crate::component::{Kind, Signal};
use crate::config::id::{ComponentId, PipelineId};
use crate::config::model::Config;
use crate::data::{Logs, Metrics, SignalData, Traces};
use crate::pipeline::exporter_input::{self, ExporterInput};
use crate::pipeline::fanout::{Consumer, PipelineSender};
use crate::pipeline::graph::Graph;
use crate::pipeline::pipeline_task::{PipelineTask, Stage};
use crate::pipeline::PIPELINE_INPUT_CAPACITY;
use crate::telemetry::metrics::MetricsRegistry;

/// Per-signal access to the type-erased component variants.
pub trait SignalSlots: SignalData + Sized {
    fn exporter(any: AnyExporter) -> Option<Arc<dyn Exporter<Self>>>;
    fn processor(any: AnyProcessor) -> Option<Box<dyn Processor<Self>>>;
    fn output(outputs: &mut ReceiverOutputs) -> &mut Option<Consumer<Self>>;
    fn maps(w: &mut Wiring) -> &mut SignalWiring<Self>;
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
        }
    };
}
slots!(Traces, Traces, traces);
slots!(Metrics, Metrics, metrics);
slots!(Logs, Logs, logs);

/// Exporter inputs and pipeline senders of one signal, while wiring.
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

#[derive(Default)]
pub struct Wiring {
    pub traces: SignalWiring<Traces>,
    pub metrics: SignalWiring<Metrics>,
    pub logs: SignalWiring<Logs>,
}

/// A named task not yet spawned.
pub struct Unit {
    pub name: String,
    pub task: BoxFuture<'static, ()>,
    pub shutdown: CancellationToken,
}

/// A built receiver: its task plus the consumers it feeds (cleared at shutdown so that the
/// pipelines see their inputs close).
pub struct ReceiverUnit {
    pub unit: Unit,
    pub outputs: ReceiverOutputs,
}

/// Everything built, nothing started.
pub struct BuiltTopology {
    pub exporters: Vec<Unit>,
    pub pipelines: Vec<Unit>,
    pub receivers: Vec<ReceiverUnit>,
    pub extensions: Vec<Unit>,
    /// Cancelled when the exporters' drain deadline passes.
    pub exporter_abort: CancellationToken,
}

/// Shared inputs of a build.
pub struct BuildEnv<'a> {
    pub config: &'a Config,
    pub graph: &'a Graph,
    pub registry: &'a Registry,
    pub metrics: Arc<MetricsRegistry>,
    pub status: Arc<StatusRegistry>,
}

impl BuildEnv<'_> {
    fn ctx(&self, id: &ComponentId, kind: Kind, token: &CancellationToken) -> BuildContext {
        BuildContext::new(
            id.clone(),
            kind,
            Arc::clone(&self.metrics),
            Arc::clone(&self.status),
            token.clone(),
        )
    }
}

fn mismatch(kind: &'static str, id: &ComponentId, signal: Signal) -> BuildError {
    BuildError::new(
        kind,
        id.to_string(),
        format!("factory returned the wrong signal for {signal}"),
    )
}

fn add_exporter<S: SignalSlots>(
    env: &BuildEnv<'_>,
    w: &mut Wiring,
    id: &ComponentId,
    any: AnyExporter,
    settings: crate::exporters::queue::HelperSettings,
    abort: &CancellationToken,
    units: &mut Vec<Unit>,
) -> Result<(), BuildError> {
    let exp = S::exporter(any).ok_or_else(|| mismatch("exporter", id, S::SIGNAL))?;
    let name = id.to_string();
    let (input, task) =
        exporter_input::start::<S>(&name, exp, settings, &env.metrics, abort.clone());
    S::maps(w).exporters.insert(id.clone(), input);
    units.push(Unit {
        name: format!("exporter/{}/{name}", S::SIGNAL),
        task,
        shutdown: abort.clone(),
    });
    Ok(())
}

fn add_pipeline<S: SignalSlots>(
    env: &BuildEnv<'_>,
    w: &mut Wiring,
    pid: &PipelineId,
    procs: Vec<(ComponentId, AnyProcessor)>,
    exporters: &[ComponentId],
    units: &mut Vec<Unit>,
) -> Result<(), BuildError> {
    let mut stages = Vec::new();
    for (id, any) in procs {
        let p = S::processor(any).ok_or_else(|| mismatch("processor", &id, S::SIGNAL))?;
        stages.push(Stage::new(&id.to_string(), p, &env.metrics));
    }
    let maps = S::maps(w);
    let mut inputs = Vec::new();
    for eid in exporters {
        let input = maps.exporters.get(eid).ok_or_else(|| {
            BuildError::new(
                "pipeline",
                pid.to_string(),
                format!("exporter {eid} was not built"),
            )
        })?;
        inputs.push(input.clone());
    }
    let (tx, rx) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
    maps.pipelines.insert(pid.clone(), tx);
    let task = PipelineTask {
        id: pid.to_string(),
        input: rx,
        stages,
        exporters: inputs,
    };
    units.push(Unit {
        name: format!("pipeline/{pid}"),
        task: Box::pin(task.run()),
        shutdown: CancellationToken::new(),
    });
    Ok(())
}

fn wire_output<S: SignalSlots>(
    w: &mut Wiring,
    outputs: &mut ReceiverOutputs,
    rid: &ComponentId,
    pipelines: &[PipelineId],
    metrics: &Arc<MetricsRegistry>,
) {
    let consumer = Consumer::<S>::new(&rid.to_string(), Arc::clone(metrics));
    for pid in pipelines.iter().filter(|p| p.signal == S::SIGNAL) {
        if let Some(tx) = S::maps(w).pipelines.get(pid) {
            consumer.add_edge(&pid.to_string(), tx.clone());
        }
    }
    *S::output(outputs) = Some(consumer);
}

/// Builds every instance of the graph. On error, whatever was built is dropped (nothing was
/// started, so nothing needs stopping).
pub fn build(env: &BuildEnv<'_>) -> Result<BuiltTopology, BuildError> {
    let cfg = env.config;
    let mut w = Wiring::default();
    let exporter_abort = CancellationToken::new();
    let mut exporters = Vec::new();
    for key in &env.graph.exporters {
        let factory = env
            .registry
            .exporter(key.id.type_name())
            .ok_or_else(|| BuildError::new("exporter", key.id.to_string(), "no such factory"))?;
        let raw = cfg.exporters.get(&key.id).cloned().unwrap_or_default();
        let ctx = env.ctx(&key.id, Kind::Exporter, &exporter_abort);
        let (any, settings) = factory.build(&raw, &ctx, key.signal)?;
        match key.signal {
            Signal::Traces => add_exporter::<Traces>(
                env,
                &mut w,
                &key.id,
                any,
                settings,
                &exporter_abort,
                &mut exporters,
            )?,
            Signal::Metrics => add_exporter::<Metrics>(
                env,
                &mut w,
                &key.id,
                any,
                settings,
                &exporter_abort,
                &mut exporters,
            )?,
            Signal::Logs => add_exporter::<Logs>(
                env,
                &mut w,
                &key.id,
                any,
                settings,
                &exporter_abort,
                &mut exporters,
            )?,
        }
    }

    let mut pipelines = Vec::new();
    for (pid, node) in &env.graph.pipelines {
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
        match pid.signal {
            Signal::Traces => {
                add_pipeline::<Traces>(env, &mut w, pid, procs, &node.exporters, &mut pipelines)?
            }
            Signal::Metrics => {
                add_pipeline::<Metrics>(env, &mut w, pid, procs, &node.exporters, &mut pipelines)?
            }
            Signal::Logs => {
                add_pipeline::<Logs>(env, &mut w, pid, procs, &node.exporters, &mut pipelines)?
            }
        }
    }

    let mut receivers = Vec::new();
    for (rid, node) in &env.graph.receivers {
        let factory = env
            .registry
            .receiver(rid.type_name())
            .ok_or_else(|| BuildError::new("receiver", rid.to_string(), "no such factory"))?;
        let mut outputs = ReceiverOutputs::default();
        for s in node.signals.iter() {
            match s {
                Signal::Traces => {
                    wire_output::<Traces>(&mut w, &mut outputs, rid, &node.pipelines, &env.metrics)
                }
                Signal::Metrics => {
                    wire_output::<Metrics>(&mut w, &mut outputs, rid, &node.pipelines, &env.metrics)
                }
                Signal::Logs => {
                    wire_output::<Logs>(&mut w, &mut outputs, rid, &node.pipelines, &env.metrics)
                }
            }
        }
        let token = CancellationToken::new();
        let raw = cfg.receivers.get(rid).cloned().unwrap_or_default();
        let BuiltComponent { task } =
            factory.build(&raw, env.ctx(rid, Kind::Receiver, &token), outputs.clone())?;
        receivers.push(ReceiverUnit {
            unit: Unit {
                name: format!("receiver/{rid}"),
                task,
                shutdown: token,
            },
            outputs,
        });
    }

    let mut extensions = Vec::new();
    for id in &env.graph.extensions {
        let factory = env
            .registry
            .extension(id.type_name())
            .ok_or_else(|| BuildError::new("extension", id.to_string(), "no such factory"))?;
        let token = CancellationToken::new();
        let raw = cfg.extensions.get(id).cloned().unwrap_or_default();
        let BuiltComponent { task } = factory.build(&raw, env.ctx(id, Kind::Extension, &token))?;
        extensions.push(Unit {
            name: format!("extension/{id}"),
            task,
            shutdown: token,
        });
    }
    // Only the receivers' consumers keep pipeline senders alive from here on.
    drop(w);
    Ok(BuiltTopology {
        exporters,
        pipelines,
        receivers,
        extensions,
        exporter_abort,
    })
}
