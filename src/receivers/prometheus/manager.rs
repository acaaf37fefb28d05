//! The scrape manager: one pool per job. Each pool follows its discovery providers (static,
//! file, Kubernetes; Kubernetes providers with equal configs are shared across jobs, so one
//! watch serves them all), turns their groups into targets (`target::populate`), and keeps
//! exactly one scrape loop per target identity: new targets start a loop, vanished ones stop
//! theirs with end-of-run staleness, unchanged ones keep running untouched. The current
//! active and dropped targets are published for the targets API.

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

/// Runs every pool until `stop` is cancelled; returns once every loop has ended.
pub async fn run(
    receiver_id: String,
    cfg: PromConfig,
    consumer: Consumer<Metrics>,
    metrics: Arc<MetricsRegistry>,
    views: Views,
    stop: CancellationToken,
) {
    crate::ensure_crypto_provider();
    let mut shared_k8s: HashMap<KubernetesSdConfig, watch::Receiver<Vec<TargetGroup>>> =
        HashMap::new();
    let mut providers_tasks = Vec::new();
    let mut pools = Vec::new();
    for job in cfg.scrape_configs {
        let mut providers: Vec<watch::Receiver<Vec<TargetGroup>>> = Vec::new();
        let statics: Vec<(Vec<String>, Labels)> = job
            .static_configs
            .iter()
            .map(|s| (s.targets.clone(), s.labels.clone()))
            .collect();
        if !statics.is_empty() {
            let (_tx, rx) = watch::channel(static_groups(&statics));
            providers.push(rx);
        }
        for f in &job.file_sd_configs {
            let (tx, rx) = watch::channel(Vec::new());
            providers_tasks.push(tokio::spawn(run_file_sd(
                f.files.clone(),
                f.refresh_interval,
                tx,
                stop.clone(),
            )));
            providers.push(rx);
        }
        for raw in &job.kubernetes_sd_configs {
            let sd = match KubernetesSdConfig::from_yaml(raw) {
                Ok(sd) => sd,
                Err(e) => {
                    tracing::error!(job = %job.job_name, error = %e, "Invalid kubernetes_sd_configs entry; skipped.");
                    continue;
                }
            };
            let rx = shared_k8s
                .entry(sd.clone())
                .or_insert_with(|| {
                    let (tx, rx) = watch::channel(Vec::new());
                    let d = KubernetesDiscovery::new(sd);
                    providers_tasks.push(tokio::spawn(d.run(tx, stop.clone())));
                    rx
                })
                .clone();
            providers.push(rx);
        }
        let pool = Pool {
            receiver_id: receiver_id.clone(),
            job: Arc::new(job),
            external_labels: cfg.global.external_labels.clone(),
            consumer: consumer.clone(),
            metrics: Arc::clone(&metrics),
            views: Arc::clone(&views),
        };
        pools.push(tokio::spawn(pool.run(providers, stop.clone())));
    }
    for p in pools {
        let _ = p.await;
    }
    for t in providers_tasks {
        let _ = t.await;
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

impl Pool {
    async fn run(self, providers: Vec<watch::Receiver<Vec<TargetGroup>>>, stop: CancellationToken) {
        let client = match build_client(&self.job) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(job = %self.job.job_name, error = %e, "Cannot build the scrape HTTP client; the job does not run.");
                return;
            }
        };
        // Wake the pool whenever any provider publishes.
        let notify = Arc::new(Notify::new());
        let mut forwarders = Vec::new();
        for mut rx in providers.iter().cloned() {
            let n = Arc::clone(&notify);
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
        let mut running: HashMap<u64, Running> = HashMap::new();
        loop {
            self.sync(&providers, &mut running, &client);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = notify.notified() => {}
            }
        }
        for r in running.values() {
            r.stop.cancel();
        }
        for (_, r) in running {
            let _ = r.handle.await;
        }
        for f in forwarders {
            f.abort();
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
            if active.contains_key(hash) {
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
