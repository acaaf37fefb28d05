//! `role: endpoints` (`prom:discovery/kubernetes/endpoints.go`): one group per Endpoints
//! object (`endpoints/<ns>/<name>`) carrying the same-named service's labels; one target per
//! subset address x subset port (ready addresses first, then not-ready ones), merged with
//! the pod's labels when the address points at a known pod, plus one extra target per
//! container port of such pods that no endpoint port covers.

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};

use super::labels::{add_object_meta, join_host_port, Ctx, ADDRESS, META, NAMESPACE};
use super::pod::SeenPods;
use super::service::service_labels;
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

/// The group source of an Endpoints object.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// `buildEndpoints`.
pub fn build(eps: &Endpoints, ctx: &Ctx<'_>) -> TargetGroup {
    let ns = eps.metadata.namespace.as_deref().unwrap_or("");
    let name = eps.metadata.name.as_deref().unwrap_or("");
    let mut labels = Labels::new();
    labels.set(NAMESPACE, ns);
    if let Some(svc) = ctx.lookup.service(ns, name) {
        for (k, v) in service_labels(svc).iter() {
            labels.set(k, v);
        }
    }
    add_object_meta(&mut labels, &eps.metadata, "endpoints");
    ctx.add_namespace_labels(&mut labels, ns);

    let mut seen = SeenPods::default();
    let mut targets = Vec::new();
    for subset in eps.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            for addr in subset.addresses.iter().flatten() {
                targets.push(target(ctx, &mut seen, addr, port, "true"));
            }
            for addr in subset.not_ready_addresses.iter().flatten() {
                targets.push(target(ctx, &mut seen, addr, port, "false"));
            }
        }
    }
    seen.extra_targets(&mut targets);
    TargetGroup {
        source: source(ns, name),
        targets,
        labels,
    }
}

fn target<'a>(
    ctx: &Ctx<'a>,
    seen: &mut SeenPods<'a>,
    addr: &EndpointAddress,
    port: &EndpointPort,
    ready: &str,
) -> Labels {
    let p = |l: &str| format!("{META}endpoint_{l}");
    let mut t = Labels::new();
    t.set(ADDRESS, &join_host_port(&addr.ip, port.port));
    t.set(&p("port_name"), port.name.as_deref().unwrap_or(""));
    t.set(&p("port_protocol"), port.protocol.as_deref().unwrap_or(""));
    t.set(&p("ready"), ready);
    let target_ref = addr.target_ref.as_ref();
    if let Some(r) = target_ref {
        t.set(&p("address_target_kind"), r.kind.as_deref().unwrap_or(""));
        t.set(&p("address_target_name"), r.name.as_deref().unwrap_or(""));
    }
    if let Some(n) = &addr.node_name {
        t.set(&p("node_name"), n);
    }
    if let Some(h) = &addr.hostname {
        t.set(&p("hostname"), h);
    }
    let ref_kind = target_ref.and_then(|r| r.kind.as_deref());
    if addr.node_name.is_some() {
        ctx.add_node_labels(&mut t, addr.node_name.as_deref());
    } else if ref_kind == Some("Node") {
        ctx.add_node_labels(&mut t, target_ref.and_then(|r| r.name.as_deref()));
    }
    if ref_kind == Some("Pod") {
        let r = target_ref.map(|r| {
            (
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            )
        });
        if let Some(pod) = r.and_then(|(ns, n)| ctx.lookup.pod(ns, n)) {
            seen.merge(&mut t, pod, Some(port.port));
        }
    }
    t
}
