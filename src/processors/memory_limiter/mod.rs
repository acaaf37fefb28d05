//! The `memory_limiter` processor: refuses data with a retryable error while the process's
//! memory is above the soft limit (otelcol `core:processor/memorylimiterprocessor`). Beta for
//! traces, metrics and logs.
//!
//! Memory in use is the process RSS and percentages are of the cgroup limit (see
//! `memory.rs`); the refusal logic is in `limiter.rs`. There is no forced GC and no shared
//! instance across pipelines: each instance samples the same process-wide number.

mod config;
mod limiter;
mod memory;

pub use config::MemoryLimiterConfig;
pub use limiter::{Limits, MemoryLimiter, REFUSED_MESSAGE};
pub use memory::{process_rss, rss_probe, total_memory, MemoryProbe};

use crate::component::context::BuildContext;
use crate::component::factory::{AnyProcessor, BuildError, Factory, ProcessorFactory};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;

/// Factory of the `memory_limiter` processor.
pub struct MemoryLimiterFactory;

impl Factory for MemoryLimiterFactory {
    fn type_name(&self) -> &'static str {
        "memory_limiter"
    }

    fn stability(&self) -> Vec<(Signal, Stability)> {
        Signal::ALL
            .into_iter()
            .map(|s| (s, Stability::Beta))
            .collect()
    }

    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<MemoryLimiterConfig>(raw, key_path)
    }
}

impl ProcessorFactory for MemoryLimiterFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<AnyProcessor, BuildError> {
        let id = ctx.id.to_string();
        let cfg = decode::<MemoryLimiterConfig>(raw, &format!("processors::{id}"))
            .map_err(|e| BuildError::new("processor", id.clone(), e.to_string()))?;
        let limits = Limits::resolve(&cfg, total_memory)
            .map_err(|e| BuildError::new("processor", id.clone(), e))?;
        tracing::info!(
            processor = %id,
            signal = %signal,
            limit_mib = limits.hard / (1024 * 1024),
            spike_limit_mib = limits.spike / (1024 * 1024),
            check_interval = %cfg.check_interval,
            "Memory limiter configured."
        );
        Ok(crate::for_signal!(signal, AnyProcessor, T => Box::new(
            MemoryLimiter::<T>::new(&id, limits, cfg.check_interval.0, rss_probe(), &ctx.metrics)
        )))
    }
}

#[cfg(test)]
mod tests;
