//! The `otlp_http` exporter (deprecated alias `otlphttp`, resolved by the registry): OTLP over
//! HTTP (protobuf or JSON) to `<endpoint>/v1/<signal>` or per-signal URLs. This file is the
//! factory; `config` holds the strict config and URL composition, `http_client` the "send one
//! request" part.
//!
//! The HTTP client `timeout` bounds each attempt; the helper's per-attempt timeout is off for
//! this exporter (as in otelcol). Authenticator extensions are not supported.

pub mod config;
pub mod http_client;

use std::sync::Arc;

use crate::component::context::BuildContext;
use crate::component::factory::{
    AnyExporter, BuildError, ExporterFactory, Factory, HelperSettings,
};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;
use crate::exporters::otlp::warn_unsupported_auth;
use crate::for_signal;

use self::config::OtlpHttpConfig;
use self::http_client::{build_client, OtlpHttpExporter};

/// Factory of the `otlp_http` exporter.
pub struct OtlpHttpExporterFactory;

impl Factory for OtlpHttpExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlp_http"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        Signal::ALL
            .iter()
            .map(|s| (*s, Stability::Stable))
            .collect()
    }
    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<OtlpHttpConfig>(raw, key_path)
    }
}

impl ExporterFactory for OtlpHttpExporterFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<(AnyExporter, HelperSettings), BuildError> {
        let id = ctx.id.to_string();
        let key_path = format!("exporters::{id}");
        let cfg = decode::<OtlpHttpConfig>(raw, &key_path)
            .map_err(|e| BuildError::new("exporter", &id, e.to_string()))?;
        warn_unsupported_auth(&id, cfg.auth.as_ref());
        let url = cfg.signal_url(signal).ok_or_else(|| {
            BuildError::new(
                "exporter",
                &id,
                format!("no URL for {signal}: set \"endpoint\" or \"{signal}_endpoint\""),
            )
        })?;
        let client =
            build_client(&cfg, &[url.as_str()]).map_err(|e| BuildError::new("exporter", &id, e))?;
        let settings = HelperSettings {
            retry: cfg.retry_on_failure.clone(),
            queue: cfg.sending_queue.clone(),
            timeout: None,
        };
        let exporter = for_signal!(signal, AnyExporter, T => Arc::new(
            OtlpHttpExporter::<T>::new(&id, &cfg, &url, client)
                .map_err(|e| BuildError::new("exporter", &id, e))?
        ));
        Ok((exporter, settings))
    }
}

#[cfg(test)]
mod test_servers;
#[cfg(test)]
mod tests;
