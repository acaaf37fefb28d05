//! The receiver -> pipeline boundary. A receiver instance holds one `Consumer<S>` per signal;
//! it fans each batch out to the bounded input channel of every pipeline that lists the
//! receiver (deep-cloning for all but the last), waits for each pipeline's acknowledgement and
//! returns the combined result, so a refusal downstream reaches the client as a retryable
//! status. Accepted and refused items are counted here, at the edge, with otelcol's names.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::component::factory::ConsumeError;
use crate::data::{Batch, SignalData};
use crate::telemetry::metrics::{Counter, MetricsRegistry};

/// How long a receiver waits for space in a full pipeline input before refusing the request.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(5);

/// A message into a pipeline task: the data and where to report the outcome.
pub struct PipelineMsg<S: SignalData> {
    pub batch: Batch<S>,
    pub ack: Option<oneshot::Sender<Result<(), ConsumeError>>>,
}

/// The sending side of a pipeline's input channel.
pub type PipelineSender<S> = mpsc::Sender<PipelineMsg<S>>;

struct Edge<S: SignalData> {
    pipeline: String,
    tx: PipelineSender<S>,
}

impl<S: SignalData> Clone for Edge<S> {
    fn clone(&self) -> Self {
        Self {
            pipeline: self.pipeline.clone(),
            tx: self.tx.clone(),
        }
    }
}

struct TransportCounters {
    transport: &'static str,
    accepted: Counter,
    refused: Counter,
    requests_ok: Counter,
    requests_err: Counter,
}

struct Inner<S: SignalData> {
    receiver: String,
    edges: RwLock<Arc<Vec<Edge<S>>>>,
    metrics: Arc<MetricsRegistry>,
    counters: Mutex<Vec<Arc<TransportCounters>>>,
    admission_wait: Duration,
}

/// A receiver's output for one signal.
pub struct Consumer<S: SignalData> {
    inner: Arc<Inner<S>>,
}

impl<S: SignalData> Clone for Consumer<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: SignalData> Consumer<S> {
    pub fn new(receiver: &str, metrics: Arc<MetricsRegistry>) -> Self {
        Self {
            inner: Arc::new(Inner {
                receiver: receiver.to_string(),
                edges: RwLock::new(Arc::new(Vec::new())),
                metrics,
                counters: Mutex::new(Vec::new()),
                admission_wait: ADMISSION_WAIT,
            }),
        }
    }

    /// Adds (or replaces) the edge into `pipeline`.
    pub fn add_edge(&self, pipeline: &str, tx: PipelineSender<S>) {
        let mut g = self.inner.edges.write().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Edge<S>> = g
            .iter()
            .filter(|e| e.pipeline != pipeline)
            .cloned()
            .collect();
        v.push(Edge {
            pipeline: pipeline.to_string(),
            tx,
        });
        *g = Arc::new(v);
    }

    /// Removes the edge into `pipeline`.
    pub fn remove_edge(&self, pipeline: &str) {
        let mut g = self.inner.edges.write().unwrap_or_else(|p| p.into_inner());
        let v: Vec<Edge<S>> = g
            .iter()
            .filter(|e| e.pipeline != pipeline)
            .cloned()
            .collect();
        *g = Arc::new(v);
    }

    /// Replaces every edge at once (reload): batches in flight keep the edges they started
    /// with; the next batch sees exactly `edges`.
    pub fn set_edges(&self, edges: Vec<(String, PipelineSender<S>)>) {
        let v = edges
            .into_iter()
            .map(|(pipeline, tx)| Edge { pipeline, tx })
            .collect();
        let mut g = self.inner.edges.write().unwrap_or_else(|p| p.into_inner());
        *g = Arc::new(v);
    }

    /// The pipelines this consumer feeds, in order.
    pub fn edge_names(&self) -> Vec<String> {
        let g = self.inner.edges.read().unwrap_or_else(|p| p.into_inner());
        g.iter().map(|e| e.pipeline.clone()).collect()
    }

    /// Drops every edge, so the pipelines see their inputs close once in-flight sends finish.
    pub fn clear(&self) {
        let mut g = self.inner.edges.write().unwrap_or_else(|p| p.into_inner());
        *g = Arc::new(Vec::new());
    }

    pub fn receiver_id(&self) -> &str {
        &self.inner.receiver
    }

    fn counters(&self, transport: &'static str) -> Arc<TransportCounters> {
        let mut g = self
            .inner
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = g.iter().find(|c| c.transport == transport) {
            return Arc::clone(c);
        }
        let noun = S::SIGNAL.item_noun();
        let m = &self.inner.metrics;
        let l = [
            ("receiver", self.inner.receiver.as_str()),
            ("transport", transport),
        ];
        let c = Arc::new(TransportCounters {
            transport,
            accepted: m.counter(
                &format!("otelcol_receiver_accepted_{noun}"),
                "Number of items successfully pushed into the pipeline.",
                &l,
            ),
            refused: m.counter(
                &format!("otelcol_receiver_refused_{noun}"),
                "Number of items that could not be pushed into the pipeline.",
                &l,
            ),
            requests_ok: m.counter(
                "otelcol_receiver_requests",
                "The number of requests performed.",
                &[l[0], l[1], ("outcome", "success")],
            ),
            requests_err: m.counter(
                "otelcol_receiver_requests",
                "The number of requests performed.",
                &[l[0], l[1], ("outcome", "refused")],
            ),
        });
        g.push(Arc::clone(&c));
        c
    }

    /// Pushes one batch into every pipeline and waits for their outcomes. An empty batch is
    /// accepted without being forwarded (otelcol passes nothing downstream for zero items).
    pub async fn consume(
        &self,
        transport: &'static str,
        batch: Batch<S>,
    ) -> Result<(), ConsumeError> {
        let counters = self.counters(transport);
        let items = batch.items() as u64;
        if batch.is_empty() && !batch.has_resources() {
            counters.requests_ok.inc();
            return Ok(());
        }
        let result = self.forward(batch).await;
        match &result {
            Ok(()) => {
                counters.accepted.add(items);
                counters.requests_ok.inc();
            }
            Err(_) => {
                counters.refused.add(items);
                counters.requests_err.inc();
            }
        }
        result
    }

    async fn forward(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let edges = Arc::clone(&self.inner.edges.read().unwrap_or_else(|p| p.into_inner()));
        if edges.is_empty() {
            return Err(ConsumeError::retryable(
                "no pipeline is accepting data (shutting down)",
            ));
        }
        let mut acks = Vec::with_capacity(edges.len());
        let mut errors = Vec::new();
        let last = edges.len() - 1;
        let mut batch = Some(batch);
        for (i, edge) in edges.iter().enumerate() {
            let b = if i == last {
                batch.take().unwrap_or_default()
            } else {
                batch.as_ref().cloned().unwrap_or_default()
            };
            let permit =
                match tokio::time::timeout(self.inner.admission_wait, edge.tx.reserve()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => {
                        errors.push(ConsumeError::retryable(format!(
                            "pipeline {:?} is shutting down",
                            edge.pipeline
                        )));
                        continue;
                    }
                    Err(_) => {
                        errors.push(ConsumeError::retryable(format!(
                            "pipeline {:?} is full (backpressure)",
                            edge.pipeline
                        )));
                        continue;
                    }
                };
            let (tx, rx) = oneshot::channel();
            permit.send(PipelineMsg {
                batch: b,
                ack: Some(tx),
            });
            acks.push((edge.pipeline.clone(), rx));
        }
        for (pipeline, rx) in acks {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push(ConsumeError::retryable(format!(
                    "pipeline {pipeline:?} stopped before processing the data"
                ))),
            }
        }
        match ConsumeError::combine(errors) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}
