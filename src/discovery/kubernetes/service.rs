//! `role: service` (`prom:discovery/kubernetes/service.go`): one group per service
//! (`svc/<ns>/<name>`) with one target per service port at `<svc>.<ns>.svc:<port>`.
//! The service group labels are reused by the endpoints roles.

use k8s_openapi::api::core::v1::Service;

use super::labels::{add_object_meta, join_host_port, Ctx, ADDRESS, META, NAMESPACE};
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

/// The group source of a service.
pub fn source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// `serviceLabels`: the namespace, the service name and its label/annotation families.
pub fn service_labels(svc: &Service) -> Labels {
    let mut ls = Labels::new();
    ls.set(NAMESPACE, svc.metadata.namespace.as_deref().unwrap_or(""));
    add_object_meta(&mut ls, &svc.metadata, "service");
    ls
}

/// `buildService`.
pub fn build(svc: &Service, ctx: &Ctx<'_>) -> TargetGroup {
    let ns = svc.metadata.namespace.as_deref().unwrap_or("");
    let name = svc.metadata.name.as_deref().unwrap_or("");
    let mut labels = service_labels(svc);
    ctx.add_namespace_labels(&mut labels, ns);
    let spec = svc.spec.as_ref();
    let type_ = spec.and_then(|s| s.type_.as_deref()).unwrap_or("");
    let p = |l: &str| format!("{META}service_{l}");
    let mut targets = Vec::new();
    for port in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let mut t = Labels::new();
        t.set(
            ADDRESS,
            &join_host_port(&format!("{name}.{ns}.svc"), port.port),
        );
        t.set(&p("port_name"), port.name.as_deref().unwrap_or(""));
        t.set(&p("port_number"), &port.port.to_string());
        t.set(&p("port_protocol"), port.protocol.as_deref().unwrap_or(""));
        t.set(&p("type"), type_);
        if type_ == "ExternalName" {
            t.set(
                &p("external_name"),
                spec.and_then(|s| s.external_name.as_deref()).unwrap_or(""),
            );
        } else {
            t.set(
                &p("cluster_ip"),
                spec.and_then(|s| s.cluster_ip.as_deref()).unwrap_or(""),
            );
        }
        if type_ == "LoadBalancer" {
            t.set(&p("loadbalancer_ip"), &load_balancer_ip(svc));
        }
        targets.push(t);
    }
    TargetGroup {
        source: source(ns, name),
        targets,
        labels,
    }
}

/// The ingress IPs of the load balancer, comma-joined, or else `spec.loadBalancerIP`.
fn load_balancer_ip(svc: &Service) -> String {
    let ips: Vec<&str> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref())
        .filter(|ip| !ip.is_empty())
        .collect();
    if ips.is_empty() {
        svc.spec
            .as_ref()
            .and_then(|s| s.load_balancer_ip.clone())
            .unwrap_or_default()
    } else {
        ips.join(",")
    }
}
