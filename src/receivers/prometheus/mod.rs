//! The otelcol `prometheus` receiver: scrape configs with static, file and Kubernetes service
//! discovery, relabeling, text and OpenMetrics parsing, and conversion to OTLP as otelcol
//! does it. `config` and `promconfig` parse, `target` turns discovered labels into targets,
//! `manager` keeps one `scrape_loop` per target, `convert` builds OTLP, `api` serves the
//! targets API. On reload a changed receiver config is applied in place (the factory's
//! reconfigure hook hands it to the running `manager`).

pub mod api;
mod body_pool;
pub mod config;
pub mod convert;
pub mod manager;
pub mod prehashed;
pub mod promconfig;
pub mod sample_labels;
pub mod scrape_http;
pub mod scrape_loop;
pub mod series_cache;
pub mod staleness;
pub mod target;
pub mod yaml_reader;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::component::context::BuildContext;
use crate::component::factory::{
    ApplyReconfigure, BuildError, BuiltComponent, Factory, ReceiverFactory, ReceiverOutputs,
    ReconfigureHook,
};
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;

/// Factory of the `prometheus` receiver (metrics only).
pub struct PrometheusReceiverFactory;

impl Factory for PrometheusReceiverFactory {
    fn type_name(&self) -> &'static str {
        "prometheus"
    }

    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![(Signal::Metrics, Stability::Beta)]
    }

    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        config::decode(raw, key_path).err().unwrap_or_default()
    }
}

impl ReceiverFactory for PrometheusReceiverFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: BuildContext,
        outputs: ReceiverOutputs,
    ) -> Result<BuiltComponent, BuildError> {
        let id = ctx.id.to_string();
        let cfg = config::decode(raw, &format!("receivers::{id}"))
            .map_err(|e| BuildError::new("receiver", &id, e.to_string()))?;
        for w in &cfg.warnings {
            tracing::warn!(receiver = %id, "{w}");
        }
        let consumer = outputs.metrics.ok_or_else(|| {
            BuildError::new(
                "receiver",
                &id,
                "the prometheus receiver only produces metrics",
            )
        })?;
        let views: manager::Views = Arc::new(RwLock::new(BTreeMap::new()));
        let api = match &cfg.api_endpoint {
            Some(ep) => Some(
                api::bind(ep, Arc::clone(&views), ctx.shutdown.clone()).map_err(|e| {
                    BuildError::new(
                        "receiver",
                        &id,
                        format!("cannot serve the API on {ep:?}: {e}"),
                    )
                })?,
            ),
            None => None,
        };
        let metrics = Arc::clone(&ctx.metrics);
        let stop = ctx.shutdown.clone();
        let (configs_tx, configs) = tokio::sync::watch::channel(Arc::new(cfg.prom));
        let hook = reconfigure_hook(id.clone(), cfg.api_endpoint, Arc::new(configs_tx));
        Ok(BuiltComponent::new(async move {
            let api_task = api.map(tokio::spawn);
            manager::run(id, configs, consumer, metrics, views, stop).await;
            if let Some(t) = api_task {
                let _ = t.await;
            }
        })
        .with_reconfigure(hook))
    }
}

/// Reload in place: a new `config` is handed to the running scrape manager, which keeps what
/// did not change (see `manager`). A changed API server endpoint needs a restart.
fn reconfigure_hook(
    id: String,
    api_endpoint: Option<String>,
    configs: Arc<tokio::sync::watch::Sender<Arc<promconfig::PromConfig>>>,
) -> ReconfigureHook {
    Box::new(move |raw: &serde_yaml::Value| {
        let cfg = config::decode(raw, &format!("receivers::{id}")).ok()?;
        if cfg.api_endpoint != api_endpoint {
            return None;
        }
        for w in &cfg.warnings {
            tracing::warn!(receiver = %id, "{w}");
        }
        let configs = Arc::clone(&configs);
        let apply: ApplyReconfigure = Box::new(move || {
            configs.send_replace(Arc::new(cfg.prom));
        });
        Some(apply)
    })
}
