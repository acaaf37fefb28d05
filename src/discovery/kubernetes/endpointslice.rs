//! `role: endpointslice` (`prom:discovery/kubernetes/endpointslice.go`, discovery.k8s.io/v1):
//! one group per slice (`endpointslice/<ns>/<name>`) carrying the labels of the service
//! named by its `kubernetes.io/service-name` label; one target per endpoint address x slice
//! port (bare address when the port is unset), pod and container labels merged as for
//! `role: endpoints`, plus extra targets for uncovered container ports. Slices of the
//! non-primary IP family of a dual-stack service are skipped (Prometheus >= 3.11).
//! The v1beta1 API is not supported.

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::labels::{add_object_meta, join_host_port, sanitize, Ctx, ADDRESS, META, NAMESPACE};
use super::pod::SeenPods;
use super::service::service_labels;
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

/// The label every EndpointSlice carries naming its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The group source of an EndpointSlice.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

/// The name of the slice's service, from its `kubernetes.io/service-name` label.
pub fn service_name(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
}

/// `buildEndpointSlice`.
pub fn build(slice: &EndpointSlice, ctx: &Ctx<'_>) -> TargetGroup {
    let ns = slice.metadata.namespace.as_deref().unwrap_or("");
    let name = slice.metadata.name.as_deref().unwrap_or("");
    let mut tg = TargetGroup {
        source: source(ns, name),
        ..TargetGroup::default()
    };
    let svc = service_name(slice).and_then(|n| ctx.lookup.service(ns, n));
    let families = svc
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.ip_families.as_deref())
        .unwrap_or(&[]);
    if families.len() > 1 && families[0] != slice.address_type {
        return tg;
    }
    tg.labels.set(NAMESPACE, ns);
    tg.labels.set(
        &format!("{META}endpointslice_address_type"),
        &slice.address_type,
    );
    add_object_meta(&mut tg.labels, &slice.metadata, "endpointslice");
    if let Some(svc) = svc {
        for (k, v) in service_labels(svc).iter() {
            tg.labels.set(k, v);
        }
    }
    ctx.add_namespace_labels(&mut tg.labels, ns);

    let mut seen = SeenPods::default();
    let ports = slice.ports.as_deref().unwrap_or(&[]);
    for ep in slice.endpoints.iter().flatten() {
        for port in ports {
            for addr in &ep.addresses {
                tg.targets.push(target(ctx, &mut seen, addr, ep, port));
            }
        }
    }
    seen.extra_targets(&mut tg.targets);
    tg
}

fn target<'a>(
    ctx: &Ctx<'a>,
    seen: &mut SeenPods<'a>,
    addr: &str,
    ep: &Endpoint,
    port: &EndpointPort,
) -> Labels {
    let p = |l: &str| format!("{META}endpointslice_{l}");
    let mut t = Labels::new();
    match port.port {
        Some(n) => t.set(ADDRESS, &join_host_port(addr, n)),
        None => t.set(ADDRESS, addr),
    }
    if let Some(n) = &port.name {
        t.set(&p("port_name"), n);
    }
    if let Some(n) = &port.protocol {
        t.set(&p("port_protocol"), n);
    }
    if let Some(n) = port.port {
        t.set(&p("port"), &n.to_string());
    }
    if let Some(n) = &port.app_protocol {
        t.set(&p("port_app_protocol"), n);
    }
    let conds = ep.conditions.as_ref();
    let flag = |b: Option<bool>| b.map(|b| if b { "true" } else { "false" });
    if let Some(v) = flag(conds.and_then(|c| c.ready)) {
        t.set(&p("endpoint_conditions_ready"), v);
    }
    if let Some(v) = flag(conds.and_then(|c| c.serving)) {
        t.set(&p("endpoint_conditions_serving"), v);
    }
    if let Some(v) = flag(conds.and_then(|c| c.terminating)) {
        t.set(&p("endpoint_conditions_terminating"), v);
    }
    if let Some(h) = &ep.hostname {
        t.set(&p("endpoint_hostname"), h);
    }
    let target_ref = ep.target_ref.as_ref();
    if let Some(r) = target_ref {
        t.set(&p("address_target_kind"), r.kind.as_deref().unwrap_or(""));
        t.set(&p("address_target_name"), r.name.as_deref().unwrap_or(""));
    }
    if let Some(n) = &ep.node_name {
        t.set(&p("endpoint_node_name"), n);
    }
    if let Some(z) = &ep.zone {
        t.set(&p("endpoint_zone"), z);
    }
    for (k, v) in ep.deprecated_topology.iter().flatten() {
        let s = sanitize(k);
        t.set(&p(&format!("endpoint_topology_{s}")), v);
        t.set(&p(&format!("endpoint_topology_present_{s}")), "true");
    }
    let ref_kind = target_ref.and_then(|r| r.kind.as_deref());
    if ref_kind == Some("Node") {
        ctx.add_node_labels(&mut t, target_ref.and_then(|r| r.name.as_deref()));
    } else {
        ctx.add_node_labels(&mut t, ep.node_name.as_deref());
    }
    if ref_kind == Some("Pod") {
        let r = target_ref.map(|r| {
            (
                r.namespace.as_deref().unwrap_or(""),
                r.name.as_deref().unwrap_or(""),
            )
        });
        if let Some(pod) = r.and_then(|(ns, n)| ctx.lookup.pod(ns, n)) {
            seen.merge(&mut t, pod, port.port);
        }
    }
    t
}
