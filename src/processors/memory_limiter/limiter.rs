//! `MemoryLimiter<S>`: refuses data while the process uses more memory than the soft limit
//! (hard limit minus spike), so that receivers answer "retry later" instead of the process
//! being OOM-killed. Mirrors otelcol's `internal/memorylimiter` and the processor around it.
//!
//! Memory is sampled lazily: `process` re-reads it when `check_interval` has elapsed since the
//! last reading (reading `/proc` is cheap, and without incoming data the state does not
//! matter), so there is no background task. Above the hard limit otelcol additionally forces
//! a GC; there is nothing to force here. State changes are logged once each way.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use crate::component::factory::{ProcessError, Processor};
use crate::data::{Batch, SignalData};
use crate::telemetry::metrics::{Counter, MetricsRegistry};

use super::config::MemoryLimiterConfig;
use super::memory::MemoryProbe;

const MIB: u64 = 1024 * 1024;

/// The error text otelcol returns (non-permanent: clients retry).
pub const REFUSED_MESSAGE: &str = "data refused due to high memory usage";

/// Resolved limits in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hard: u64,
    pub spike: u64,
}

impl Limits {
    /// Computes the limits as otelcol does: `limit_mib` wins; otherwise percentages of
    /// `total()` (called only then). A zero spike means 20% of the hard limit.
    pub fn resolve(
        cfg: &MemoryLimiterConfig,
        total: impl FnOnce() -> Option<u64>,
    ) -> Result<Limits, String> {
        let (hard, spike) = if cfg.limit_mib != 0 {
            (
                u64::from(cfg.limit_mib) * MIB,
                u64::from(cfg.spike_limit_mib) * MIB,
            )
        } else {
            let total = total().ok_or_else(|| {
                "failed to get total memory, use fixed memory settings (limit_mib)".to_string()
            })?;
            let pct = |p: u32| (u128::from(p) * u128::from(total) / 100) as u64;
            (pct(cfg.limit_percentage), pct(cfg.spike_limit_percentage))
        };
        let spike = if spike == 0 { hard / 5 } else { spike };
        Ok(Limits { hard, spike })
    }

    /// Usage at or above this is refused.
    pub fn soft(&self) -> u64 {
        self.hard.saturating_sub(self.spike)
    }
}

/// One memory limiter processor instance (one pipeline, one signal).
pub struct MemoryLimiter<S: SignalData> {
    id: String,
    limits: Limits,
    check_interval: Duration,
    last_check: Option<Instant>,
    refusing: bool,
    probe: MemoryProbe,
    accepted: Counter,
    refused: Counter,
    _signal: PhantomData<fn() -> S>,
}

impl<S: SignalData> MemoryLimiter<S> {
    pub fn new(
        id: &str,
        limits: Limits,
        check_interval: Duration,
        probe: MemoryProbe,
        metrics: &MetricsRegistry,
    ) -> Self {
        let noun = S::SIGNAL.item_noun();
        let l = [("processor", id)];
        let (accepted_help, refused_help) = match S::SIGNAL {
            crate::component::Signal::Traces => {
                ("Number of spans accepted.", "Number of spans refused.")
            }
            crate::component::Signal::Metrics => (
                "Number of metric points accepted.",
                "Number of metric points refused.",
            ),
            crate::component::Signal::Logs => (
                "Number of log records accepted.",
                "Number of log records refused.",
            ),
        };
        Self {
            id: id.to_string(),
            limits,
            check_interval,
            last_check: None,
            refusing: false,
            probe,
            accepted: metrics.counter(
                &format!("otelcol_processor_memory_limiter_accepted_{noun}"),
                accepted_help,
                &l,
            ),
            refused: metrics.counter(
                &format!("otelcol_processor_memory_limiter_refused_{noun}"),
                refused_help,
                &l,
            ),
            _signal: PhantomData,
        }
    }

    /// Whether data is currently refused (as of the last check).
    pub fn is_refusing(&self) -> bool {
        self.refusing
    }

    /// Re-reads memory if `check_interval` has elapsed at `now`, updating the state.
    pub fn check_at(&mut self, now: Instant) {
        if self
            .last_check
            .is_some_and(|t| now.saturating_duration_since(t) < self.check_interval)
        {
            return;
        }
        self.last_check = Some(now);
        let Some(used) = (self.probe)() else {
            tracing::debug!(processor = %self.id, "Cannot read memory usage; not limiting.");
            return;
        };
        let above_soft = used >= self.limits.soft();
        tracing::debug!(processor = %self.id, cur_mem_mib = used / MIB, "Currently used memory.");
        if above_soft && !self.refusing {
            tracing::warn!(
                processor = %self.id,
                cur_mem_mib = used / MIB,
                soft_limit_mib = self.limits.soft() / MIB,
                hard_limit_mib = self.limits.hard / MIB,
                "Memory usage is above soft limit. Refusing data."
            );
        } else if !above_soft && self.refusing {
            tracing::info!(
                processor = %self.id,
                cur_mem_mib = used / MIB,
                "Memory usage back within limits. Resuming normal operation."
            );
        }
        self.refusing = above_soft;
    }
}

impl<S: SignalData> Processor<S> for MemoryLimiter<S> {
    fn process(&mut self, batch: Batch<S>, out: &mut Vec<Batch<S>>) -> Result<(), ProcessError> {
        self.check_at(Instant::now());
        let items = batch.items() as u64;
        if self.refusing {
            self.refused.add(items);
            return Err(ProcessError {
                message: REFUSED_MESSAGE.to_string(),
                permanent: false,
            });
        }
        self.accepted.add(items);
        out.push(batch);
        Ok(())
    }
}
