//! The scrape manager: one pool per job. Each pool follows its discovery providers (static,
//! file, Kubernetes; Kubernetes providers with equal configs are shared across jobs, so one
//! watch serves them all), turns their groups into targets (`target::populate`), and keeps
//! exactly one scrape loop per target identity: new targets start a loop, vanished ones stop
//! theirs with end-of-run staleness, unchanged ones keep running untouched. The current
//! active and dropped targets are published for the targets API.
//!
//! A new config (hot reload) is applied in place by `Manager::apply`: equal providers and
//! unchanged jobs are kept; a changed job keeps the loops of targets that stayed with equal
//! scrape settings (their cadence and series state carry on) and restarts only the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::promconfig::{PromConfig, ScrapeConfig};
use super::scrape_loop::{build_client, ScrapeLoop, SharedHealth};
use super::target::{populate, Populated, Target};
use crate::data::Metrics;
use crate::discovery::files::{run_file_sd, static_groups};
use crate::discovery::kubernetes::{KubernetesDiscovery, KubernetesSdConfig};
use crate::discovery::TargetGroup;
use crate::pipeline::fanout::Consumer;
use crate::relabel::Labels;
use crate::telemetry::metrics::MetricsRegistry;

/// What the targets API shows for one job.
#[derive(Clone, Default)]
pub struct PoolView {
    pub active: Vec<(Target, SharedHealth)>,
    pub dropped: Vec<Labels>,
}

/// Every pool's view, by job name.
pub type Views = Arc<RwLock<BTreeMap<String, PoolView>>>;

struct Running {
    target: Target,
    health: SharedHealth,
    stop: CancellationToken,
    gone: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// Runs every pool until `stop` is cancelled; returns once every loop has ended. A new
/// config published on `configs` is applied in place (`Manager::apply`).
pub async fn run(
    receiver_id: String,
    mut configs: watch::Receiver<Arc<PromConfig>>,
    consumer: Consumer<Metrics>,
    metrics: Arc<MetricsRegistry>,
    views: Views,
    stop: CancellationToken,
) {
    crate::ensure_crypto_provider();
    let mut mgr = Manager {
        receiver_id,
        consumer,
        metrics,
        views,
        stop: stop.clone(),
        providers: Vec::new(),
        pools: HashMap::new(),
    };
    let first = Arc::clone(&configs.borrow_and_update());
    mgr.apply(&first).await;
    let mut open = true;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = configs.changed(), if open => {
                if changed.is_err() {
                    open = false;
                    continue;
                }
                let cfg = Arc::clone(&configs.borrow_and_update());
                mgr.apply(&cfg).await;
            }
        }
    }
    mgr.stop_all().await;
}

/// What a discovery provider is, for sharing providers with equal configs.
#[derive(Clone, PartialEq)]
enum ProviderKey {
    Static(Vec<(Vec<String>, Labels)>),
    File(Vec<String>, std::time::Duration),
    Kubernetes(Box<KubernetesSdConfig>),
}

struct Provider {
    key: ProviderKey,
    rx: watch::Receiver<Vec<TargetGroup>>,
    stop: CancellationToken,
    /// Static providers keep their sender so the state stays readable.
    _tx: Option<watch::Sender<Vec<TargetGroup>>>,
}

/// A pool's settings, as a reload hands them over.
struct PoolUpdate {
    job: Arc<ScrapeConfig>,
    external_labels: Labels,
    providers: Vec<watch::Receiver<Vec<TargetGroup>>>,
    /// The loops' own settings changed: every loop restarts.
    restart_loops: bool,
}

struct PoolHandle {
    job: Arc<ScrapeConfig>,
    external_labels: Labels,
    keys: Vec<ProviderKey>,
    updates: tokio::sync::mpsc::Sender<PoolUpdate>,
    stop: CancellationToken,
    /// Set when the job is removed: its loops end with staleness markers.
    removed: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// Whether two versions of a job scrape a kept target the same way: everything but target
/// discovery and target relabeling (which only decide *which* targets exist) is equal.
fn loop_settings_equal(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    fn strip(v: &serde_yaml::Value) -> serde_yaml::Value {
        let mut v = v.clone();
        if let serde_yaml::Value::Mapping(m) = &mut v {
            for k in [
                "relabel_configs",
                "static_configs",
                "file_sd_configs",
                "kubernetes_sd_configs",
            ] {
                m.remove(k);
            }
        }
        v
    }
    strip(&a.raw) == strip(&b.raw)
        && a.scrape_interval == b.scrape_interval
        && a.scrape_timeout == b.scrape_timeout
        && a.limits == b.limits
        && a.name_scheme == b.name_scheme
        && a.scrape_protocols == b.scrape_protocols
        && a.fallback_scrape_protocol == b.fallback_scrape_protocol
        && a.http == b.http
}

fn provider_keys(job: &ScrapeConfig) -> Vec<ProviderKey> {
    let mut keys = Vec::new();
    let statics: Vec<(Vec<String>, Labels)> = job
        .static_configs
        .iter()
        .map(|s| (s.targets.clone(), s.labels.clone()))
        .collect();
    if !statics.is_empty() {
        keys.push(ProviderKey::Static(statics));
    }
    for f in &job.file_sd_configs {
        keys.push(ProviderKey::File(f.files.clone(), f.refresh_interval));
    }
    for raw in &job.kubernetes_sd_configs {
        match KubernetesSdConfig::from_yaml(raw) {
            Ok(sd) => keys.push(ProviderKey::Kubernetes(Box::new(sd))),
            Err(e) => {
                tracing::error!(job = %job.job_name, error = %e, "Invalid kubernetes_sd_configs entry; skipped.")
            }
        }
    }
    keys
}

/// The pools of one receiver and the discovery providers they share.
struct Manager {
    receiver_id: String,
    consumer: Consumer<Metrics>,
    metrics: Arc<MetricsRegistry>,
    views: Views,
    stop: CancellationToken,
    providers: Vec<Provider>,
    pools: HashMap<String, PoolHandle>,
}

impl Manager {
    /// The provider for `key`, started if no running one has an equal config.
    fn provider(&mut self, key: &ProviderKey) -> watch::Receiver<Vec<TargetGroup>> {
        if let Some(p) = self.providers.iter().find(|p| p.key == *key) {
            return p.rx.clone();
        }
        let stop = self.stop.child_token();
        let (tx, rx) = watch::channel(Vec::new());
        let keep_tx = match key {
            ProviderKey::Static(statics) => {
                let _ = tx.send(static_groups(statics));
                Some(tx)
            }
            ProviderKey::File(files, refresh) => {
                tokio::spawn(run_file_sd(files.clone(), *refresh, tx, stop.clone()));
                None
            }
            ProviderKey::Kubernetes(sd) => {
                let d = KubernetesDiscovery::new((**sd).clone());
                tokio::spawn(d.run(tx, stop.clone()));
                None
            }
        };
        self.providers.push(Provider {
            key: key.clone(),
            rx: rx.clone(),
            stop,
            _tx: keep_tx,
        });
        rx
    }

    /// Applies a config the way Prometheus's `ApplyConfig` does, one step further: providers
    /// with equal configs and pools whose job is unchanged keep running untouched; a changed
    /// job keeps the loops of targets that are still there with the same settings and
    /// restarts only the others; new jobs start; removed ones stop with staleness markers.
    async fn apply(&mut self, cfg: &PromConfig) {
        let mut used: Vec<ProviderKey> = Vec::new();
        let mut names = Vec::new();
        for job in &cfg.scrape_configs {
            names.push(job.job_name.clone());
            let keys = provider_keys(job);
            let rxs: Vec<_> = keys.iter().map(|k| self.provider(k)).collect();
            used.extend(keys.iter().cloned());
            let external = cfg.global.external_labels.clone();
            if let Some(p) = self.pools.get_mut(&job.job_name) {
                let same_loops = loop_settings_equal(&p.job, job) && p.external_labels == external;
                if same_loops && p.job.raw == job.raw && p.keys == keys {
                    continue;
                }
                let job = Arc::new(job.clone());
                let update = PoolUpdate {
                    job: Arc::clone(&job),
                    external_labels: external.clone(),
                    providers: rxs,
                    restart_loops: !same_loops,
                };
                tracing::info!(job = %job.job_name, restart_loops = !same_loops, "Scrape job changed; applying in place.");
                if p.updates.send(update).await.is_ok() {
                    p.job = job;
                    p.external_labels = external;
                    p.keys = keys;
                }
                continue;
            }
            let job = Arc::new(job.clone());
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let stop = self.stop.child_token();
            let removed = Arc::new(AtomicBool::new(false));
            let pool = Pool {
                receiver_id: self.receiver_id.clone(),
                job: Arc::clone(&job),
                external_labels: external.clone(),
                consumer: self.consumer.clone(),
                metrics: Arc::clone(&self.metrics),
                views: Arc::clone(&self.views),
            };
            let handle = tokio::spawn(pool.run(rxs, stop.clone(), rx, Arc::clone(&removed)));
            self.pools.insert(
                job.job_name.clone(),
                PoolHandle {
                    job,
                    external_labels: external,
                    keys,
                    updates: tx,
                    stop,
                    removed,
                    handle,
                },
            );
        }
        let gone: Vec<String> = self
            .pools
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(p) = self.pools.remove(&name) {
                tracing::info!(job = %name, "Scrape job removed; its targets go stale.");
                p.removed.store(true, Ordering::Relaxed);
                p.stop.cancel();
                let _ = p.handle.await;
                self.views
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&name);
                self.metrics
                    .gauge(
                        "ferrocol_prometheus_targets",
                        "Active scrape targets per job.",
                        &[("receiver", &self.receiver_id), ("job", &name)],
                    )
                    .set(0.0);
            }
        }
        self.providers.retain(|p| {
            let keep = used.contains(&p.key);
            if !keep {
                p.stop.cancel();
            }
            keep
        });
    }

    async fn stop_all(self) {
        for p in self.pools.values() {
            p.stop.cancel();
        }
        for (_, p) in self.pools {
            let _ = p.handle.await;
        }
        for p in &self.providers {
            p.stop.cancel();
        }
    }
}

struct Pool {
    receiver_id: String,
    job: Arc<ScrapeConfig>,
    external_labels: Labels,
    consumer: Consumer<Metrics>,
    metrics: Arc<MetricsRegistry>,
    views: Views,
}

/// Wakes the pool whenever any provider publishes.
fn forward_wakeups(
    providers: &[watch::Receiver<Vec<TargetGroup>>],
    notify: &Arc<Notify>,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut forwarders = Vec::new();
    for mut rx in providers.iter().cloned() {
        let n = Arc::clone(notify);
        let s = stop.clone();
        forwarders.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = s.cancelled() => return,
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        n.notify_one();
                    }
                }
            }
        }));
    }
    forwarders
}

impl Pool {
    async fn run(
        mut self,
        mut providers: Vec<watch::Receiver<Vec<TargetGroup>>>,
        stop: CancellationToken,
        mut updates: tokio::sync::mpsc::Receiver<PoolUpdate>,
        removed: Arc<AtomicBool>,
    ) {
        let client_for = |job: &ScrapeConfig| match build_client(job) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(job = %job.job_name, error = %e, "Cannot build the scrape HTTP client; the job does not run.");
                None
            }
        };
        let mut client = client_for(&self.job);
        let notify = Arc::new(Notify::new());
        let mut forwarders = forward_wakeups(&providers, &notify, &stop);
        let mut running: HashMap<u64, Running> = HashMap::new();
        loop {
            match &client {
                Some(c) => self.sync(&providers, &mut running, c),
                None => Self::stop_loops(&mut running, false),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = notify.notified() => {}
                u = updates.recv() => {
                    let Some(u) = u else { continue };
                    if u.restart_loops {
                        Self::stop_loops(&mut running, false);
                        client = client_for(&u.job);
                    }
                    self.job = u.job;
                    self.external_labels = u.external_labels;
                    providers = u.providers;
                    for f in forwarders.drain(..) {
                        f.abort();
                    }
                    forwarders = forward_wakeups(&providers, &notify, &stop);
                }
            }
        }
        let gone = removed.load(Ordering::Relaxed);
        for r in running.values() {
            if gone {
                r.gone.store(true, Ordering::Relaxed);
            }
            r.stop.cancel();
        }
        for (_, r) in running {
            let _ = r.handle.await;
        }
        for f in forwarders {
            f.abort();
        }
    }

    /// Stops every loop (`gone`: with end-of-run staleness).
    fn stop_loops(running: &mut HashMap<u64, Running>, gone: bool) {
        for (_, r) in running.drain() {
            r.gone.store(gone, Ordering::Relaxed);
            r.stop.cancel();
        }
    }

    /// Recomputes the targets from every provider's latest state and reconciles the loops.
    fn sync(
        &self,
        providers: &[watch::Receiver<Vec<TargetGroup>>],
        running: &mut HashMap<u64, Running>,
        client: &reqwest::Client,
    ) {
        let mut active: HashMap<u64, Target> = HashMap::new();
        let mut dropped = Vec::new();
        for p in providers {
            for group in p.borrow().iter() {
                for (i, t) in group.targets.iter().enumerate() {
                    let mut labels = group.labels.clone();
                    for (k, v) in t.iter() {
                        labels.set(k, v);
                    }
                    match populate(labels, &self.job) {
                        Populated::Active(target) => {
                            active.entry(target.hash()).or_insert(target);
                        }
                        Populated::Dropped(d) => dropped.push(d),
                        Populated::Rejected(e) => {
                            tracing::warn!(job = %self.job.job_name, group = %group.source, index = i, error = %e, "Target rejected.");
                        }
                    }
                }
            }
        }
        let limit = self.job.limits.target_limit;
        if limit > 0 && active.len() as u64 > limit {
            tracing::error!(job = %self.job.job_name, targets = active.len(), limit, "target_limit exceeded: no target of this job is scraped.");
            active.clear();
        }
        running.retain(|hash, r| {
            if active.get(hash).is_some_and(|t| *t == r.target) {
                return true;
            }
            r.gone.store(true, Ordering::Relaxed);
            r.stop.cancel();
            false
        });
        for (hash, target) in active {
            if running.contains_key(&hash) {
                continue;
            }
            let lp = ScrapeLoop::new(
                target.clone(),
                Arc::clone(&self.job),
                self.external_labels.clone(),
                client.clone(),
                self.consumer.clone(),
                Arc::clone(&self.metrics),
                &self.receiver_id,
            );
            let health = lp.health();
            let stop = CancellationToken::new();
            let gone = Arc::new(AtomicBool::new(false));
            let handle = tokio::spawn(lp.run(stop.clone(), Arc::clone(&gone)));
            running.insert(
                hash,
                Running {
                    target,
                    health,
                    stop,
                    gone,
                    handle,
                },
            );
        }
        let keep = self.job.limits.keep_dropped_targets;
        if keep > 0 {
            dropped.truncate(keep as usize);
        }
        let mut view = PoolView {
            active: running
                .values()
                .map(|r| (r.target.clone(), Arc::clone(&r.health)))
                .collect(),
            dropped,
        };
        view.active.sort_by(|a, b| a.0.url.cmp(&b.0.url));
        self.views
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.job.job_name.clone(), view);
        self.metrics
            .gauge(
                "ferrocol_prometheus_targets",
                "Active scrape targets per job.",
                &[("receiver", &self.receiver_id), ("job", &self.job.job_name)],
            )
            .set(running.len() as f64);
    }
}
