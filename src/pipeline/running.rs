//! The running topology: spawning built units in dependency order (exporters, pipelines,
//! extensions, receivers) and the ordered, bounded, data-safe shutdown (receivers stop, their
//! consumers drop the pipeline senders, pipelines flush and drop the exporter inputs,
//! exporters drain their queues until the deadline; what is left is counted as dropped).

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::component::factory::ReceiverOutputs;
use crate::pipeline::build::{BuiltTopology, Unit};
use crate::shutdown::join_until;

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

pub struct RunningTopology {
    receivers: Vec<(Spawned, ReceiverOutputs)>,
    pipelines: Vec<Spawned>,
    exporters: Vec<Spawned>,
    extensions: Vec<Spawned>,
    exporter_abort: CancellationToken,
}

impl RunningTopology {
    /// Spawns every unit: exporters first, receivers last (otelcol's start order).
    pub fn start(built: BuiltTopology) -> Self {
        let exporters = built.exporters.into_iter().map(spawn).collect();
        let pipelines = built.pipelines.into_iter().map(spawn).collect();
        let extensions = built.extensions.into_iter().map(spawn).collect();
        let receivers = built
            .receivers
            .into_iter()
            .map(|r| (spawn(r.unit), r.outputs))
            .collect();
        Self {
            receivers,
            pipelines,
            exporters,
            extensions,
            exporter_abort: built.exporter_abort,
        }
    }

    /// Stops everything in order within `timeout`.
    pub async fn shutdown(self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        // 1. Receivers: stop accepting, finish in-flight requests.
        for (r, _) in &self.receivers {
            r.shutdown.cancel();
        }
        let mut tasks = Vec::new();
        let mut outputs = Vec::new();
        for (r, o) in self.receivers {
            tasks.push((r.name, r.handle));
            outputs.push(o);
        }
        let recv_deadline = Instant::now() + (deadline - Instant::now()) / 3;
        for name in join_until("receivers", tasks, recv_deadline).await {
            tracing::warn!(component = %name, "Receiver did not stop in time.");
        }
        // 2. Drop every edge into the pipelines so their inputs close once in-flight sends end.
        for o in outputs {
            if let Some(c) = o.traces {
                c.clear();
            }
            if let Some(c) = o.metrics {
                c.clear();
            }
            if let Some(c) = o.logs {
                c.clear();
            }
        }
        // 3. Pipelines flush their batches into the exporters and end.
        let tasks = self
            .pipelines
            .into_iter()
            .map(|p| (p.name, p.handle))
            .collect();
        let pipe_deadline = Instant::now() + (deadline - Instant::now()) / 2;
        for name in join_until("pipelines", tasks, pipe_deadline).await {
            tracing::warn!(component = %name, "Pipeline did not stop in time.");
        }
        // 4. Exporters drain their queues until the deadline; then the rest is dropped and counted.
        let tasks: Vec<(String, JoinHandle<()>)> = self
            .exporters
            .into_iter()
            .map(|e| (e.name, e.handle))
            .collect();
        let names: Vec<String> = tasks.iter().map(|(n, _)| n.clone()).collect();
        let late = join_until("exporters", tasks, deadline).await;
        if !late.is_empty() {
            tracing::error!(still_running = ?late, "Shutdown deadline reached; dropping what exporters still hold.");
            self.exporter_abort.cancel();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(names);
        // 5. Extensions last.
        for e in &self.extensions {
            e.shutdown.cancel();
        }
        let tasks = self
            .extensions
            .into_iter()
            .map(|e| (e.name, e.handle))
            .collect();
        let _ = join_until("extensions", tasks, Instant::now() + Duration::from_secs(2)).await;
    }
}
