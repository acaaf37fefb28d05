//! The `batch` processor: groups data into batches by size and time before export
//! (otelcol `core:processor/batchprocessor`). Stable for traces, metrics and logs.
//!
//! The factory only decodes the config and builds a `Batcher<S>` for the pipeline's signal;
//! the pipeline task drives it. See `batcher.rs` for the semantics and what differs from
//! otelcol (no client-metadata partitioning).

mod batcher;
mod config;

pub use batcher::Batcher;
pub use config::BatchConfig;

use crate::component::context::BuildContext;
use crate::component::factory::{AnyProcessor, BuildError, Factory, ProcessorFactory};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;

/// Factory of the `batch` processor.
pub struct BatchProcessorFactory;

impl Factory for BatchProcessorFactory {
    fn type_name(&self) -> &'static str {
        "batch"
    }

    fn stability(&self) -> Vec<(Signal, Stability)> {
        Signal::ALL
            .into_iter()
            .map(|s| (s, Stability::Stable))
            .collect()
    }

    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<BatchConfig>(raw, key_path)
    }
}

impl ProcessorFactory for BatchProcessorFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<AnyProcessor, BuildError> {
        let id = ctx.id.to_string();
        let cfg = decode::<BatchConfig>(raw, &format!("processors::{id}"))
            .map_err(|e| BuildError::new("processor", id.clone(), e.to_string()))?;
        Ok(crate::for_signal!(signal, AnyProcessor, T => Box::new(
            Batcher::<T>::new(&cfg, &ctx.metrics, &id)
        )))
    }
}

#[cfg(test)]
mod tests;
