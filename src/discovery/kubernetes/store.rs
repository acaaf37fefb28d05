//! The discoverer's state: one object store per informer (a reflector per watch stream,
//! where each `Init`..`InitDone` relist is applied as one atomic swap whose implied
//! deletions are derived by diffing), and the target groups derived from them. A change of
//! any object marks the groups that depend on it dirty (a pod's node, an endpoints'
//! service and pods...), and only those are rebuilt.
//!
//! Not here: talking to the API server (see `mod.rs`), the label vocabulary (`labels.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;
use kube::ResourceExt;

use super::config::Role;
use super::labels::{key, Ctx, Lookup};
use super::{endpoints, endpointslice, node, pod, service};
use crate::discovery::TargetGroup;

/// The store key of an object: `namespace/name`, or `name` for cluster-scoped objects.
fn object_key<K: ResourceExt>(o: &K) -> String {
    match o.namespace() {
        Some(ns) => key(&ns, &o.name_any()),
        None => o.name_any(),
    }
}

/// One watch stream's reflector.
struct Slot<K> {
    live: HashMap<String, K>,
    /// Objects of a relist in progress (between `Init` and `InitDone`).
    relist: Option<HashMap<String, K>>,
    synced: bool,
}

/// The objects of one kind, one slot per watch stream (one per watched namespace).
pub struct Store<K> {
    slots: Vec<Slot<K>>,
}

impl<K: ResourceExt + Clone> Store<K> {
    pub fn new(streams: usize) -> Self {
        Self {
            slots: (0..streams)
                .map(|_| Slot {
                    live: HashMap::new(),
                    relist: None,
                    synced: false,
                })
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&K> {
        self.slots.iter().find_map(|s| s.live.get(key))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &K)> {
        self.slots.iter().flat_map(|s| s.live.iter())
    }

    /// Every stream has completed at least one list.
    pub fn synced(&self) -> bool {
        self.slots.iter().all(|s| s.synced)
    }

    /// Applies one watcher event of stream `slot`, adding the keys of changed objects.
    pub fn apply(&mut self, slot: usize, ev: Event<K>, changed: &mut BTreeSet<String>) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        match ev {
            Event::Apply(o) => {
                let k = object_key(&o);
                s.live.insert(k.clone(), o);
                changed.insert(k);
            }
            Event::Delete(o) => {
                let k = object_key(&o);
                s.live.remove(&k);
                changed.insert(k);
            }
            Event::Init => s.relist = Some(HashMap::new()),
            Event::InitApply(o) => {
                s.relist
                    .get_or_insert_with(HashMap::new)
                    .insert(object_key(&o), o);
            }
            Event::InitDone => {
                let new = s.relist.take().unwrap_or_default();
                for (k, old) in &s.live {
                    match new.get(k) {
                        Some(o) if o.resource_version() == old.resource_version() => {}
                        _ => {
                            changed.insert(k.clone());
                        }
                    }
                }
                for k in new.keys() {
                    if !s.live.contains_key(k) {
                        changed.insert(k.clone());
                    }
                }
                s.live = new;
                s.synced = true;
            }
        }
    }
}

/// Every informer's store a role may use.
pub struct Stores {
    pub pods: Store<Pod>,
    pub nodes: Store<Node>,
    pub services: Store<Service>,
    pub endpoints: Store<Endpoints>,
    pub slices: Store<EndpointSlice>,
    pub namespaces: Store<Namespace>,
}

impl Lookup for Stores {
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods.get(&key(namespace, name))
    }
    fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services.get(&key(namespace, name))
    }
    fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }
}

/// The kinds of object a watch stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Namespace,
}

/// Stores, derived groups, and which groups must be rebuilt.
pub struct State {
    pub role: Role,
    pub attach_node: bool,
    pub attach_namespace: bool,
    pub stores: Stores,
    groups: BTreeMap<String, TargetGroup>,
    /// Store keys of primary objects whose group must be rebuilt.
    dirty: BTreeSet<String>,
}

fn namespace_of(k: &str) -> &str {
    k.split_once('/').map(|(ns, _)| ns).unwrap_or("")
}

impl State {
    pub fn new(role: Role, attach_node: bool, attach_namespace: bool, stores: Stores) -> Self {
        Self {
            role,
            attach_node,
            attach_namespace,
            stores,
            groups: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// The kind whose objects become groups for this role.
    fn primary(&self) -> Kind {
        match self.role {
            Role::Pod => Kind::Pod,
            Role::Node => Kind::Node,
            Role::Service => Kind::Service,
            Role::Endpoints => Kind::Endpoints,
            Role::EndpointSlice | Role::Ingress => Kind::EndpointSlice,
        }
    }

    /// True when every store the role watches has synced once.
    pub fn synced(&self) -> bool {
        let s = &self.stores;
        s.pods.synced()
            && s.nodes.synced()
            && s.services.synced()
            && s.endpoints.synced()
            && s.slices.synced()
            && s.namespaces.synced()
    }

    /// Marks the groups depending on the changed objects of `kind` dirty.
    pub fn changed(&mut self, kind: Kind, keys: &BTreeSet<String>) {
        if keys.is_empty() {
            return;
        }
        let primary = self.primary();
        if kind == primary {
            self.dirty.extend(keys.iter().cloned());
            return;
        }
        let s = &self.stores;
        let mut dirty = Vec::new();
        match (primary, kind) {
            (_, Kind::Namespace) => {
                let in_ns = |k: &String| keys.contains(namespace_of(k));
                match primary {
                    Kind::Pod => dirty.extend(s.pods.iter().map(|(k, _)| k).filter(|k| in_ns(k))),
                    Kind::Service => {
                        dirty.extend(s.services.iter().map(|(k, _)| k).filter(|k| in_ns(k)))
                    }
                    Kind::Endpoints => {
                        dirty.extend(s.endpoints.iter().map(|(k, _)| k).filter(|k| in_ns(k)))
                    }
                    Kind::EndpointSlice => {
                        dirty.extend(s.slices.iter().map(|(k, _)| k).filter(|k| in_ns(k)))
                    }
                    _ => {}
                }
            }
            (Kind::Pod, Kind::Node) => {
                for (k, p) in s.pods.iter() {
                    let n = p.spec.as_ref().and_then(|s| s.node_name.as_deref());
                    if n.is_some_and(|n| keys.contains(n)) {
                        dirty.push(k);
                    }
                }
            }
            (Kind::Endpoints, Kind::Service) => dirty.extend(keys.iter()),
            (Kind::Endpoints, Kind::Pod | Kind::Node) => {
                for (k, e) in s.endpoints.iter() {
                    let addrs = e.subsets.iter().flatten().flat_map(|ss| {
                        ss.addresses
                            .iter()
                            .flatten()
                            .chain(ss.not_ready_addresses.iter().flatten())
                    });
                    let hit = addrs.into_iter().any(|a| {
                        let r = a.target_ref.as_ref();
                        let rk = r.and_then(|r| r.kind.as_deref());
                        let rn = r.and_then(|r| r.name.as_deref()).unwrap_or("");
                        let rns = r.and_then(|r| r.namespace.as_deref()).unwrap_or("");
                        match kind {
                            Kind::Pod => rk == Some("Pod") && keys.contains(&key(rns, rn)),
                            _ => {
                                a.node_name.as_ref().is_some_and(|n| keys.contains(n))
                                    || (rk == Some("Node") && keys.contains(rn))
                            }
                        }
                    });
                    if hit {
                        dirty.push(k);
                    }
                }
            }
            (Kind::EndpointSlice, Kind::Service) => {
                for (k, e) in s.slices.iter() {
                    let ns = namespace_of(k);
                    if endpointslice::service_name(e).is_some_and(|n| keys.contains(&key(ns, n))) {
                        dirty.push(k);
                    }
                }
            }
            (Kind::EndpointSlice, Kind::Pod | Kind::Node) => {
                for (k, e) in s.slices.iter() {
                    let hit = e.endpoints.iter().flatten().any(|ep| {
                        let r = ep.target_ref.as_ref();
                        let rk = r.and_then(|r| r.kind.as_deref());
                        let rn = r.and_then(|r| r.name.as_deref()).unwrap_or("");
                        let rns = r.and_then(|r| r.namespace.as_deref()).unwrap_or("");
                        match kind {
                            Kind::Pod => rk == Some("Pod") && keys.contains(&key(rns, rn)),
                            _ => {
                                ep.node_name.as_ref().is_some_and(|n| keys.contains(n))
                                    || (rk == Some("Node") && keys.contains(rn))
                            }
                        }
                    });
                    if hit {
                        dirty.push(k);
                    }
                }
            }
            _ => {}
        }
        let dirty: Vec<String> = dirty.into_iter().cloned().collect();
        self.dirty.extend(dirty);
    }

    /// Rebuilds the dirty groups; true when any group changed.
    pub fn rebuild(&mut self) -> bool {
        let ctx = Ctx {
            lookup: &self.stores,
            attach_node: self.attach_node,
            attach_namespace: self.attach_namespace,
        };
        let mut any = false;
        for k in std::mem::take(&mut self.dirty) {
            let (source, group) = match self.role {
                Role::Pod => (
                    format!("pod/{k}"),
                    self.stores.pods.get(&k).map(|p| pod::build(p, &ctx)),
                ),
                Role::Node => (
                    node::source(&k),
                    self.stores.nodes.get(&k).and_then(node::build),
                ),
                Role::Service => (
                    format!("svc/{k}"),
                    self.stores
                        .services
                        .get(&k)
                        .map(|s| service::build(s, &ctx)),
                ),
                Role::Endpoints => (
                    format!("endpoints/{k}"),
                    self.stores
                        .endpoints
                        .get(&k)
                        .map(|e| endpoints::build(e, &ctx)),
                ),
                Role::EndpointSlice | Role::Ingress => (
                    format!("endpointslice/{k}"),
                    self.stores
                        .slices
                        .get(&k)
                        .map(|e| endpointslice::build(e, &ctx)),
                ),
            };
            match group.filter(|g| !g.is_empty()) {
                Some(g) => {
                    if self.groups.get(&source) != Some(&g) {
                        self.groups.insert(source, g);
                        any = true;
                    }
                }
                None => any |= self.groups.remove(&source).is_some(),
            }
        }
        any
    }

    /// The full current state: every live group, sorted by source.
    pub fn snapshot(&self) -> Vec<TargetGroup> {
        self.groups.values().cloned().collect()
    }
}
