//! `Batcher<S>`: the batch processor's state machine, driven synchronously by the pipeline
//! task (`process`, `next_deadline` / `on_deadline`, `flush`).
//!
//! Semantics follow otelcol's `batch_processor.go`: incoming data is appended to the pending
//! batch; while at least `send_batch_size` items are pending a batch of at most
//! `send_batch_max_size` items (everything pending when that is 0) is emitted; the timer sends
//! whatever is pending `timeout` after the last send, and restarts after every send. With a
//! zero timeout there is no timer: everything is emitted at once, split only by
//! `send_batch_max_size`. Like otelcol, errors after the batcher never reach the caller (the
//! pipeline task drops them after the exporter helper has counted them).
//!
//! Deliberately different: otelcol's timer ticks even while nothing is pending; here the
//! deadline is armed when the first item arrives into an empty batcher, so an idle batcher
//! causes no wake-ups and data waits at most `timeout`. There is a single batcher per
//! instance because ferrocol has no client metadata (`metadata_keys` has no effect).

use std::time::{Duration, Instant};

use crate::component::factory::{ProcessError, Processor};
use crate::data::{Batch, SignalData};
use crate::telemetry::metrics::{Counter, Histogram, MetricsRegistry};

use super::config::BatchConfig;

/// Bucket bounds of `otelcol_processor_batch_batch_send_size`, as otelcol's metadata.yaml.
const SEND_SIZE_BOUNDS: &[f64] = &[
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];

/// Why a batch was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Size,
    Timeout,
}

/// The batch processor's self-metrics (label `processor=<id>`, shared by all signals).
struct Telemetry {
    send_size: Histogram,
    size_trigger: Counter,
    timeout_trigger: Counter,
}

impl Telemetry {
    fn new(metrics: &MetricsRegistry, id: &str) -> Self {
        let l = [("processor", id)];
        // One batcher per instance: the metadata cardinality is always 1.
        metrics
            .gauge(
                "otelcol_processor_batch_metadata_cardinality",
                "Number of distinct metadata value combinations being processed",
                &l,
            )
            .set(1.0);
        Self {
            send_size: metrics.histogram(
                "otelcol_processor_batch_batch_send_size",
                "Number of units in the batch",
                &l,
                SEND_SIZE_BOUNDS,
            ),
            size_trigger: metrics.counter(
                "otelcol_processor_batch_batch_size_trigger_send",
                "Number of times the batch was sent due to a size trigger",
                &l,
            ),
            timeout_trigger: metrics.counter(
                "otelcol_processor_batch_timeout_trigger_send",
                "Number of times the batch was sent due to a timeout trigger",
                &l,
            ),
        }
    }
}

/// The batching state of one processor instance (one pipeline, one signal).
pub struct Batcher<S: SignalData> {
    send_batch_size: usize,
    /// `usize::MAX` when `send_batch_max_size` is 0.
    max_size: usize,
    /// `None` when the configured timeout is zero.
    timeout: Option<Duration>,
    pending: Batch<S>,
    deadline: Option<Instant>,
    telemetry: Telemetry,
}

impl<S: SignalData> Batcher<S> {
    pub fn new(cfg: &BatchConfig, metrics: &MetricsRegistry, id: &str) -> Self {
        Self {
            send_batch_size: cfg.send_batch_size as usize,
            max_size: match cfg.send_batch_max_size {
                0 => usize::MAX,
                n => n as usize,
            },
            timeout: (!cfg.timeout.is_zero()).then_some(cfg.timeout.0),
            pending: Batch::default(),
            deadline: None,
            telemetry: Telemetry::new(metrics, id),
        }
    }

    /// Items waiting to be sent.
    pub fn pending_items(&self) -> usize {
        self.pending.items()
    }

    /// Emits one batch of at most `max_size` items from the front of the pending data.
    fn send(&mut self, trigger: Trigger, out: &mut Vec<Batch<S>>) {
        let batch = self.pending.split_front(self.max_size);
        self.telemetry.send_size.observe(batch.items() as f64);
        match trigger {
            Trigger::Size => self.telemetry.size_trigger.inc(),
            Trigger::Timeout => self.telemetry.timeout_trigger.inc(),
        }
        out.push(batch);
    }

    /// Restarts the timer after a send, or arms it for data arriving into an empty batcher.
    fn rearm(&mut self, now: Instant, restart: bool) {
        self.deadline = match self.timeout {
            Some(t) if self.pending.items() > 0 => {
                if restart || self.deadline.is_none() {
                    Some(now + t)
                } else {
                    self.deadline
                }
            }
            _ => None,
        };
    }
}

impl<S: SignalData> Processor<S> for Batcher<S> {
    fn process(&mut self, batch: Batch<S>, out: &mut Vec<Batch<S>>) -> Result<(), ProcessError> {
        if !batch.has_resources() {
            return Ok(());
        }
        self.pending.append(batch);
        let mut sent = false;
        while self.pending.items() > 0
            && (self.timeout.is_none() || self.pending.items() >= self.send_batch_size)
        {
            self.send(Trigger::Size, out);
            sent = true;
        }
        self.rearm(Instant::now(), sent);
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn on_deadline(&mut self, now: Instant, out: &mut Vec<Batch<S>>) {
        if self.deadline.is_some_and(|d| d > now) {
            return;
        }
        let sent = self.pending.items() > 0;
        if sent {
            self.send(Trigger::Timeout, out);
        }
        self.deadline = None;
        self.rearm(now, sent);
    }

    fn flush(&mut self, out: &mut Vec<Batch<S>>) {
        while self.pending.items() > 0 {
            self.send(Trigger::Timeout, out);
        }
        self.deadline = None;
    }
}
