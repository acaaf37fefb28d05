//! Unit tests: config validation with Prometheus's messages, the label builders against
//! the JSON fixtures in `testdata/k8s/` (through the same stores the discoverer uses), the
//! stores' relist semantics, and role edge cases.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;
use serde_json::{json, Map, Value};

use super::config::{KubernetesSdConfig, Role};
use super::store::{Kind, State, Store, Stores};
use crate::discovery::TargetGroup;
use crate::relabel::Labels;

fn parse(yaml: &str) -> Result<KubernetesSdConfig, String> {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    KubernetesSdConfig::from_yaml(&v)
}

#[test]
fn config_validation_messages() {
    let cases: &[(&str, &str)] = &[
        ("api_server: http://x", "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"),
        ("role: pods", "unknown Kubernetes SD role \"pods\""),
        ("role: pod\napi_server: http://x\nkubeconfig_file: /k", "cannot use 'kubeconfig_file' and 'api_server' simultaneously"),
        ("role: pod\nkubeconfig_file: /k\nbearer_token: t", "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"),
        ("role: pod\ntls_config: {insecure_skip_verify: true}", "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"),
        ("role: pod\nfollow_redirects: false", "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"),
        ("role: pod\napi_server: http://x\nnamespaces: {own_namespace: true}", "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"),
        ("role: pod\nkubeconfig_file: /k\nnamespaces: {own_namespace: true}", "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"),
        ("role: pod\nselectors: [{role: pod, field: a=b}, {role: pod, label: c}]", "duplicated selector role: pod"),
        ("role: pod\nselectors: [{role: service}]", "pod role supports only pod, node selectors"),
        ("role: service\nselectors: [{role: pod}]", "service role supports only service selectors"),
        ("role: endpoints\nselectors: [{role: node}]", "endpoints role supports only pod, service, endpoints selectors"),
        ("role: endpointslice\nselectors: [{role: endpoints}]", "endpointslice role supports only pod, service, endpointslice selectors"),
        ("role: node\nselectors: [{role: pod}]", "node role supports only node selectors"),
        ("role: pod\nselectors: [{role: nope}]", "unknown Kubernetes SD role \"nope\""),
        ("role: pod\nselectors: [{role: pod, field: spec.nodeName}]", "invalid selector: 'spec.nodeName'; can't understand 'spec.nodeName'"),
        ("role: pod\nselectors: [{role: pod, label: 'app in web'}]", "unable to parse requirement: found '', expected: '('"),
        ("role: pod\nselectors: [{role: pod, label: 'a=b=c!'}]", "unable to parse requirement: invalid label value: \"b=c!\""),
        ("role: pod\nfoo: 1", "field foo not found in type kubernetes.plain"),
        ("role: pod\nselectors: [{role: pod, labels: x}]", "field labels not found in type kubernetes.SelectorConfig"),
        ("role: pod\nattach_metadata: {nodes: true}", "field nodes not found in type kubernetes.AttachMetadataConfig"),
        ("role: pod\napi_server: http://x\nbearer_token: a\nbearer_token_file: b", "at most one of bearer_token & bearer_token_file must be configured"),
        ("role: pod\napi_server: http://x\nbasic_auth: {username: u}\nbearer_token: a", "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
        ("role: pod\napi_server: http://x\nauthorization: {type: Basic, credentials: c}", "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"),
        ("role: pod\napi_server: http://x\nauthorization: {credentials: c}\nbearer_token: t", "authorization is not compatible with bearer_token & bearer_token_file"),
        ("role: pod\napi_server: http://x\ntls_config: {cert_file: /c}", "exactly one of key or key_file must be configured when a client certificate is configured"),
        ("role: pod\napi_server: http://x\nno_proxy: localhost", "if no_proxy is configured, proxy_url must also be configured"),
        ("role: pod\napi_server: http://x\nproxy_url: http://proxy:3128", "proxy_url, proxy_from_environment and proxy_connect_header: not supported by ferrocol's Kubernetes discovery"),
        ("role: ingress", "role \"ingress\" is not supported by ferrocol yet"),
    ];
    for (yaml, want) in cases {
        assert_eq!(parse(yaml).err().as_deref(), Some(*want), "{yaml}");
    }
}

#[test]
fn config_accepts_the_daemonset_idioms() {
    let c = parse(
        "role: pod\nselectors:\n  - role: pod\n    field: spec.nodeName=node-1\n    label: 'app in (a, b),!legacy,tier!=db'\n",
    )
    .expect("valid");
    assert_eq!(c.role, Role::Pod);
    assert_eq!(
        c.selector_for(Role::Pod),
        (
            Some("app in (a, b),!legacy,tier!=db"),
            Some("spec.nodeName=node-1")
        )
    );
    assert_eq!(c.selector_for(Role::Node), (None, None));
    assert!(c.api_server.is_none() && c.kubeconfig_file.is_none());

    let c = parse(
        "role: endpointslice\napi_server: https://k8s:6443\nbearer_token_file: /var/run/token\ntls_config: {ca_file: /ca.crt}\nnamespaces: {names: [a, b]}\nattach_metadata: {node: true, namespace: null}\n",
    )
    .expect("valid");
    let auth = c
        .http
        .authorization
        .as_ref()
        .expect("bearer folded into authorization");
    assert_eq!(
        (auth.type_.as_str(), auth.credentials_file.as_str()),
        ("Bearer", "/var/run/token")
    );
    assert!(c.http.bearer_token_file.is_empty());
    assert_eq!(c.namespaces.names, ["a", "b"]);
    assert!(c.attach_metadata.node && !c.attach_metadata.namespace);
    // Explicit defaults are not "custom" HTTP options.
    assert!(parse("role: node\nfollow_redirects: true\nenable_http2: true").is_ok());
    assert!(parse("role: node\nnamespaces: null\nselectors: null").is_ok());
}

fn stores() -> Stores {
    Stores {
        pods: Store::new(1),
        nodes: Store::new(1),
        services: Store::new(1),
        endpoints: Store::new(1),
        slices: Store::new(1),
        namespaces: Store::new(1),
    }
}

/// Lists `objects` into a fresh state as one relist per kind, and returns its groups.
fn discover(role: Role, attach_node: bool, attach_ns: bool, objects: &[Value]) -> Vec<TargetGroup> {
    let mut st = State::new(role, attach_node, attach_ns, stores());
    fn list<K: kube::ResourceExt + Clone + serde::de::DeserializeOwned>(
        store: &mut Store<K>,
        objs: &[&Value],
    ) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        store.apply(0, Event::Init, &mut keys);
        for o in objs {
            let k: K = serde_json::from_value((*o).clone()).expect("fixture object");
            store.apply(0, Event::InitApply(k), &mut keys);
        }
        store.apply(0, Event::InitDone, &mut keys);
        keys
    }
    let of = |kind: &str| {
        objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .collect::<Vec<_>>()
    };
    let s = &mut st.stores;
    let changes = [
        (
            Kind::Namespace,
            list::<Namespace>(&mut s.namespaces, &of("Namespace")),
        ),
        (Kind::Node, list::<Node>(&mut s.nodes, &of("Node"))),
        (Kind::Pod, list::<Pod>(&mut s.pods, &of("Pod"))),
        (
            Kind::Service,
            list::<Service>(&mut s.services, &of("Service")),
        ),
        (
            Kind::Endpoints,
            list::<Endpoints>(&mut s.endpoints, &of("Endpoints")),
        ),
        (
            Kind::EndpointSlice,
            list::<EndpointSlice>(&mut s.slices, &of("EndpointSlice")),
        ),
    ];
    for (kind, keys) in &changes {
        st.changed(*kind, keys);
    }
    assert!(st.synced());
    st.rebuild();
    st.snapshot()
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

fn groups_json(groups: &[TargetGroup]) -> Value {
    Value::Array(
        groups
            .iter()
            .map(|g| {
                json!({"source": g.source, "labels": labels_json(&g.labels),
                       "targets": g.targets.iter().map(labels_json).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

fn fixture(text: &str) -> (Vec<Value>, Value) {
    let f: Value = serde_json::from_str(text).expect("fixture json");
    (
        f["objects"].as_array().cloned().unwrap_or_default(),
        f["expected"].clone(),
    )
}

#[test]
fn pod_role_labels_match_the_fixture() {
    let (objects, expected) = fixture(include_str!("../../../testdata/k8s/node_agent.json"));
    // The fixture's expectation is for a `spec.nodeName=node-a` field selector.
    let on_a: Vec<Value> = objects
        .into_iter()
        .filter(|o| o["kind"] != "Pod" || o["spec"]["nodeName"] == "node-a")
        .collect();
    let groups = discover(Role::Pod, false, false, &on_a);
    assert_eq!(groups_json(&groups), expected, "{:#}", groups_json(&groups));
}

#[test]
fn endpoints_role_labels_match_the_fixture() {
    let (objects, expected) = fixture(include_str!("../../../testdata/k8s/endpoints.json"));
    let groups = discover(Role::Endpoints, true, false, &objects);
    assert_eq!(groups_json(&groups), expected, "{:#}", groups_json(&groups));
}

#[test]
fn endpointslice_role_labels_match_the_fixture() {
    let (objects, expected) = fixture(include_str!("../../../testdata/k8s/endpointslice.json"));
    let groups = discover(Role::EndpointSlice, true, false, &objects);
    assert_eq!(groups_json(&groups), expected, "{:#}", groups_json(&groups));
}

#[test]
fn endpointslice_of_the_secondary_ip_family_is_skipped() {
    let (mut objects, _) = fixture(include_str!("../../../testdata/k8s/endpointslice.json"));
    for o in objects.iter_mut().filter(|o| o["kind"] == "Service") {
        o["spec"]["ipFamilies"] = json!(["IPv6", "IPv4"]);
    }
    assert!(discover(Role::EndpointSlice, false, false, &objects).is_empty());
}

fn node_obj(addresses: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
           "status": {"addresses": addresses}})
}

#[test]
fn node_address_priority_and_missing_addresses() {
    let g = discover(
        Role::Node,
        false,
        false,
        &[node_obj(json!([{"type": "Hostname", "address": "n1"},
                          {"type": "ExternalIP", "address": "127.0.0.9"},
                          {"type": "InternalDNS", "address": "n1.internal"},
                          {"type": "ExternalIP", "address": "127.0.0.10"}]))],
    );
    let t = &g[0].targets[0];
    assert_eq!(
        t.get("__address__"),
        "n1.internal:0",
        "InternalDNS wins; no kubelet port = 0"
    );
    assert_eq!(
        t.get("__meta_kubernetes_node_address_ExternalIP"),
        "127.0.0.9"
    );
    assert_eq!(t.get("instance"), "n1");
    // An empty Kubernetes label: only its `labelpresent` survives (empty labels are absent).
    let l = &g[0].labels;
    assert_eq!(
        l.get("__meta_kubernetes_node_labelpresent_node_role_kubernetes_io_control_plane"),
        "true"
    );
    assert!(!l.contains("__meta_kubernetes_node_label_node_role_kubernetes_io_control_plane"));
    assert!(discover(Role::Node, false, false, &[node_obj(json!([]))]).is_empty());
}

#[test]
fn load_balancer_service_labels() {
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "lb", "namespace": "ns"},
        "spec": {"type": "LoadBalancer", "clusterIP": "127.0.9.2", "loadBalancerIP": "127.0.9.3",
                 "ports": [{"port": 443}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.9.4"}, {"hostname": "h"}, {"ip": "127.0.9.5"}]}}});
    let g = discover(Role::Service, false, false, &[svc]);
    let t = &g[0].targets[0];
    assert_eq!(t.get("__address__"), "lb.ns.svc:443");
    assert_eq!(
        t.get("__meta_kubernetes_service_loadbalancer_ip"),
        "127.0.9.4,127.0.9.5"
    );
    assert!(!t.contains("__meta_kubernetes_service_port_name"));
    assert!(!t.contains("__meta_kubernetes_service_port_protocol"));
}

fn pod_obj(name: &str, rv: &str, ip: Option<&str>) -> Pod {
    let mut v = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"containers": [{"name": "c"}]}, "status": {}});
    if let Some(ip) = ip {
        v["status"]["podIP"] = json!(ip);
    }
    serde_json::from_value(v).expect("pod")
}

#[test]
fn relist_is_an_atomic_swap_with_implied_deletions() {
    let mut store: Store<Pod> = Store::new(2);
    let mut keys = BTreeSet::new();
    for ev in [
        Event::Init,
        Event::InitApply(pod_obj("a", "1", None)),
        Event::InitApply(pod_obj("b", "1", None)),
        Event::InitDone,
    ] {
        store.apply(0, ev, &mut keys);
    }
    assert_eq!(keys.iter().collect::<Vec<_>>(), ["ns/a", "ns/b"]);
    assert!(!store.synced(), "the second stream has not listed yet");
    store.apply(1, Event::Init, &mut keys);
    store.apply(1, Event::InitDone, &mut keys);
    assert!(store.synced());

    // A relist: a unchanged, b gone, c new. Nothing changes before InitDone.
    keys.clear();
    store.apply(0, Event::Init, &mut keys);
    store.apply(0, Event::InitApply(pod_obj("a", "1", None)), &mut keys);
    store.apply(0, Event::InitApply(pod_obj("c", "2", None)), &mut keys);
    assert!(keys.is_empty() && store.get("ns/b").is_some());
    store.apply(0, Event::InitDone, &mut keys);
    assert_eq!(keys.iter().collect::<Vec<_>>(), ["ns/b", "ns/c"]);
    assert!(store.get("ns/b").is_none() && store.get("ns/c").is_some());

    keys.clear();
    store.apply(0, Event::Delete(pod_obj("a", "3", None)), &mut keys);
    store.apply(0, Event::Apply(pod_obj("d", "4", None)), &mut keys);
    assert_eq!(keys.iter().collect::<Vec<_>>(), ["ns/a", "ns/d"]);
    assert_eq!(store.iter().count(), 2);
}

#[test]
fn pod_without_ip_has_no_group_and_mapped_ipv4_is_not_bracketed() {
    let mut st = State::new(Role::Pod, false, false, stores());
    let mut keys = BTreeSet::new();
    st.stores.nodes.apply(0, Event::InitDone, &mut keys);
    st.stores.services.apply(0, Event::InitDone, &mut keys);
    st.stores.endpoints.apply(0, Event::InitDone, &mut keys);
    st.stores.slices.apply(0, Event::InitDone, &mut keys);
    st.stores.namespaces.apply(0, Event::InitDone, &mut keys);
    st.stores.pods.apply(0, Event::InitDone, &mut keys);
    st.stores
        .pods
        .apply(0, Event::Apply(pod_obj("p", "1", None)), &mut keys);
    st.changed(Kind::Pod, &keys);
    assert!(!st.rebuild() && st.snapshot().is_empty());

    keys.clear();
    st.stores.pods.apply(
        0,
        Event::Apply(pod_obj("p", "2", Some("::ffff:127.0.0.1"))),
        &mut keys,
    );
    st.changed(Kind::Pod, &keys);
    assert!(st.rebuild());
    let g = st.snapshot();
    assert_eq!(g[0].targets[0].get("__address__"), "::ffff:127.0.0.1");
    assert_eq!(g[0].source, "pod/ns/p");
}
