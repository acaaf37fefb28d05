//! Service discovery: providers that turn a source of truth (the Kubernetes API, for now)
//! into Prometheus target groups. A provider runs until its shutdown token is cancelled and
//! publishes the *full* current state (every live group, sorted by source) on a
//! `tokio::sync::watch` channel each time it changes, so the consumer always reads the latest
//! state and no backlog can build up.
//!
//! This module deliberately does not share providers between jobs, merge bursts across
//! providers, or apply relabeling: that is the job of the discovery manager and the scrape
//! side (DESIGN 1.8).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::relabel::Labels;

pub mod files;
pub mod kubernetes;

/// Prometheus's `targetgroup.Group`: targets sharing a `source` and common labels.
///
/// A group with no targets and no labels means "deleted"; providers never publish such
/// groups in their state (a deleted group simply disappears from it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetGroup {
    /// The group's identity within its provider, e.g. `pod/<namespace>/<name>`.
    pub source: String,
    /// One label set per target (each holds at least `__address__`).
    pub targets: Vec<Labels>,
    /// Labels common to every target of the group (target labels win on conflict).
    pub labels: Labels,
}

impl TargetGroup {
    /// True when the group carries nothing (Prometheus treats it as a deletion).
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.labels.is_empty()
    }
}

/// The state a provider publishes: every live group, sorted by `source`.
pub type GroupsSender = watch::Sender<Vec<TargetGroup>>;

/// A boxed provider future, as spawned by the discovery manager.
pub type DiscoveryFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A discovery provider. `run` never ends on an error (it logs, backs off and retries) and
/// returns promptly once `shutdown` is cancelled.
pub trait Discoverer: Send + 'static {
    fn run(self: Box<Self>, tx: GroupsSender, shutdown: CancellationToken) -> DiscoveryFuture;
}
