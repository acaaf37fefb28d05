//! The `debug` exporter: writes what it receives to the collector's log (or to stdout with
//! `use_internal_logger: false`, unsampled). basic = one summary line per batch with counts,
//! normal = plus one line per span / metric / log record (in one event), detailed = plus the
//! whole batch as pretty OTLP/JSON. Export never fails. Sampling is per exporter instance.

pub mod config;
pub mod output;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::component::context::BuildContext;
use crate::component::factory::{
    AnyExporter, BoxFuture, BuildError, ExportError, Exporter, ExporterFactory, Factory,
    HelperSettings,
};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;
use crate::data::Batch;
use crate::exporters::queue::RetryConfig;
use crate::for_signal;

use self::config::{DebugConfig, Verbosity};
use self::output::{DebugFormat, Sampler};

/// Factory of the `debug` exporter.
pub struct DebugExporterFactory;

impl Factory for DebugExporterFactory {
    fn type_name(&self) -> &'static str {
        "debug"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        Signal::ALL
            .iter()
            .map(|s| (*s, Stability::Development))
            .collect()
    }
    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<DebugConfig>(raw, key_path)
    }
}

impl ExporterFactory for DebugExporterFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<(AnyExporter, HelperSettings), BuildError> {
        let id = ctx.id.to_string();
        let cfg = decode::<DebugConfig>(raw, &format!("exporters::{id}"))
            .map_err(|e| BuildError::new("exporter", &id, e.to_string()))?;
        let verbosity = cfg
            .verbosity()
            .map_err(|e| BuildError::new("exporter", &id, e))?;
        let settings = HelperSettings {
            retry: RetryConfig {
                enabled: false,
                ..RetryConfig::default()
            },
            queue: cfg.sending_queue.clone(),
            timeout: None,
        };
        let exporter = for_signal!(signal, AnyExporter, T => Arc::new(
            DebugExporter::<T>::new(&id, verbosity, &cfg)
        ));
        Ok((exporter, settings))
    }
}

/// The debug exporter for one signal.
pub struct DebugExporter<S: DebugFormat> {
    exporter_id: String,
    verbosity: Verbosity,
    /// None = stdout output, unsampled.
    sampler: Option<Sampler>,
    _signal: std::marker::PhantomData<fn() -> S>,
}

impl<S: DebugFormat> DebugExporter<S> {
    pub fn new(exporter_id: &str, verbosity: Verbosity, cfg: &DebugConfig) -> Self {
        Self {
            exporter_id: exporter_id.to_string(),
            verbosity,
            sampler: cfg
                .use_internal_logger
                .then(|| Sampler::new(cfg.sampling_initial, cfg.sampling_thereafter)),
            _signal: std::marker::PhantomData,
        }
    }

    /// The text written after the summary (empty for basic).
    pub fn detail_text(&self, batch: &Batch<S>) -> String {
        let mut out = String::new();
        if self.verbosity == Verbosity::Basic {
            return out;
        }
        S::normal_text(batch, &mut out);
        if self.verbosity == Verbosity::Detailed {
            match serde_json::to_string_pretty(&batch.to_request()) {
                Ok(json) => out.push_str(&json),
                Err(e) => out.push_str(&format!("<failed to render the batch as JSON: {e}>")),
            }
        }
        out
    }

    fn emit(&self, batch: &Batch<S>) {
        match &self.sampler {
            Some(sampler) => {
                if !sampler.allow(Instant::now()) {
                    return;
                }
                S::log_summary(&self.exporter_id, batch);
                if self.verbosity != Verbosity::Basic {
                    let text = self.detail_text(batch);
                    tracing::info!(exporter = %self.exporter_id, "{}", text.trim_end());
                }
            }
            None => {
                let mut text = S::summary_text(batch);
                text.push('\n');
                text.push_str(&self.detail_text(batch));
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }
}

impl<S: DebugFormat> Exporter<S> for DebugExporter<S> {
    fn export(&self, batch: Arc<Batch<S>>) -> BoxFuture<'_, Result<(), ExportError>> {
        self.emit(&batch);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests;
