//! The `health_check` extension: an HTTP endpoint (default `localhost:13133`, path `/`) that
//! Kubernetes probes, answering 200 once the collector is ready and 503 while it starts or
//! stops, with otelcol-contrib's legacy JSON bodies. Beta, as in otelcol.
//!
//! `config.rs` holds the settings (what is accepted, ignored or rejected), `response.rs` the
//! exact bodies, `server.rs` the listener. The v2 component-status mode is not implemented.

mod config;
mod response;
mod server;

pub use config::{HealthCheckConfig, ResponseBodyConfig};
pub use response::{civil_from_days, go_duration, rfc3339_nano};
pub use server::{resolve_endpoint, HealthCheckServer};

use crate::component::context::BuildContext;
use crate::component::factory::{BuildError, BuiltComponent, ExtensionFactory, Factory};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;

/// Factory of the `health_check` extension.
pub struct HealthCheckFactory;

impl Factory for HealthCheckFactory {
    fn type_name(&self) -> &'static str {
        "health_check"
    }

    /// Extensions have no per-signal stability; `ferrocol components` prints Beta.
    fn stability(&self) -> Vec<(Signal, Stability)> {
        Vec::new()
    }

    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<HealthCheckConfig>(raw, key_path)
    }
}

impl ExtensionFactory for HealthCheckFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: BuildContext,
    ) -> Result<BuiltComponent, BuildError> {
        let id = ctx.id.to_string();
        let cfg = decode::<HealthCheckConfig>(raw, &format!("extensions::{id}"))
            .map_err(|e| BuildError::new("extension", id.clone(), e.to_string()))?;
        Ok(HealthCheckServer::bind(&cfg, &ctx)?.into_component())
    }
}

#[cfg(test)]
mod tests;
