//! The pipeline -> exporter boundary. Each exporter instance (signal, id) gets one
//! `ExporterInput<S>`, shared by every pipeline that lists it (fan-in). With `sending_queue`
//! enabled the input is a bounded queue drained by `num_consumers` workers: a full queue
//! drops the batch and counts `otelcol_exporter_enqueue_failed_*` (or waits, with
//! `block_on_overflow`). With the queue disabled, the pipeline task exports synchronously and
//! the outcome travels back to the receiver.
//!
//! Reload: an exporter whose config changed is `hand_over_to` its successor. Its workers
//! finish the requests they are exporting and stop taking new ones; everything still queued,
//! and whatever its old pipelines flush into it before they end, moves into the successor's
//! queue (waiting for space rather than dropping). A removed exporter simply drains its queue
//! to its backend once its last input is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::component::factory::{BoxFuture, ConsumeError, Exporter};
use crate::data::{Batch, SignalData};
use crate::exporters::queue::{ExporterCounters, HelperSettings, RetrySender, Sizer};
use crate::telemetry::events::{EnqueueFailed, QueueDropped};
use crate::telemetry::metrics::{Gauge, MetricsRegistry};

struct Queued<S: SignalData> {
    batch: Arc<Batch<S>>,
    permit: tokio::sync::OwnedSemaphorePermit,
}

enum Mode<S: SignalData> {
    Queue {
        tx: mpsc::Sender<Queued<S>>,
        permits: Arc<Semaphore>,
        sizer: Sizer,
        capacity: u32,
        block: bool,
    },
    Direct,
}

/// The reload hand-over, shared by an exporter's inputs and its drain task.
struct Handover<S: SignalData> {
    retire: CancellationToken,
    successor: std::sync::Mutex<Option<ExporterInput<S>>>,
}

struct Inner<S: SignalData> {
    sender: Arc<RetrySender<S>>,
    mode: Mode<S>,
    queue_size: Gauge,
    queued_items: Arc<AtomicU64>,
    handover: Arc<Handover<S>>,
}

/// The handle pipelines use to hand data to one exporter instance.
pub struct ExporterInput<S: SignalData> {
    inner: Arc<Inner<S>>,
}

impl<S: SignalData> Clone for ExporterInput<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: SignalData> ExporterInput<S> {
    pub fn id(&self) -> &str {
        &self.inner.sender.exporter_id
    }

    /// Hands one batch to the exporter. Errors are what otelcol returns upstream: a full queue
    /// is retryable (`sending_queue is full`), a synchronous export failure is the export error.
    pub async fn consume(&self, batch: Arc<Batch<S>>) -> Result<(), ConsumeError> {
        self.enqueue(batch, false).await
    }

    /// Reload: this instance is being replaced by `successor`. Its workers stop after their
    /// current request and the queue (including what arrives until the last input is dropped)
    /// moves to `successor`. Without a queue there is nothing to move.
    pub fn hand_over_to(&self, successor: ExporterInput<S>) {
        if matches!(self.inner.mode, Mode::Direct) {
            return;
        }
        let h = &self.inner.handover;
        *h.successor.lock().unwrap_or_else(|p| p.into_inner()) = Some(successor);
        h.retire.cancel();
    }

    /// Items (or sizer units) waiting in the queue.
    pub fn queued(&self) -> u64 {
        self.inner.queued_items.load(Ordering::Relaxed)
    }

    async fn enqueue(&self, batch: Arc<Batch<S>>, force_block: bool) -> Result<(), ConsumeError> {
        let inner = &self.inner;
        match &inner.mode {
            Mode::Direct => inner.sender.send(batch, None).await,
            Mode::Queue {
                tx,
                permits,
                sizer,
                capacity,
                block,
            } => {
                let cost = cost_of(*sizer, &batch, *capacity);
                let items = batch.items() as u64;
                let permit = if *block || force_block {
                    Arc::clone(permits).acquire_many_owned(cost).await.ok()
                } else {
                    Arc::clone(permits).try_acquire_many_owned(cost).ok()
                };
                let Some(permit) = permit else {
                    inner.sender.counters.enqueue_failed.add(items);
                    EnqueueFailed {
                        exporter: self.id(),
                        items,
                    }
                    .emit();
                    return Err(ConsumeError::retryable("sending_queue is full"));
                };
                inner
                    .queued_items
                    .fetch_add(u64::from(cost), Ordering::Relaxed);
                inner.queue_size.add(f64::from(cost));
                match tx.send(Queued { batch, permit }).await {
                    Ok(()) => Ok(()),
                    Err(_) => {
                        inner.sender.counters.enqueue_failed.add(items);
                        Err(ConsumeError::retryable("exporter is shutting down"))
                    }
                }
            }
        }
    }
}

/// Starts an exporter instance: returns its input handle and the task that drains the queue.
/// The task ends when every input handle is dropped and the queue is empty, or, once `abort`
/// is cancelled (shutdown deadline), after counting what is still queued as dropped.
pub fn start<S: SignalData>(
    exporter_id: &str,
    exporter: Arc<dyn Exporter<S>>,
    settings: HelperSettings,
    metrics: &MetricsRegistry,
    abort: CancellationToken,
) -> (ExporterInput<S>, BoxFuture<'static, ()>) {
    let counters = ExporterCounters::new::<S>(metrics, exporter_id);
    let labels = [("exporter", exporter_id), ("data_type", S::SIGNAL.as_str())];
    let queue_size = metrics.gauge(
        "otelcol_exporter_queue_size",
        "Current size of the retry queue (in batches or items, per sizer).",
        &labels,
    );
    let queue_cap = metrics.gauge(
        "otelcol_exporter_queue_capacity",
        "Fixed capacity of the retry queue (in batches or items, per sizer).",
        &labels,
    );
    let queue_cfg = settings.queue.clone();
    if queue_cfg.batch.is_some() {
        tracing::warn!(
            exporter = exporter_id,
            "sending_queue::batch is accepted but not applied: ferrocol queues requests as they come; use the batch processor to batch."
        );
    }
    let sender = Arc::new(RetrySender {
        exporter_id: exporter_id.to_string(),
        exporter,
        settings,
        counters,
    });
    let queued_items = Arc::new(AtomicU64::new(0));
    let handover = Arc::new(Handover {
        retire: CancellationToken::new(),
        successor: std::sync::Mutex::new(None),
    });
    if !queue_cfg.enabled {
        let inner = Inner {
            sender,
            mode: Mode::Direct,
            queue_size,
            queued_items,
            handover,
        };
        return (
            ExporterInput {
                inner: Arc::new(inner),
            },
            Box::pin(async {}),
        );
    }
    let capacity = queue_cfg.queue_size.clamp(1, u32::MAX as usize) as u32;
    queue_cap.set(f64::from(capacity));
    let (tx, rx) = mpsc::channel::<Queued<S>>(capacity as usize);
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..queue_cfg.num_consumers.max(1) {
        let rx = Arc::clone(&rx);
        let sender = Arc::clone(&sender);
        let abort = abort.clone();
        let gauge = queue_size.clone();
        let queued = Arc::clone(&queued_items);
        let sizer = queue_cfg.sizer;
        let retire = handover.retire.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    _ = retire.cancelled() => None,
                    n = async { rx.lock().await.recv().await } => n,
                };
                let Some(q) = next else { break };
                let cost = u64::from(cost_of(sizer, &q.batch, capacity));
                queued.fetch_sub(cost, Ordering::Relaxed);
                gauge.add(-(cost as f64));
                let items = q.batch.items() as u64;
                tokio::select! {
                    _ = sender.send(q.batch, None) => {}
                    _ = abort.cancelled() => {
                        sender.counters.send_failed.add(items);
                        QueueDropped { exporter: &sender.exporter_id, items, reason: "shutdown deadline reached during export" }.emit();
                    }
                }
                drop(q.permit);
                if abort.is_cancelled() {
                    break;
                }
            }
        }));
    }
    let drain_rx = Arc::clone(&rx);
    let drain_sender = Arc::clone(&sender);
    let drain_handover = Arc::clone(&handover);
    let drain_gauge = queue_size.clone();
    let drain_queued = Arc::clone(&queued_items);
    let drain_sizer = queue_cfg.sizer;
    let task = Box::pin(async move {
        for w in workers {
            let _ = w.await;
        }
        let mut rx = drain_rx.lock().await;
        let successor = drain_handover
            .successor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(next) = successor {
            // Reload hand-over: move the queue into the successor until the last input of
            // this instance is gone (or the shutdown deadline passes).
            let mut moved = 0u64;
            loop {
                let q = tokio::select! {
                    biased;
                    _ = abort.cancelled() => break,
                    q = rx.recv() => q,
                };
                let Some(q) = q else { break };
                let cost = u64::from(cost_of(drain_sizer, &q.batch, capacity));
                drain_queued.fetch_sub(cost, Ordering::Relaxed);
                drain_gauge.add(-(cost as f64));
                drop(q.permit);
                let items = q.batch.items() as u64;
                match next.enqueue(q.batch, true).await {
                    Ok(()) => moved += items,
                    Err(e) => {
                        drain_sender.counters.send_failed.add(items);
                        QueueDropped {
                            exporter: &drain_sender.exporter_id,
                            items,
                            reason: &format!("the reloaded exporter refused the queued data: {e}"),
                        }
                        .emit();
                    }
                }
            }
            tracing::debug!(exporter = %drain_sender.exporter_id, items = moved, "Queue handed over to the reloaded exporter.");
        }
        // Anything still queued after an abort is dropped, and counted.
        rx.close();
        let mut dropped = 0u64;
        while let Ok(q) = rx.try_recv() {
            dropped += q.batch.items() as u64;
        }
        if dropped > 0 {
            drain_sender.counters.send_failed.add(dropped);
            QueueDropped {
                exporter: &drain_sender.exporter_id,
                items: dropped,
                reason: "shutdown deadline reached with data still queued",
            }
            .emit();
        }
    });
    let inner = Inner {
        sender,
        mode: Mode::Queue {
            tx,
            permits: Arc::new(Semaphore::new(capacity as usize)),
            sizer: queue_cfg.sizer,
            capacity,
            block: queue_cfg.block_on_overflow,
        },
        queue_size,
        queued_items,
        handover,
    };
    (
        ExporterInput {
            inner: Arc::new(inner),
        },
        task,
    )
}

/// What one request costs in the queue, in units of the sizer (at least 1, at most the
/// capacity, so that one oversized request can still be queued alone).
fn cost_of<S: SignalData>(sizer: Sizer, batch: &Batch<S>, capacity: u32) -> u32 {
    let units = match sizer {
        Sizer::Requests => 1,
        Sizer::Items => batch.items(),
        Sizer::Bytes => batch.encoded_len(),
    };
    u32::try_from(units).unwrap_or(u32::MAX).clamp(1, capacity)
}

/// How long exporters get to drain their queues on shutdown, by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
