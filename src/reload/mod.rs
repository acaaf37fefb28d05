//! Hot reload of the config. Three triggers feed one queue, handled one at a time by the app
//! loop: a change of a `--config` file's content (`watch`, on by default), SIGHUP, and
//! `POST /-/reload` on the admin endpoint (`admin`, off by default).
//!
//! A reload (`Reloader::reload`) first loads, expands and validates the new config completely;
//! an invalid config changes nothing (each error is logged with its file, key and reason) and
//! the next valid change is applied. A config identical to the running one after expansion is
//! a no-op. Otherwise the running topology applies the diff (`pipeline::running`), which
//! builds every new piece, ports included, before touching anything and rolls back if one
//! fails. Outcomes are counted in `ferrocol_config_reloads_total{result}`,
//! `ferrocol_config_last_reload_successful` and
//! `ferrocol_config_last_reload_success_timestamp_seconds`, and each reload logs one line
//! naming what was added, changed, removed and kept.

pub mod admin;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::component::registry::Registry;
use crate::config::load::{load, LoadOptions, Loaded};
use crate::config::provider::ProcessEnv;
use crate::pipeline::running::RunningTopology;
use crate::telemetry::metrics::{Counter, Gauge, MetricsRegistry};
use crate::telemetry::server::{bind_all, pull_addrs, Servers};

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    File,
    Signal,
    Http,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::File => "file",
            Trigger::Signal => "SIGHUP",
            Trigger::Http => "http",
        }
    }
}

/// A reload request; `reply` gets the summary or the error text.
pub struct ReloadRequest {
    pub trigger: Trigger,
    pub reply: Option<oneshot::Sender<Result<String, String>>>,
}

/// The reload self-metrics.
pub struct ReloadMetrics {
    success: Counter,
    failure: Counter,
    last_ok: Gauge,
    last_success: Gauge,
    duration: Gauge,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl ReloadMetrics {
    /// Registers the series; the start-up load counts as the last successful one.
    pub fn new(m: &MetricsRegistry) -> Self {
        let total = |result| {
            m.counter(
                "ferrocol_config_reloads_total",
                "Config reloads by result (success: applied or unchanged; failure: the running config was kept).",
                &[("result", result)],
            )
        };
        let s = Self {
            success: total("success"),
            failure: total("failure"),
            last_ok: m.gauge(
                "ferrocol_config_last_reload_successful",
                "Whether the last config reload attempt succeeded (1) or failed (0).",
                &[],
            ),
            last_success: m.gauge(
                "ferrocol_config_last_reload_success_timestamp_seconds",
                "Time of the last successful config load (start-up or reload), in Unix seconds.",
                &[],
            ),
            duration: m.gauge(
                "ferrocol_config_last_reload_duration_seconds",
                "How long the last config reload took.",
                &[],
            ),
        };
        s.last_ok.set(1.0);
        s.last_success.set(now_secs());
        s
    }

    fn record(&self, ok: bool, started: Instant) {
        self.duration.set(started.elapsed().as_secs_f64());
        if ok {
            self.success.inc();
            self.last_ok.set(1.0);
            self.last_success.set(now_secs());
        } else {
            self.failure.inc();
            self.last_ok.set(0.0);
        }
    }
}

/// Reloads the running collector; owns what a reload compares against.
pub struct Reloader {
    opts: LoadOptions,
    registry: Arc<Registry>,
    metrics: Arc<MetricsRegistry>,
    /// The resolved document running now.
    doc: serde_yaml::Value,
    logs: crate::telemetry::config::LogsConfig,
    servers: Servers,
    counters: ReloadMetrics,
    /// The config files and the hash of their content last read (shared with the watcher).
    files: Vec<std::path::PathBuf>,
    seen: watch::SeenHash,
}

impl Reloader {
    pub fn new(
        opts: LoadOptions,
        registry: Arc<Registry>,
        metrics: Arc<MetricsRegistry>,
        loaded: &Loaded,
        servers: Servers,
        files: Vec<std::path::PathBuf>,
        seen: watch::SeenHash,
    ) -> Self {
        let counters = ReloadMetrics::new(&metrics);
        Self {
            opts,
            registry,
            metrics,
            doc: loaded.doc.clone(),
            logs: loaded.validated.config.service.telemetry.logs.clone(),
            servers,
            counters,
            files,
            seen,
        }
    }

    /// The self-metrics servers, stopped at shutdown.
    pub fn servers_mut(&mut self) -> &mut Servers {
        &mut self.servers
    }

    /// Loads, validates and applies the config; Ok(summary) or Err(reason). On error the
    /// running config is untouched.
    pub async fn reload(
        &mut self,
        topology: &mut RunningTopology,
        trigger: Trigger,
    ) -> Result<String, String> {
        let started = Instant::now();
        let t = trigger.as_str();
        self.seen.store(
            watch::content_hash(&self.files),
            std::sync::atomic::Ordering::SeqCst,
        );
        let loaded = match load(&self.opts, &ProcessEnv, &self.registry) {
            Ok(l) => l,
            Err(errs) => {
                for e in &errs.0 {
                    tracing::error!(
                        trigger = t,
                        file = e.source_name.as_deref().unwrap_or("-"),
                        key = %e.key_path,
                        reason = %e.message,
                        "Config reload failed: the new config is invalid; the running config is kept."
                    );
                }
                self.counters.record(false, started);
                return Err(errs.to_string());
            }
        };
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        for (section, id) in &loaded.validated.disabled {
            tracing::error!(section = %section, id = %id, "Component disabled: ferrocol does not support it (--unsupported-components=disable).");
        }
        if loaded.doc == self.doc {
            self.counters.record(true, started);
            tracing::info!(
                trigger = t,
                "Config reloaded: unchanged after expansion; nothing to do."
            );
            return Ok("unchanged".to_string());
        }
        let new_cfg = loaded.validated.config;
        // Self-metrics endpoints: new ones are bound before anything changes.
        let addrs = pull_addrs(&new_cfg.service.telemetry.metrics)
            .map_err(|(a, m)| format!("cannot serve self-metrics on {a}: {m}"));
        let addrs: Vec<SocketAddr> = match addrs {
            Ok(a) => a,
            Err(e) => return Err(self.fail(t, started, e)),
        };
        let running = self.servers.addrs();
        let fresh: Vec<SocketAddr> = addrs
            .iter()
            .filter(|a| !running.contains(a))
            .copied()
            .collect();
        let bound = match bind_all(&fresh, &self.metrics) {
            Ok(b) => b,
            Err((a, m)) => {
                return Err(self.fail(t, started, format!("cannot serve self-metrics on {a}: {m}")))
            }
        };
        let logs = new_cfg.service.telemetry.logs.clone();
        match topology.apply(new_cfg).await {
            Err(e) => Err(self.fail(
                t,
                started,
                format!("{e} (what the reload built was rolled back)"),
            )),
            Ok(summary) => {
                bound.serve_into(&mut self.servers);
                self.servers.retain(&addrs);
                if logs != self.logs {
                    tracing::warn!(
                        "service::telemetry::logs changed: it takes effect at the next restart."
                    );
                    self.logs = logs;
                }
                self.doc = loaded.doc;
                self.counters.record(true, started);
                tracing::info!(
                    trigger = t,
                    added = ?summary.added,
                    changed = ?summary.changed,
                    removed = ?summary.removed,
                    kept = ?summary.kept,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "Config reloaded."
                );
                Ok(summary.to_string())
            }
        }
    }

    fn fail(&self, trigger: &str, started: Instant, reason: String) -> String {
        tracing::error!(trigger, reason = %reason, "Config reload failed; the running config is kept.");
        self.counters.record(false, started);
        reason
    }
}
