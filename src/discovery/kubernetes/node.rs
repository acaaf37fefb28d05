//! `role: node` (`prom:discovery/kubernetes/node.go`): one group per node (`node/<name>`)
//! with a single target at `<address>:<kubelet port>`, `instance` set to the node name, the
//! first address of each type as `__meta_kubernetes_node_address_<Type>`, and the node's
//! provider ID, conditions and label/annotation families as group labels.
//!
//! A node without any usable address produces no group (Prometheus logs and skips it).

use k8s_openapi::api::core::v1::Node;

use super::labels::{add_object_meta, join_host_port, sanitize, ADDRESS, INSTANCE, META};
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

/// The group source of a node.
pub fn source(name: &str) -> String {
    format!("node/{name}")
}

/// Address types in the order Prometheus picks the target address from.
const ADDRESS_PRIORITY: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// `buildNode`; None when the node has no address.
pub fn build(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    labels.set(
        &format!("{META}node_provider_id"),
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .unwrap_or(""),
    );
    add_object_meta(&mut labels, &node.metadata, "node");
    let status = node.status.as_ref();
    for c in status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
    {
        let n = sanitize(&c.type_.to_lowercase());
        labels.set(
            &format!("{META}node_condition_{n}"),
            &c.status.to_lowercase(),
        );
    }

    // The first address of each type, in the order the node lists them.
    let mut firsts: Vec<(&str, &str)> = Vec::new();
    for a in status
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        if !firsts.iter().any(|(t, _)| *t == a.type_) {
            firsts.push((&a.type_, &a.address));
        }
    }
    let addr = ADDRESS_PRIORITY
        .iter()
        .find_map(|t| firsts.iter().find(|(ty, _)| ty == t).map(|(_, a)| *a))?;
    let port = status
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|k| k.port)
        .unwrap_or(0);
    let mut t = Labels::new();
    t.set(ADDRESS, &join_host_port(addr, port));
    t.set(INSTANCE, name);
    for (ty, a) in firsts {
        t.set(&sanitize(&format!("{META}node_address_{ty}")), a);
    }
    Some(TargetGroup {
        source: source(name),
        targets: vec![t],
        labels,
    })
}
