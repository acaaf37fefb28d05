//! `role: pod` (`prom:discovery/kubernetes/pod.go`): one group per pod (`pod/<ns>/<name>`),
//! one target per declared container port of every container and init container (init
//! containers last), and one port-less target (`__address__` = the bare pod IP, IPv6
//! bracketed) per container without ports. Pods without an IP yet produce no group.
//!
//! Also the pod pieces the endpoints roles reuse: the pod group labels, the container-port
//! labels of an endpoint port, and the extra targets for container ports no endpoint covers.
//! Deployment/job/cronjob names (`attach_metadata.deployment/job/cronjob`) are not produced.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod};

use super::labels::{add_object_meta, join_host_port, Ctx, ADDRESS, META, NAMESPACE};
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

pub const CONTAINER_NAME: &str = "__meta_kubernetes_pod_container_name";
pub const CONTAINER_ID: &str = "__meta_kubernetes_pod_container_id";
pub const CONTAINER_IMAGE: &str = "__meta_kubernetes_pod_container_image";
pub const CONTAINER_PORT_NAME: &str = "__meta_kubernetes_pod_container_port_name";
pub const CONTAINER_PORT_NUMBER: &str = "__meta_kubernetes_pod_container_port_number";
pub const CONTAINER_PORT_PROTOCOL: &str = "__meta_kubernetes_pod_container_port_protocol";
pub const CONTAINER_INIT: &str = "__meta_kubernetes_pod_container_init";

/// The group source of a pod.
pub fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

fn pod_ip(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or("")
}

/// Regular containers then init containers, each with its `is_init` flag.
pub fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    let regular = spec.into_iter().flat_map(|s| s.containers.iter());
    let init = spec
        .into_iter()
        .flat_map(|s| s.init_containers.iter().flatten());
    regular.map(|c| (c, false)).chain(init.map(|c| (c, true)))
}

/// `podLabels`: the labels every target of the pod shares (without the namespace).
pub fn pod_labels(pod: &Pod) -> Labels {
    let mut ls = Labels::new();
    let status = pod.status.as_ref();
    let p = |l: &str| format!("{META}pod_{l}");
    ls.set(&p("ip"), pod_ip(pod));
    ls.set(&p("ready"), &ready(pod));
    ls.set(
        &p("phase"),
        status.and_then(|s| s.phase.as_deref()).unwrap_or(""),
    );
    ls.set(
        &p("node_name"),
        pod.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or(""),
    );
    ls.set(
        &p("host_ip"),
        status.and_then(|s| s.host_ip.as_deref()).unwrap_or(""),
    );
    ls.set(&p("uid"), pod.metadata.uid.as_deref().unwrap_or(""));
    // The first IPv4 and the first IPv6 address of status.podIPs.
    let (mut v4, mut v6) = (false, false);
    for ip in status
        .and_then(|s| s.pod_ips.as_ref())
        .into_iter()
        .flatten()
    {
        if v4 && v6 {
            break;
        }
        match ip.ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) if !v4 => {
                ls.set(&p("ipv4"), &ip.ip);
                v4 = true;
            }
            Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_some() && !v4 => {
                ls.set(&p("ipv4"), &ip.ip);
                v4 = true;
            }
            Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() && !v6 => {
                ls.set(&p("ipv6"), &ip.ip);
                v6 = true;
            }
            _ => {}
        }
    }
    add_object_meta(&mut ls, &pod.metadata, "pod");
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(c) = controller {
        ls.set(&p("controller_kind"), &c.kind);
        ls.set(&p("controller_name"), &c.name);
    }
    ls
}

/// The lowercased status of the Ready condition, or `unknown`.
fn ready(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".into())
}

fn container_id(statuses: Option<&Vec<ContainerStatus>>, name: &str) -> String {
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

/// The bare pod IP as a port-less address: IPv6 bracketed (RFC 3986), IPv4 as is.
fn portless_address(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => format!("[{a}]"),
        _ => ip.to_string(),
    }
}

/// `buildPod`.
pub fn build(pod: &Pod, ctx: &Ctx<'_>) -> TargetGroup {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let mut tg = TargetGroup {
        source: source(ns, name),
        ..TargetGroup::default()
    };
    let ip = pod_ip(pod);
    if ip.is_empty() {
        return tg;
    }
    tg.labels = pod_labels(pod);
    tg.labels.set(NAMESPACE, ns);
    let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
    ctx.add_node_labels(&mut tg.labels, node);
    ctx.add_namespace_labels(&mut tg.labels, ns);

    let status = pod.status.as_ref();
    for (c, is_init) in containers(pod) {
        let statuses = status.and_then(|s| {
            if is_init {
                s.init_container_statuses.as_ref()
            } else {
                s.container_statuses.as_ref()
            }
        });
        let id = container_id(statuses, &c.name);
        let init = if is_init { "true" } else { "false" };
        let ports = c.ports.as_deref().unwrap_or(&[]);
        if ports.is_empty() {
            let mut t = Labels::new();
            t.set(ADDRESS, &portless_address(ip));
            t.set(CONTAINER_NAME, &c.name);
            t.set(CONTAINER_ID, &id);
            t.set(CONTAINER_IMAGE, c.image.as_deref().unwrap_or(""));
            t.set(CONTAINER_INIT, init);
            tg.targets.push(t);
            continue;
        }
        for port in ports {
            let mut t = Labels::new();
            t.set(ADDRESS, &join_host_port(ip, port.container_port));
            t.set(CONTAINER_NAME, &c.name);
            t.set(CONTAINER_ID, &id);
            t.set(CONTAINER_IMAGE, c.image.as_deref().unwrap_or(""));
            t.set(CONTAINER_PORT_NUMBER, &port.container_port.to_string());
            t.set(CONTAINER_PORT_NAME, port.name.as_deref().unwrap_or(""));
            t.set(
                CONTAINER_PORT_PROTOCOL,
                port.protocol.as_deref().unwrap_or(""),
            );
            t.set(CONTAINER_INIT, init);
            tg.targets.push(t);
        }
    }
    tg
}

/// Endpoint targets that resolved to a pod, in first-seen order, with the endpoint ports
/// each pod already has a target for.
#[derive(Default)]
pub struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<Option<i32>>)>,
}

impl<'a> SeenPods<'a> {
    /// Merges the pod's labels into an endpoint target and, when a container port equals
    /// the endpoint port, that container's labels; records the port as covered.
    pub fn merge(&mut self, target: &mut Labels, pod: &'a Pod, port: Option<i32>) {
        let same = |p: &Pod| {
            p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name
        };
        let idx = match self.pods.iter().position(|(p, _)| same(p)) {
            Some(i) => i,
            None => {
                self.pods.push((pod, Vec::new()));
                self.pods.len() - 1
            }
        };
        for (k, v) in pod_labels(pod).iter() {
            target.set(k, v);
        }
        if let Some(port) = port {
            // As Prometheus's loop: the last container declaring the port wins.
            let hit = containers(pod)
                .filter_map(|(c, init)| {
                    c.ports
                        .iter()
                        .flatten()
                        .find(|cp| cp.container_port == port)
                        .map(|cp| (c, cp, init))
                })
                .last();
            if let Some((c, cp, init)) = hit {
                target.set(CONTAINER_NAME, &c.name);
                target.set(CONTAINER_IMAGE, c.image.as_deref().unwrap_or(""));
                target.set(CONTAINER_PORT_NAME, cp.name.as_deref().unwrap_or(""));
                target.set(CONTAINER_PORT_NUMBER, &port.to_string());
                target.set(
                    CONTAINER_PORT_PROTOCOL,
                    cp.protocol.as_deref().unwrap_or(""),
                );
                target.set(CONTAINER_INIT, if init { "true" } else { "false" });
            }
        }
        if let Some((_, ports)) = self.pods.get_mut(idx) {
            ports.push(port);
        }
    }

    /// One target per container port of every seen pod that no endpoint port covered
    /// (pods without an IP are skipped).
    pub fn extra_targets(&self, out: &mut Vec<Labels>) {
        for (pod, covered) in &self.pods {
            let ip = pod_ip(pod);
            if ip.is_empty() {
                continue;
            }
            for (c, init) in containers(pod) {
                for cp in c.ports.iter().flatten() {
                    if covered.contains(&Some(cp.container_port)) {
                        continue;
                    }
                    let mut t = Labels::new();
                    t.set(ADDRESS, &join_host_port(ip, cp.container_port));
                    t.set(CONTAINER_NAME, &c.name);
                    t.set(CONTAINER_IMAGE, c.image.as_deref().unwrap_or(""));
                    t.set(CONTAINER_PORT_NAME, cp.name.as_deref().unwrap_or(""));
                    t.set(CONTAINER_PORT_NUMBER, &cp.container_port.to_string());
                    t.set(
                        CONTAINER_PORT_PROTOCOL,
                        cp.protocol.as_deref().unwrap_or(""),
                    );
                    t.set(CONTAINER_INIT, if init { "true" } else { "false" });
                    for (k, v) in pod_labels(pod).iter() {
                        t.set(k, v);
                    }
                    out.push(t);
                }
            }
        }
    }
}

/// Drops the parts of a pod no label uses (managed fields, env, probes, volumes...), so
/// the store stays small.
pub fn slim(pod: &mut Pod) {
    pod.metadata.managed_fields = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.volumes = None;
        spec.affinity = None;
        spec.tolerations = None;
        spec.ephemeral_containers = None;
        let all = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        for c in all {
            c.env = None;
            c.env_from = None;
            c.volume_mounts = None;
            c.command = None;
            c.args = None;
            c.resources = None;
            c.liveness_probe = None;
            c.readiness_probe = None;
            c.startup_probe = None;
            c.lifecycle = None;
            c.security_context = None;
        }
    }
    if let Some(status) = pod.status.as_mut() {
        status.ephemeral_container_statuses = None;
        status.resource_claim_statuses = None;
        for s in status
            .container_statuses
            .iter_mut()
            .chain(status.init_container_statuses.iter_mut())
            .flatten()
        {
            s.last_state = None;
            s.state = None;
            s.resources = None;
            s.volume_mounts = None;
            s.allocated_resources = None;
        }
    }
}
