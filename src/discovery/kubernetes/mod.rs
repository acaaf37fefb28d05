//! Kubernetes service discovery (`kubernetes_sd_configs`), Prometheus's
//! `discovery/kubernetes` on top of `kube::runtime::watcher`: list + watch per informer and
//! namespace, with the configured label/field selectors sent to the API server, bookmarks,
//! a relist after `410 Gone`, exponential backoff, and no end on any error. Each relist is
//! applied atomically, and the full set of target groups is published on a watch channel
//! once every informer has synced and then whenever it changes.
//!
//! Roles: pod, node, service, endpoints, endpointslice (not ingress), with
//! `attach_metadata.node` and `.namespace`. No periodic resync, as in Prometheus.

pub mod client;
pub mod config;
pub mod endpoints;
pub mod endpointslice;
pub mod labels;
pub mod node;
pub mod pod;
pub mod selector;
pub mod service;
mod store;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

pub use config::{KubernetesSdConfig, Role};
use store::{Kind, State, Store, Stores};

use super::{Discoverer, DiscoveryFuture, GroupsSender};

/// How many ready events are applied before the state is republished.
const MAX_EVENTS_PER_PUBLISH: usize = 1024;
/// Backoff between failed client constructions (kubeconfig missing, not in a cluster...).
const CLIENT_RETRY_MIN: Duration = Duration::from_secs(1);
const CLIENT_RETRY_MAX: Duration = Duration::from_secs(30);

/// A Kubernetes discoverer for one `kubernetes_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct KubernetesDiscovery {
    config: KubernetesSdConfig,
}

impl KubernetesDiscovery {
    pub fn new(config: KubernetesSdConfig) -> Self {
        Self { config }
    }

    /// Lists and watches until `shutdown` is cancelled, publishing the full state on `tx`.
    /// Never returns early on an error.
    pub async fn run(self, tx: GroupsSender, shutdown: CancellationToken) {
        let cfg = &self.config;
        let a = &cfg.attach_metadata;
        if a.deployment || a.job || a.cronjob {
            tracing::warn!(
                role = cfg.role.as_str(),
                "attach_metadata deployment, job and cronjob are not supported; those labels are not added"
            );
        }
        let mut delay = CLIENT_RETRY_MIN;
        let (client, own_ns) = loop {
            match client::build(cfg).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(role = cfg.role.as_str(), error = %error_chain(&e), "Cannot create the Kubernetes client, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(CLIENT_RETRY_MAX);
                }
            }
        };
        let namespaces = namespaces(cfg, own_ns);
        let (mut streams, stores) = streams(cfg, &client, &namespaces);
        let mut state = State::new(cfg.role, a.node, a.namespace, stores);
        let mut failing = vec![false; streams.len()];
        let mut published = false;
        let mut changed = false;
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                ev = streams.next() => ev,
            };
            let Some(first) = first else {
                // Watcher streams never end; nothing left to watch means nothing to do.
                shutdown.cancelled().await;
                return;
            };
            handle(&mut state, &mut failing, cfg.role, first);
            for _ in 0..MAX_EVENTS_PER_PUBLISH {
                match streams.next().now_or_never() {
                    Some(Some(ev)) => handle(&mut state, &mut failing, cfg.role, ev),
                    _ => break,
                }
            }
            changed |= state.rebuild();
            if state.synced() && (changed || !published) {
                tx.send_replace(state.snapshot());
                published = true;
                changed = false;
            }
        }
    }
}

impl Discoverer for KubernetesDiscovery {
    fn run(self: Box<Self>, tx: GroupsSender, shutdown: CancellationToken) -> DiscoveryFuture {
        Box::pin((*self).run(tx, shutdown))
    }
}

/// An error and its sources, joined by ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The namespaces to watch; `None` means all namespaces (one cluster-wide watch).
fn namespaces(cfg: &KubernetesSdConfig, own: Option<String>) -> Vec<Option<String>> {
    let mut names: Vec<String> = cfg.namespaces.names.clone();
    if let Some(own) = own {
        names.push(own);
    }
    if names.is_empty() && !cfg.namespaces.own_namespace {
        return vec![None];
    }
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.clone()))
        .map(Some)
        .collect()
}

/// One watcher event, tagged with its kind and stream slot.
struct Ev {
    kind: Kind,
    slot: usize,
    stream: usize,
    event: Result<AnyEvent, watcher::Error>,
}

enum AnyEvent {
    Pod(Box<Event<Pod>>),
    Node(Box<Event<Node>>),
    Service(Box<Event<Service>>),
    Endpoints(Box<Event<Endpoints>>),
    EndpointSlice(Box<Event<EndpointSlice>>),
    Namespace(Box<Event<Namespace>>),
}

struct Builder<'a> {
    client: &'a kube::Client,
    cfg: &'a KubernetesSdConfig,
    streams: SelectAll<BoxStream<'static, Ev>>,
    next: usize,
}

impl Builder<'_> {
    /// Adds one watch stream per namespace for kind `K`; returns its store.
    fn add<K>(
        &mut self,
        kind: Kind,
        selector_role: Option<Role>,
        namespaces: &[Option<String>],
        api: fn(kube::Client, Option<&str>) -> Api<K>,
        wrap: fn(Event<K>) -> AnyEvent,
        slim: fn(&mut K),
    ) -> Store<K>
    where
        K: Resource<DynamicType = ()>
            + ResourceExt
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let mut wc = watcher::Config::default().any_semantic();
        if let Some(role) = selector_role {
            let (label, field) = self.cfg.selector_for(role);
            if let Some(l) = label {
                wc = wc.labels(l);
            }
            if let Some(f) = field {
                wc = wc.fields(f);
            }
        }
        for (slot, ns) in namespaces.iter().enumerate() {
            let api = api(self.client.clone(), ns.as_deref());
            let stream = self.next;
            self.next += 1;
            let s = watcher::watcher(api, wc.clone())
                .modify(slim)
                .default_backoff()
                .map(move |r| Ev {
                    kind,
                    slot,
                    stream,
                    event: r.map(wrap),
                });
            self.streams.push(s.boxed());
        }
        Store::new(namespaces.len())
    }
}

fn namespaced<K>(client: kube::Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

fn cluster<K: Resource<DynamicType = ()>>(client: kube::Client, _ns: Option<&str>) -> Api<K> {
    Api::all(client)
}

fn strip_managed<K: ResourceExt>(o: &mut K) {
    o.managed_fields_mut().clear();
}

/// The watch streams a role needs (Prometheus's informers) and their empty stores.
fn streams(
    cfg: &KubernetesSdConfig,
    client: &kube::Client,
    namespaces: &[Option<String>],
) -> (SelectAll<BoxStream<'static, Ev>>, Stores) {
    let mut b = Builder {
        client,
        cfg,
        streams: SelectAll::new(),
        next: 0,
    };
    let all = [None];
    let none: &[Option<String>] = &[];
    let role = cfg.role;
    let a = &cfg.attach_metadata;
    let uses = |k: Kind| match (role, k) {
        (Role::Pod, Kind::Pod) => true,
        (Role::Node, Kind::Node) => true,
        (Role::Service, Kind::Service) => true,
        (Role::Endpoints, Kind::Endpoints | Kind::Service | Kind::Pod) => true,
        (Role::EndpointSlice, Kind::EndpointSlice | Kind::Service | Kind::Pod) => true,
        (Role::Pod | Role::Endpoints | Role::EndpointSlice, Kind::Node) => a.node,
        (Role::Node, Kind::Namespace) => false,
        (_, Kind::Namespace) => a.namespace,
        _ => false,
    };
    let ns_for = |k: Kind| if uses(k) { namespaces } else { none };
    let pods = b.add(
        Kind::Pod,
        Some(Role::Pod),
        ns_for(Kind::Pod),
        namespaced,
        |e| AnyEvent::Pod(Box::new(e)),
        pod::slim,
    );
    let nodes = b.add(
        Kind::Node,
        Some(Role::Node),
        if uses(Kind::Node) { &all } else { none },
        cluster,
        |e| AnyEvent::Node(Box::new(e)),
        strip_managed,
    );
    let services = b.add(
        Kind::Service,
        Some(Role::Service),
        ns_for(Kind::Service),
        namespaced,
        |e| AnyEvent::Service(Box::new(e)),
        strip_managed,
    );
    let endpoints = b.add(
        Kind::Endpoints,
        Some(Role::Endpoints),
        ns_for(Kind::Endpoints),
        namespaced,
        |e| AnyEvent::Endpoints(Box::new(e)),
        strip_managed,
    );
    let slices = b.add(
        Kind::EndpointSlice,
        Some(Role::EndpointSlice),
        ns_for(Kind::EndpointSlice),
        namespaced,
        |e| AnyEvent::EndpointSlice(Box::new(e)),
        strip_managed,
    );
    let namespaces_store = b.add(
        Kind::Namespace,
        None,
        if uses(Kind::Namespace) { &all } else { none },
        cluster,
        |e| AnyEvent::Namespace(Box::new(e)),
        strip_managed,
    );
    let stores = Stores {
        pods,
        nodes,
        services,
        endpoints,
        slices,
        namespaces: namespaces_store,
    };
    (b.streams, stores)
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Pod => "pods",
        Kind::Node => "nodes",
        Kind::Service => "services",
        Kind::Endpoints => "endpoints",
        Kind::EndpointSlice => "endpointslices",
        Kind::Namespace => "namespaces",
    }
}

/// Applies one event to the state, logging watch errors on state changes only (the
/// watcher itself backs off and recovers).
fn handle(state: &mut State, failing: &mut [bool], role: Role, ev: Ev) {
    let was_failing = failing.get(ev.stream).copied().unwrap_or(false);
    let event = match ev.event {
        Ok(e) => {
            if was_failing {
                tracing::info!(
                    role = role.as_str(),
                    resource = kind_name(ev.kind),
                    "Kubernetes watch recovered"
                );
                if let Some(f) = failing.get_mut(ev.stream) {
                    *f = false;
                }
            }
            e
        }
        Err(e) => {
            let gone = matches!(&e, watcher::Error::WatchError(s) if s.code == 410);
            if gone {
                tracing::debug!(
                    role = role.as_str(),
                    resource = kind_name(ev.kind),
                    "Kubernetes watch expired, relisting"
                );
            } else if was_failing {
                tracing::debug!(role = role.as_str(), resource = kind_name(ev.kind), error = %error_chain(&e), "Kubernetes watch still failing");
            } else {
                tracing::warn!(role = role.as_str(), resource = kind_name(ev.kind), error = %error_chain(&e), "Kubernetes watch failed, retrying with backoff");
                if let Some(f) = failing.get_mut(ev.stream) {
                    *f = true;
                }
            }
            return;
        }
    };
    let mut keys = BTreeSet::new();
    let s = &mut state.stores;
    match event {
        AnyEvent::Pod(e) => s.pods.apply(ev.slot, *e, &mut keys),
        AnyEvent::Node(e) => s.nodes.apply(ev.slot, *e, &mut keys),
        AnyEvent::Service(e) => s.services.apply(ev.slot, *e, &mut keys),
        AnyEvent::Endpoints(e) => s.endpoints.apply(ev.slot, *e, &mut keys),
        AnyEvent::EndpointSlice(e) => s.slices.apply(ev.slot, *e, &mut keys),
        AnyEvent::Namespace(e) => s.namespaces.apply(ev.slot, *e, &mut keys),
    }
    state.changed(ev.kind, &keys);
}
