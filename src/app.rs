//! The process lifecycle: load and validate the config, set up logging and self-telemetry,
//! build the topology, start it, then loop: reload on a config file change, SIGHUP or
//! `POST /-/reload` (`reload`), until SIGTERM / SIGINT; then shut down in order within the
//! deadline. `validate` and `components` are the dry-run subcommands.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::factory::BuildError;
use crate::component::registry::Registry;
use crate::component::status::{Health, StatusRegistry};
use crate::component::Kind;
use crate::config::error::ConfigErrors;
use crate::config::load::{load, LoadOptions, Loaded};
use crate::config::provider::ProcessEnv;
use crate::pipeline::build::BuildEnv;
use crate::pipeline::running::RunningTopology;
use crate::reload::{ReloadRequest, Reloader, Trigger};
use crate::telemetry::metrics::MetricsRegistry;
use crate::telemetry::server::{bind_all, pull_addrs, Servers};

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
    #[error("{0}")]
    Admin(String),
    #[error("failed to reload the config: {0}")]
    Reload(String),
}

/// Everything `run` needs from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub load: LoadOptions,
    pub shutdown_timeout: Duration,
    /// Reload when a `--config` file's content changes.
    pub watch_config: bool,
    /// `host:port` of the admin endpoint (`POST /-/reload`); None = off.
    pub admin_endpoint: Option<String>,
    /// Exit with status 1 when a reload fails (otelcol's behaviour), instead of keeping the
    /// running config.
    pub exit_on_reload_failure: bool,
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

/// Runs the collector until SIGTERM or SIGINT, reloading the config on request.
pub async fn run(opts: RunOptions) -> Result<(), AppError> {
    let registry = Arc::new(Registry::builtin());
    let files = crate::reload::watch::config_files(&opts.load.uris);
    let seen: crate::reload::watch::SeenHash = Arc::new(std::sync::atomic::AtomicU64::new(
        crate::reload::watch::content_hash(&files),
    ));
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
    let telemetry_err = |(addr, message): (String, String)| AppError::Telemetry { addr, message };
    let addrs = pull_addrs(&cfg.service.telemetry.metrics).map_err(telemetry_err)?;
    let bound_servers = bind_all(&addrs, &metrics).map_err(telemetry_err)?;

    // Reload triggers: the admin endpoint is bound now too.
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(8);
    let admin_stop = CancellationToken::new();
    let admin_task = match &opts.admin_endpoint {
        Some(ep) => {
            let addr = crate::reload::admin::parse_endpoint(ep).map_err(AppError::Admin)?;
            let (_, task) = crate::reload::admin::bind(addr, reload_tx.clone(), admin_stop.clone())
                .map_err(|e| {
                    AppError::Admin(format!("cannot serve the admin endpoint on {addr}: {e}"))
                })?;
            Some(task)
        }
        None => None,
    };

    let env = BuildEnv::new(
        Arc::clone(&registry),
        Arc::clone(&metrics),
        Arc::clone(&status),
    );
    let mut topology = RunningTopology::start(env, cfg.clone()).await?;
    status.set(Health::Ready);
    let mut servers = Servers::default();
    bound_servers.serve_into(&mut servers);
    if let Some(t) = admin_task {
        tokio::spawn(t);
    }
    let graph = topology.graph();
    tracing::info!(
        pipelines = graph.pipelines.len(),
        receivers = graph.receivers.len(),
        exporters = graph.exporters.len(),
        "Everything is ready. Begin running and processing data."
    );
    let watch_stop = CancellationToken::new();
    if opts.watch_config && !files.is_empty() {
        if let Err(e) = crate::reload::watch::spawn(
            files.clone(),
            Arc::clone(&seen),
            reload_tx.clone(),
            crate::reload::watch::DEBOUNCE,
            crate::reload::watch::POLL,
            watch_stop.clone(),
        ) {
            tracing::error!(error = %e, "Cannot watch the config files; reload with SIGHUP or the admin endpoint.");
        }
    }
    drop(reload_tx);
    let mut reloader = Reloader::new(
        opts.load.clone(),
        Arc::clone(&registry),
        Arc::clone(&metrics),
        &loaded,
        servers,
        files,
        seen,
    );

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(AppError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AppError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(AppError::Signals)?;
    let mut failed: Option<String> = None;
    loop {
        let (trigger, reply) = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => (Trigger::Signal, None),
            Some(req) = reload_rx.recv() => (req.trigger, req.reply),
        };
        let result = reloader.reload(&mut topology, trigger).await;
        if let (Err(e), true) = (&result, opts.exit_on_reload_failure) {
            failed = Some(e.clone());
        }
        if let Some(r) = reply {
            let _ = r.send(result);
        }
        if failed.is_some() {
            tracing::error!("Exiting after a failed reload (--exit-on-reload-failure).");
            break;
        }
    }
    tracing::info!("Shutting down.");
    watch_stop.cancel();
    admin_stop.cancel();
    status.set(Health::Stopping);
    topology.shutdown(opts.shutdown_timeout).await;
    reloader.servers_mut().stop();
    tracing::info!("Shutdown complete.");
    match failed {
        Some(e) => Err(AppError::Reload(e)),
        None => Ok(()),
    }
}
