//! The `__meta_kubernetes_*` label vocabulary shared by every role: label-name sanitising,
//! the object-metadata families (`<role>_name`, `_label_`, `_labelpresent_`, `_annotation_`,
//! `_annotationpresent_`), node and namespace metadata attachment, and Go's
//! `net.JoinHostPort`. Also the read-only view of the other informers' stores that the
//! group builders use.
//!
//! Values are written with [`Labels::set`], so an empty value means "no label", exactly as
//! Prometheus's `labels.Builder` later drops empty discovered labels.

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::relabel::Labels;

pub const ADDRESS: &str = "__address__";
pub const INSTANCE: &str = "instance";
pub const META: &str = "__meta_kubernetes_";
pub const NAMESPACE: &str = "__meta_kubernetes_namespace";

/// Prometheus `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `addObjectMetaLabels`: `<role>_name` plus the label and annotation families.
pub fn add_object_meta(ls: &mut Labels, meta: &ObjectMeta, role: &str) {
    let prefix = format!("{META}{role}");
    ls.set(
        &format!("{prefix}_name"),
        meta.name.as_deref().unwrap_or(""),
    );
    add_families(ls, meta, &prefix);
}

/// The label and annotation families only (namespace metadata omits the name, which
/// `__meta_kubernetes_namespace` already carries).
fn add_families(ls: &mut Labels, meta: &ObjectMeta, prefix: &str) {
    for (k, v) in meta.labels.iter().flatten() {
        let s = sanitize(k);
        ls.set(&format!("{prefix}_label_{s}"), v);
        ls.set(&format!("{prefix}_labelpresent_{s}"), "true");
    }
    for (k, v) in meta.annotations.iter().flatten() {
        let s = sanitize(k);
        ls.set(&format!("{prefix}_annotation_{s}"), v);
        ls.set(&format!("{prefix}_annotationpresent_{s}"), "true");
    }
}

/// Go's `net.JoinHostPort`: brackets hosts that contain a colon.
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The namespace/name store key used by every namespaced lookup.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// Read access to the objects the other informers of a role hold.
pub trait Lookup {
    fn pod(&self, namespace: &str, name: &str) -> Option<&Pod>;
    fn node(&self, name: &str) -> Option<&Node>;
    fn service(&self, namespace: &str, name: &str) -> Option<&Service>;
    fn namespace(&self, name: &str) -> Option<&Namespace>;
}

/// What a group builder can see: the other stores and which metadata to attach.
pub struct Ctx<'a> {
    pub lookup: &'a dyn Lookup,
    pub attach_node: bool,
    pub attach_namespace: bool,
}

impl Ctx<'_> {
    /// `addNodeLabels`: the node's name and label/annotation families, when attached and
    /// the node is known (unknown nodes add nothing).
    pub fn add_node_labels(&self, ls: &mut Labels, node_name: Option<&str>) {
        if !self.attach_node {
            return;
        }
        if let Some(node) = node_name.and_then(|n| self.lookup.node(n)) {
            add_object_meta(ls, &node.metadata, "node");
        }
    }

    /// `addNamespaceLabels`: the namespace's label/annotation families, when attached.
    pub fn add_namespace_labels(&self, ls: &mut Labels, namespace: &str) {
        if !self.attach_namespace {
            return;
        }
        if let Some(ns) = self.lookup.namespace(namespace) {
            add_families(ls, &ns.metadata, NAMESPACE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_every_non_word_character() {
        assert_eq!(sanitize("prometheus.io/scrape"), "prometheus_io_scrape");
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("a-b_c9"), "a_b_c9");
        assert_eq!(sanitize("é"), "_");
    }

    #[test]
    fn joins_like_go() {
        assert_eq!(join_host_port("127.0.0.1", 80), "127.0.0.1:80");
        assert_eq!(join_host_port("::1", 80), "[::1]:80");
        assert_eq!(join_host_port("svc.ns.svc", "443"), "svc.ns.svc:443");
    }
}
