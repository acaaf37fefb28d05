//! The process lifecycle: load and validate the config, set up logging and self-telemetry,
//! build the topology, start it, wait for SIGTERM / SIGINT, then shut down in order within the
//! deadline. `validate` and `components` are the dry-run subcommands.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::component::factory::BuildError;
use crate::component::registry::Registry;
use crate::component::status::{Health, StatusRegistry};
use crate::component::Kind;
use crate::config::error::ConfigErrors;
use crate::config::load::{load, LoadOptions, Loaded};
use crate::config::provider::ProcessEnv;
use crate::pipeline::build::{build, BuildEnv};
use crate::pipeline::graph::Graph;
use crate::pipeline::running::RunningTopology;
use crate::telemetry::metrics::MetricsRegistry;

/// The embedded default config, used when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/default.yaml");

/// Errors that end the process (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot serve self-metrics on {addr}: {message}")]
    Telemetry { addr: String, message: String },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Everything `run` needs from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    pub shutdown_timeout: Duration,
}

/// The config sources to use: the given URIs, or the embedded default.
pub fn effective_uris(uris: &[String]) -> Vec<String> {
    if uris.is_empty() {
        vec![format!("yaml:{DEFAULT_CONFIG}")]
    } else {
        uris.to_vec()
    }
}

/// `ferrocol validate`: everything short of binding ports.
pub fn validate(opts: &LoadOptions) -> Result<Loaded, ConfigErrors> {
    load(opts, &ProcessEnv, &Registry::builtin())
}

/// `ferrocol components`: the built-in components with their stability, as YAML.
pub fn components() -> String {
    use serde_yaml::{Mapping, Value};
    let reg = Registry::builtin();
    let mut root = Mapping::new();
    let mut info = Mapping::new();
    info.insert("command".into(), "ferrocol".into());
    info.insert("description".into(), "ferrocol node-agent collector".into());
    info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    root.insert("buildinfo".into(), Value::Mapping(info));
    for kind in [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Extension,
    ] {
        let mut list = Vec::new();
        for (f, aliases) in reg.listing(kind) {
            let mut m = Mapping::new();
            m.insert("name".into(), f.type_name().into());
            if !aliases.is_empty() {
                m.insert(
                    "deprecated_aliases".into(),
                    Value::Sequence(aliases.into_iter().map(Value::from).collect()),
                );
            }
            m.insert(
                "module".into(),
                format!("ferrocol/{}s/{}", kind.as_str(), f.type_name()).into(),
            );
            let mut st = Mapping::new();
            match kind {
                Kind::Extension => {
                    st.insert("extension".into(), "Beta".into());
                }
                _ => {
                    for (s, level) in f.stability() {
                        st.insert(s.as_str().into(), level.as_str().into());
                    }
                }
            }
            m.insert("stability".into(), Value::Mapping(st));
            list.push(Value::Mapping(m));
        }
        root.insert(kind.section().into(), Value::Sequence(list));
    }
    root.insert("connectors".into(), Value::Sequence(Vec::new()));
    let providers = ["env", "file", "yaml"]
        .iter()
        .map(|s| {
            let mut m = Mapping::new();
            m.insert("scheme".into(), (*s).into());
            Value::Mapping(m)
        })
        .collect();
    root.insert("providers".into(), Value::Sequence(providers));
    serde_yaml::to_string(&Value::Mapping(root)).unwrap_or_default()
}

/// Runs the collector until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> Result<(), AppError> {
    let registry = Registry::builtin();
    let loaded = load(&opts.load, &ProcessEnv, &registry)?;
    let cfg = &loaded.validated.config;
    let _log = crate::telemetry::logging::init(&cfg.service.telemetry.logs);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }

    let metrics = MetricsRegistry::new();
    let status = Arc::new(StatusRegistry::default());
    for (section, id) in &loaded.validated.disabled {
        tracing::error!(
            section = %section,
            id = %id,
            "Component disabled: ferrocol does not support it (--unsupported-components=disable). Its data is not collected or exported."
        );
        metrics
            .gauge(
                "ferrocol_unsupported_components_disabled",
                "Components of the config that ferrocol does not support and started without (1 each).",
                &[("kind", section), ("id", &id.to_string())],
            )
            .set(1.0);
    }

    // Self-metrics listeners are bound now (a port clash fails the start) but served only
    // once the topology runs, so an answering endpoint means the collector is up.
    let telemetry_stop = CancellationToken::new();
    let mut telemetry_tasks = Vec::new();
    for ep in cfg.service.telemetry.metrics.pull_endpoints() {
        let addr = crate::telemetry::server::resolve_endpoint(&ep.host, ep.port).map_err(|m| {
            AppError::Telemetry {
                addr: format!("{}:{}", ep.host, ep.port),
                message: m,
            }
        })?;
        let task =
            crate::telemetry::server::bind(addr, Arc::clone(&metrics), telemetry_stop.clone())
                .map_err(|e| AppError::Telemetry {
                    addr: addr.to_string(),
                    message: e.to_string(),
                })?;
        telemetry_tasks.push(task);
    }

    let graph = Graph::from_config(cfg);
    let built = build(&BuildEnv {
        config: cfg,
        graph: &graph,
        registry: &registry,
        metrics: Arc::clone(&metrics),
        status: Arc::clone(&status),
    })?;
    let topology = RunningTopology::start(built);
    status.set(Health::Ready);
    for t in telemetry_tasks {
        tokio::spawn(t);
    }
    tracing::info!(
        pipelines = graph.pipelines.len(),
        receivers = graph.receivers.len(),
        exporters = graph.exporters.len(),
        "Everything is ready. Begin running and processing data."
    );

    wait_for_signal().await.map_err(AppError::Signals)?;
    tracing::info!("Received shutdown signal. Shutting down.");
    status.set(Health::Stopping);
    topology.shutdown(opts.shutdown_timeout).await;
    telemetry_stop.cancel();
    tracing::info!("Shutdown complete.");
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
