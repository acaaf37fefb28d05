//! The per-pipeline task: receives batches from the pipeline's bounded input, runs the
//! processor chain as plain function calls, fires processor deadlines (the batch timeout) in
//! the same `select!`, and hands results to every exporter of the pipeline (sharing one
//! `Arc` across them). When the input closes it flushes every processor and ends, which drops
//! its exporter handles: that is how shutdown cascades downstream.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::component::factory::{ConsumeError, Processor};
use crate::data::{Batch, SignalData};
use crate::pipeline::exporter_input::ExporterInput;
use crate::pipeline::fanout::PipelineMsg;
use crate::telemetry::metrics::{Counter, MetricsRegistry};

/// One processor in the chain plus its edge counters.
pub struct Stage<S: SignalData> {
    pub id: String,
    pub processor: Box<dyn Processor<S>>,
    incoming: Counter,
    outgoing: Counter,
}

impl<S: SignalData> Stage<S> {
    pub fn new(id: &str, processor: Box<dyn Processor<S>>, metrics: &MetricsRegistry) -> Self {
        let l = [("processor", id), ("otel_signal", S::SIGNAL.as_str())];
        Self {
            id: id.to_string(),
            processor,
            incoming: metrics.counter(
                "otelcol_processor_incoming_items",
                "Number of items passed to the processor.",
                &l,
            ),
            outgoing: metrics.counter(
                "otelcol_processor_outgoing_items",
                "Number of items emitted from the processor.",
                &l,
            ),
        }
    }
}

/// A pipeline ready to run.
pub struct PipelineTask<S: SignalData> {
    pub id: String,
    pub input: mpsc::Receiver<PipelineMsg<S>>,
    pub stages: Vec<Stage<S>>,
    pub exporters: Vec<ExporterInput<S>>,
}

impl<S: SignalData> PipelineTask<S> {
    pub async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            let msg = match deadline {
                Some(d) => tokio::select! {
                    m = self.input.recv() => m,
                    _ = tokio::time::sleep_until(d.into()) => {
                        self.fire_deadlines().await;
                        continue;
                    }
                },
                None => self.input.recv().await,
            };
            let Some(msg) = msg else { break };
            let result = self.handle(msg.batch).await;
            if let Some(ack) = msg.ack {
                let _ = ack.send(result);
            }
        }
        self.flush_all().await;
        tracing::debug!(pipeline = %self.id, "Pipeline stopped after flushing.");
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.stages
            .iter()
            .filter_map(|s| s.processor.next_deadline())
            .min()
    }

    /// Runs `batches` through stages `from..` and exports the result.
    async fn run_from(
        &mut self,
        from: usize,
        mut batches: Vec<Batch<S>>,
    ) -> Result<(), ConsumeError> {
        for stage in self.stages.iter_mut().skip(from) {
            let mut next = Vec::with_capacity(batches.len());
            for b in batches {
                stage.incoming.add(b.items() as u64);
                if let Err(e) = stage.processor.process(b, &mut next) {
                    return Err(if e.permanent {
                        ConsumeError::permanent(e.message)
                    } else {
                        ConsumeError::retryable(e.message)
                    });
                }
            }
            for b in &next {
                stage.outgoing.add(b.items() as u64);
            }
            batches = next;
        }
        let mut errors = Vec::new();
        for b in batches {
            if !b.has_resources() {
                continue;
            }
            let shared = Arc::new(b);
            for exp in &self.exporters {
                if let Err(e) = exp.consume(Arc::clone(&shared)).await {
                    errors.push(e);
                }
            }
        }
        match ConsumeError::combine(errors) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    async fn handle(&mut self, batch: Batch<S>) -> Result<(), ConsumeError> {
        self.run_from(0, vec![batch]).await
    }

    async fn fire_deadlines(&mut self) {
        let now = Instant::now();
        for i in 0..self.stages.len() {
            if self.stages[i]
                .processor
                .next_deadline()
                .is_some_and(|d| d <= now)
            {
                let mut out = Vec::new();
                self.stages[i].processor.on_deadline(now, &mut out);
                for b in &out {
                    self.stages[i].outgoing.add(b.items() as u64);
                }
                // Errors after an asynchronous stage cannot reach the client; the exporter
                // helper has already counted and logged them.
                let _ = self.run_from(i + 1, out).await;
            }
        }
    }

    async fn flush_all(&mut self) {
        for i in 0..self.stages.len() {
            let mut out = Vec::new();
            self.stages[i].processor.flush(&mut out);
            for b in &out {
                self.stages[i].outgoing.add(b.items() as u64);
            }
            let _ = self.run_from(i + 1, out).await;
        }
    }
}
