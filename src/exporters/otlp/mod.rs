//! The `otlp_grpc` exporter (deprecated alias `otlp`, resolved by the registry): OTLP over
//! gRPC to a collector or backend. This file is the factory; `config` holds the strict config,
//! `grpc_client` the "send one request" part, `status` what both OTLP exporters share about
//! server answers.
//!
//! Retries, the sending queue and the per-attempt `timeout` come from the exporter helper
//! (`exporters::queue`). Authenticator extensions are not supported: `auth` is accepted and
//! a warning says requests go without it.

pub mod config;
pub mod grpc_client;
pub mod status;
#[cfg(test)]
pub(crate) mod test_support;

use std::sync::Arc;

use crate::component::context::BuildContext;
use crate::component::factory::{
    AnyExporter, BuildError, ExporterFactory, Factory, HelperSettings,
};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;
use crate::for_signal;

use self::config::{AuthConfig, OtlpGrpcConfig};
use self::grpc_client::OtlpGrpcExporter;

/// Factory of the `otlp_grpc` exporter.
pub struct OtlpExporterFactory;

impl Factory for OtlpExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlp_grpc"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        Signal::ALL
            .iter()
            .map(|s| (*s, Stability::Stable))
            .collect()
    }
    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<OtlpGrpcConfig>(raw, key_path)
    }
}

impl ExporterFactory for OtlpExporterFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<(AnyExporter, HelperSettings), BuildError> {
        let id = ctx.id.to_string();
        let key_path = format!("exporters::{id}");
        let cfg = decode::<OtlpGrpcConfig>(raw, &key_path)
            .map_err(|e| BuildError::new("exporter", &id, e.to_string()))?;
        warn_unsupported_auth(&id, cfg.auth.as_ref());
        let settings = HelperSettings {
            retry: cfg.retry_on_failure.clone(),
            queue: cfg.sending_queue.clone(),
            timeout: Some(cfg.timeout.0).filter(|t| !t.is_zero()),
        };
        let exporter = for_signal!(signal, AnyExporter, T => Arc::new(
            OtlpGrpcExporter::<T>::new(&id, &cfg)
                .map_err(|e| BuildError::new("exporter", &id, e))?
        ));
        Ok((exporter, settings))
    }
}

/// Logs, loudly, that an `auth` section is ignored.
pub fn warn_unsupported_auth(exporter: &str, auth: Option<&AuthConfig>) {
    if let Some(auth) = auth {
        tracing::warn!(
            exporter,
            authenticator = %auth.authenticator,
            "Authenticator extensions are not supported by ferrocol: requests are sent WITHOUT authentication"
        );
    }
}

#[cfg(test)]
mod tests;
