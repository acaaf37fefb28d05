//! Kubernetes service discovery against the in-process fake API server, over real loopback
//! sockets, as named scenarios: the node-agent case with exact label sets, runtime changes,
//! watch expiry (410) and relist, the API server going away and coming back, and each role.

mod support;

use std::time::Duration;

use ferrocol::discovery::kubernetes::{KubernetesDiscovery, KubernetesSdConfig};
use ferrocol::discovery::TargetGroup;
use serde_json::{json, Map, Value};
use support::fake_apiserver::{FakeApiServer, Mutation};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long any state change may take to show up.
const WAIT: Duration = Duration::from_secs(20);

fn fixture(name: &str) -> Value {
    let path = format!("{}/testdata/k8s/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

fn config(yaml: &str) -> KubernetesSdConfig {
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    KubernetesSdConfig::from_yaml(&v).expect("valid config")
}

struct Sd {
    rx: watch::Receiver<Vec<TargetGroup>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Sd {
    fn start(cfg: KubernetesSdConfig) -> Sd {
        let (tx, rx) = watch::channel(Vec::new());
        let stop = CancellationToken::new();
        let task = tokio::spawn(KubernetesDiscovery::new(cfg).run(tx, stop.clone()));
        Sd { rx, stop, task }
    }

    /// Waits until the published state satisfies `pred`; panics with the last state.
    async fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&[TargetGroup]) -> bool,
    ) -> Vec<TargetGroup> {
        let end = tokio::time::Instant::now() + WAIT;
        loop {
            {
                let cur = self.rx.borrow_and_update();
                if pred(&cur) {
                    return cur.clone();
                }
            }
            if tokio::time::timeout_at(end, self.rx.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out waiting for {what}; last state: {:#}",
                    groups_json(&self.rx.borrow())
                );
            }
        }
    }

    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("discovery stops promptly after cancellation")
            .expect("discovery task");
    }
}

fn labels_json(l: &ferrocol::relabel::Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

/// Groups as JSON: `[{source, labels, targets}]`, in published order.
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

fn sources(groups: &[TargetGroup]) -> Vec<&str> {
    groups.iter().map(|g| g.source.as_str()).collect()
}

/// Every target address, sorted.
fn addresses(groups: &[TargetGroup]) -> Vec<String> {
    let mut a: Vec<String> = groups
        .iter()
        .flat_map(|g| g.targets.iter().map(|t| t.get("__address__").to_string()))
        .collect();
    a.sort();
    a
}

fn find<'a>(objects: &'a Value, kind: &str, name: &str) -> &'a Value {
    objects
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        })
        .expect("fixture object")
}

async fn server_with(objects: &Value) -> FakeApiServer {
    let server = FakeApiServer::start().await;
    server.apply(objects.as_array().cloned().unwrap_or_default());
    server
}

fn node_agent_config(url: &str) -> KubernetesSdConfig {
    config(&format!(
        "role: pod\napi_server: {url}\nselectors:\n  - role: pod\n    field: spec.nodeName=node-a\n"
    ))
}

#[tokio::test]
async fn node_agent_sees_exactly_its_own_pods() {
    let f = fixture("node_agent.json");
    let server = server_with(&f["objects"]).await;
    let mut sd = Sd::start(node_agent_config(&server.url()));
    let state = sd.until("the initial pod list", |g| !g.is_empty()).await;
    assert_eq!(
        groups_json(&state),
        f["expected"],
        "{:#}",
        groups_json(&state)
    );

    // The watch starts right after the list that produced the state.
    support::wait_for(WAIT, || {
        server.requests().iter().any(|r| r.watch).then_some(())
    })
    .await;
    let pod_requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/pods")
        .collect();
    assert!(pod_requests.iter().any(|r| !r.watch), "a LIST of pods");
    assert!(pod_requests.iter().any(|r| r.watch), "a WATCH of pods");
    for r in &pod_requests {
        assert_eq!(
            r.param("fieldSelector"),
            Some("spec.nodeName=node-a"),
            "{r:?}"
        );
        assert_eq!(r.param("labelSelector"), None, "{r:?}");
    }
    let watch = pod_requests.iter().find(|r| r.watch).expect("watch");
    assert_eq!(watch.param("allowWatchBookmarks"), Some("true"));
    assert!(watch.param("resourceVersion").is_some_and(|v| v != "0"));
    // Nothing but pods is needed for role pod without attached metadata.
    assert!(server.requests().iter().all(|r| r.path == "/api/v1/pods"));
    sd.shutdown().await;
}

fn simple_pod(ns: &str, name: &str, node: &str, ip: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                        "labels": {"app": name}},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "img:1",
                    "ports": [{"containerPort": port, "protocol": "TCP"}]}]},
           "status": {"phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
                      "conditions": [{"type": "Ready", "status": "True"}]}})
}

#[tokio::test]
async fn pods_added_changed_and_deleted_at_runtime() {
    let server = FakeApiServer::start().await;
    server.add(simple_pod("default", "a", "node-a", "127.0.3.1", 8080));
    let mut sd = Sd::start(node_agent_config(&server.url()));
    sd.until("pod a", |g| sources(g) == ["pod/default/a"]).await;

    // Added on this node, and on another node (filtered by the API server).
    server.add(simple_pod("default", "b", "node-a", "127.0.3.2", 8080));
    server.add(simple_pod(
        "default",
        "elsewhere",
        "node-b",
        "127.0.4.1",
        8080,
    ));
    sd.until("pod b", |g| {
        sources(g) == ["pod/default/a", "pod/default/b"]
    })
    .await;

    // Changed: new port and readiness.
    let mut b = simple_pod("default", "b", "node-a", "127.0.3.2", 9090);
    b["status"]["conditions"][0]["status"] = json!("False");
    server.update(b);
    let state = sd
        .until("pod b changed", |g| {
            addresses(g) == ["127.0.3.1:8080", "127.0.3.2:9090"]
        })
        .await;
    assert_eq!(state[1].labels.get("__meta_kubernetes_pod_ready"), "false");

    // Moved to another node: leaves the field selector, so it is gone.
    server.update(simple_pod("default", "a", "node-b", "127.0.3.1", 8080));
    sd.until("pod a moved away", |g| sources(g) == ["pod/default/b"])
        .await;

    // Deleted.
    server.delete(&simple_pod("default", "b", "node-a", "", 0));
    sd.until("no pods", |g| g.is_empty()).await;
    sd.shutdown().await;
}

#[tokio::test]
async fn watch_expiry_relists_without_losing_or_duplicating_targets() {
    let server = FakeApiServer::start().await;
    server.apply([
        simple_pod("default", "keep", "node-a", "127.0.5.1", 8080),
        simple_pod("default", "gone", "node-a", "127.0.5.2", 8080),
    ]);
    let mut sd = Sd::start(node_agent_config(&server.url()));
    sd.until("two pods", |g| g.len() == 2).await;
    let lists_before = server.requests().iter().filter(|r| !r.watch).count();

    // The watch history is compacted past changes the watcher never saw: it gets 410 Gone
    // and must relist; the deleted pod must disappear and the new one appear, once.
    server.compact_with(vec![
        Mutation::Delete(simple_pod("default", "gone", "node-a", "", 0)),
        Mutation::Apply(simple_pod("default", "new", "node-a", "127.0.5.3", 8080)),
        Mutation::Apply(simple_pod("default", "keep", "node-a", "127.0.5.1", 9090)),
    ]);
    let state = sd
        .until("the relisted state", |g| {
            sources(g) == ["pod/default/keep", "pod/default/new"]
                && addresses(g) == ["127.0.5.1:9090", "127.0.5.3:8080"]
        })
        .await;
    assert!(
        state.iter().all(|g| g.targets.len() == 1),
        "no duplicated targets"
    );
    assert!(
        server.requests().iter().filter(|r| !r.watch).count() > lists_before,
        "relisted"
    );

    // And the new watch carries on.
    server.add(simple_pod("default", "later", "node-a", "127.0.5.4", 8080));
    sd.until("a pod after the relist", |g| g.len() == 3).await;
    sd.shutdown().await;
}

#[tokio::test]
async fn old_resource_version_watch_gets_410_and_relists() {
    let server = FakeApiServer::start().await;
    server.add(simple_pod("default", "p", "node-a", "127.0.6.1", 8080));
    // Every watch start is older than the compaction point until it moves.
    let mut sd = Sd::start(node_agent_config(&server.url()));
    sd.until("pod p", |g| g.len() == 1).await;
    server.set_compaction(server.current_rv() + 1000);
    server.add(simple_pod("default", "q", "node-a", "127.0.6.2", 8080));
    // Watches fail with 410 and relists keep the state right.
    sd.until("pod q via relist", |g| g.len() == 2).await;
    sd.shutdown().await;
}

#[tokio::test]
async fn discovery_survives_the_api_server_going_down() {
    let server = FakeApiServer::start().await;
    server.add(simple_pod("default", "a", "node-a", "127.0.7.1", 8080));
    let mut sd = Sd::start(node_agent_config(&server.url()));
    sd.until("pod a", |g| g.len() == 1).await;

    server.stop().await;
    // Changes while the server is down are picked up once it is back.
    server.add(simple_pod("default", "b", "node-a", "127.0.7.2", 8080));
    server.delete(&simple_pod("default", "a", "node-a", "", 0));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!sd.task.is_finished(), "discovery never ends on errors");
    assert_eq!(
        sources(&sd.rx.borrow()),
        ["pod/default/a"],
        "last good state kept"
    );

    server.restart().await;
    sd.until("recovered state", |g| sources(g) == ["pod/default/b"])
        .await;
    server.add(simple_pod("default", "c", "node-a", "127.0.7.3", 8080));
    sd.until("watching again", |g| g.len() == 2).await;
    sd.shutdown().await;
}

#[tokio::test]
async fn starts_before_the_api_server_is_reachable() {
    let server = FakeApiServer::start().await;
    server.add(simple_pod("default", "a", "node-a", "127.0.8.1", 8080));
    server.stop().await;
    let mut sd = Sd::start(node_agent_config(&server.url()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        sd.rx.borrow().is_empty(),
        "nothing published before the first sync"
    );
    server.restart().await;
    sd.until("pod a", |g| g.len() == 1).await;
    sd.shutdown().await;
}

#[tokio::test]
async fn node_role() {
    let f = fixture("node_agent.json");
    let server = server_with(&f["objects"]).await;
    let cfg = config(&format!(
        "role: node\napi_server: {}\nselectors:\n  - role: node\n    label: kubernetes.io/os=linux\n",
        server.url()
    ));
    let mut sd = Sd::start(cfg);
    let state = sd.until("two nodes", |g| g.len() == 2).await;
    assert_eq!(
        groups_json(&state[..1]),
        json!([{"source": "node/node-a",
            "labels": {
                "__meta_kubernetes_node_annotation_node_alpha_kubernetes_io_ttl": "0",
                "__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl": "true",
                "__meta_kubernetes_node_condition_memorypressure": "false",
                "__meta_kubernetes_node_condition_ready": "true",
                "__meta_kubernetes_node_label_kubernetes_io_hostname": "node-a",
                "__meta_kubernetes_node_label_kubernetes_io_os": "linux",
                "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname": "true",
                "__meta_kubernetes_node_labelpresent_kubernetes_io_os": "true",
                "__meta_kubernetes_node_name": "node-a",
                "__meta_kubernetes_node_provider_id": "kind://docker/kind/node-a"},
            "targets": [{
                "__address__": "127.0.0.1:10250",
                "__meta_kubernetes_node_address_Hostname": "node-a",
                "__meta_kubernetes_node_address_InternalIP": "127.0.0.1",
                "instance": "node-a"}]}])
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.path == "/api/v1/nodes"
            && r.param("labelSelector") == Some("kubernetes.io/os=linux")));
    let mut b = find(&f["objects"], "Node", "node-b").clone();
    b["metadata"]["labels"]["kubernetes.io/os"] = json!("windows");
    server.update(b);
    sd.until("node-b left the selector", |g| {
        sources(g) == ["node/node-a"]
    })
    .await;
    sd.shutdown().await;
}

fn service(ns: &str, name: &str, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": name},
                        "annotations": {"prometheus.io/probe": "true"}},
           "spec": {"type": "ClusterIP", "clusterIP": "127.0.9.1", "ports": ports}})
}

#[tokio::test]
async fn service_role() {
    let server = FakeApiServer::start().await;
    server.add(service(
        "default",
        "web",
        json!([{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
               {"name": "metrics", "port": 9113, "protocol": "TCP"}]),
    ));
    server.add(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ext", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "example.invalid",
                 "ports": [{"port": 443, "protocol": "TCP"}]}}));
    let cfg = config(&format!("role: service\napi_server: {}\n", server.url()));
    let mut sd = Sd::start(cfg);
    let state = sd.until("two services", |g| g.len() == 2).await;
    assert_eq!(
        groups_json(&state),
        json!([
            {"source": "svc/default/ext",
             "labels": {"__meta_kubernetes_namespace": "default", "__meta_kubernetes_service_name": "ext"},
             "targets": [{"__address__": "ext.default.svc:443",
                          "__meta_kubernetes_service_external_name": "example.invalid",
                          "__meta_kubernetes_service_port_number": "443",
                          "__meta_kubernetes_service_port_protocol": "TCP",
                          "__meta_kubernetes_service_type": "ExternalName"}]},
            {"source": "svc/default/web",
             "labels": {"__meta_kubernetes_namespace": "default",
                        "__meta_kubernetes_service_annotation_prometheus_io_probe": "true",
                        "__meta_kubernetes_service_annotationpresent_prometheus_io_probe": "true",
                        "__meta_kubernetes_service_label_app": "web",
                        "__meta_kubernetes_service_labelpresent_app": "true",
                        "__meta_kubernetes_service_name": "web"},
             "targets": [
                {"__address__": "web.default.svc:80",
                 "__meta_kubernetes_service_cluster_ip": "127.0.9.1",
                 "__meta_kubernetes_service_port_name": "http",
                 "__meta_kubernetes_service_port_number": "80",
                 "__meta_kubernetes_service_port_protocol": "TCP",
                 "__meta_kubernetes_service_type": "ClusterIP"},
                {"__address__": "web.default.svc:9113",
                 "__meta_kubernetes_service_cluster_ip": "127.0.9.1",
                 "__meta_kubernetes_service_port_name": "metrics",
                 "__meta_kubernetes_service_port_number": "9113",
                 "__meta_kubernetes_service_port_protocol": "TCP",
                 "__meta_kubernetes_service_type": "ClusterIP"}]}])
    );
    sd.shutdown().await;
}

/// Runs `role` over a fixture with `attach_metadata.node`, checks the exact groups, then
/// changes the pod and checks the endpoints group follows.
async fn endpoints_scenario(role: &str, fixture_name: &str, api_group_path: &str) {
    let f = fixture(fixture_name);
    let server = server_with(&f["objects"]).await;
    let cfg = config(&format!(
        "role: {role}\napi_server: {}\nattach_metadata:\n  node: true\nselectors:\n  - role: pod\n    field: spec.nodeName=node-a\n",
        server.url()
    ));
    let mut sd = Sd::start(cfg);
    let state = sd.until("the endpoints group", |g| !g.is_empty()).await;
    assert_eq!(
        groups_json(&state),
        f["expected"],
        "{:#}",
        groups_json(&state)
    );
    let paths: std::collections::BTreeSet<String> =
        server.requests().into_iter().map(|r| r.path).collect();
    let want: std::collections::BTreeSet<String> = [
        api_group_path,
        "/api/v1/services",
        "/api/v1/pods",
        "/api/v1/nodes",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, want);
    assert!(server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/pods")
        .all(|r| r.param("fieldSelector") == Some("spec.nodeName=node-a")));

    // A pod change re-labels the endpoints' targets.
    let mut pod = find(&f["objects"], "Pod", "web-1").clone();
    pod["metadata"]["labels"]["version"] = json!("v2");
    server.update(pod);
    sd.until("pod label on endpoint targets", |g| {
        g.iter().all(|g| {
            g.targets
                .iter()
                .filter(|t| t.get("__meta_kubernetes_pod_name") == "web-1")
                .all(|t| t.get("__meta_kubernetes_pod_label_version") == "v2")
        })
    })
    .await;
    // A service change re-labels the group.
    let mut svc = find(&f["objects"], "Service", "web").clone();
    svc["metadata"]["labels"]["tier"] = json!("frontend");
    server.update(svc);
    sd.until("service label on the group", |g| {
        g.iter()
            .all(|g| g.labels.get("__meta_kubernetes_service_label_tier") == "frontend")
    })
    .await;
    sd.shutdown().await;
}

#[tokio::test]
async fn endpoints_role_with_pod_and_node_metadata() {
    endpoints_scenario("endpoints", "endpoints.json", "/api/v1/endpoints").await;
}

#[tokio::test]
async fn endpointslice_role_with_pod_and_node_metadata() {
    endpoints_scenario(
        "endpointslice",
        "endpointslice.json",
        "/apis/discovery.k8s.io/v1/endpointslices",
    )
    .await;
}

#[tokio::test]
async fn namespaces_restrict_the_watches() {
    let f = fixture("node_agent.json");
    let server = server_with(&f["objects"]).await;
    let cfg = config(&format!(
        "role: pod\napi_server: {}\nnamespaces:\n  names: [monitoring, kube-system]\nselectors:\n  - role: pod\n    label: app.kubernetes.io/name in (node-exporter, kube-proxy)\n",
        server.url()
    ));
    let mut sd = Sd::start(cfg);
    let state = sd.until("monitoring pods", |g| !g.is_empty()).await;
    assert_eq!(sources(&state), ["pod/monitoring/node-exporter-abcde"]);
    let paths: std::collections::BTreeSet<String> =
        server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        [
            "/api/v1/namespaces/kube-system/pods",
            "/api/v1/namespaces/monitoring/pods"
        ]
    );
    assert!(server.requests().iter().all(|r| r.param("labelSelector")
        == Some("app.kubernetes.io/name in (node-exporter, kube-proxy)")));

    // A pod in another namespace is never seen; one in a watched namespace is.
    let mut other = simple_pod("default", "kube-proxy-x", "node-a", "127.0.11.1", 10249);
    other["metadata"]["labels"] = json!({"app.kubernetes.io/name": "kube-proxy"});
    server.add(other.clone());
    other["metadata"]["namespace"] = json!("kube-system");
    server.add(other);
    sd.until("the kube-system pod", |g| {
        sources(g)
            == [
                "pod/kube-system/kube-proxy-x",
                "pod/monitoring/node-exporter-abcde",
            ]
    })
    .await;
    sd.shutdown().await;
}

#[tokio::test]
async fn pod_role_attaches_node_and_namespace_metadata() {
    let f = fixture("node_agent.json");
    let server = server_with(&f["objects"]).await;
    let cfg = config(&format!(
        "role: pod\napi_server: {}\nattach_metadata: {{node: true, namespace: true}}\nselectors:\n  - role: pod\n    field: spec.nodeName=node-a\n  - role: node\n    field: metadata.name=node-a\n",
        server.url()
    ));
    let mut sd = Sd::start(cfg);
    let state = sd.until("pods", |g| g.len() == 5).await;
    let g = state
        .iter()
        .find(|g| g.source == "pod/monitoring/node-exporter-abcde")
        .expect("exporter");
    assert_eq!(g.labels.get("__meta_kubernetes_node_name"), "node-a");
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_node_label_kubernetes_io_hostname"),
        "node-a"
    );
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_node_labelpresent_kubernetes_io_os"),
        "true"
    );
    assert_eq!(
        g.labels.get("__meta_kubernetes_namespace_label_team"),
        "obs"
    );
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_namespace_labelpresent_team"),
        "true"
    );
    assert!(!g.labels.contains("__meta_kubernetes_namespace_name"));
    assert!(server
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/nodes")
        .all(|r| r.param("fieldSelector") == Some("metadata.name=node-a")));

    // Node label changes reach the pods on that node.
    let mut node = find(&f["objects"], "Node", "node-a").clone();
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("zone-1");
    server.update(node);
    sd.until("node label on every pod", |g| {
        g.len() == 5
            && g.iter().all(|g| {
                g.labels
                    .get("__meta_kubernetes_node_label_topology_kubernetes_io_zone")
                    == "zone-1"
            })
    })
    .await;
    sd.shutdown().await;
}

/// Sends one HTTP/1.1 GET and returns the body lines (de-chunked) until the stream ends.
async fn raw_get(url: &str, path_and_query: &str) -> (String, Vec<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("the response ends")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // Chunk-size lines are hex numbers; everything else is a JSON document.
    let lines = body
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    (head.to_string(), lines)
}

#[tokio::test]
async fn fake_apiserver_speaks_the_list_watch_protocol() {
    let server = FakeApiServer::start().await;
    server.set_bookmark_interval(Duration::from_millis(200));
    server.add(simple_pod("default", "a", "node-a", "127.0.12.1", 80));
    server.add(simple_pod("other", "b", "node-b", "127.0.12.2", 80));
    let (head, list) = raw_get(&server.url(), "/api/v1/namespaces/default/pods").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let rv = list[0]["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    assert_eq!(list[0]["kind"], "PodList");
    assert_eq!(list[0]["items"].as_array().map(Vec::len), Some(1));

    // A watch from the list's version ends at timeoutSeconds, carrying a later change and
    // bookmarks; the field selector turns a pod leaving it into DELETED.
    let url = server.url();
    let path = format!(
        "/api/v1/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1&fieldSelector=spec.nodeName%3Dnode-a"
    );
    let watch = tokio::spawn(async move { raw_get(&url, &path).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.update(simple_pod("default", "a", "node-b", "127.0.12.1", 80));
    let started = std::time::Instant::now();
    let (_, events) = watch.await.expect("watch task");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeoutSeconds ends the watch"
    );
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"DELETED"), "{types:?}");
    assert!(types.contains(&"BOOKMARK"), "{types:?}");
    assert!(
        !types.contains(&"ADDED"),
        "nothing matched the selector before: {types:?}"
    );

    // Too old a resourceVersion: a 410 Status as an ERROR event.
    server.set_compaction(server.current_rv());
    let (_, events) = raw_get(&server.url(), "/api/v1/pods?watch=1&resourceVersion=101").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");

    let (head, _) = raw_get(&server.url(), "/api/v1/widgets").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test]
async fn kubeconfig_file_is_retried_until_it_appears() {
    let server = FakeApiServer::start().await;
    server.add(simple_pod("default", "a", "node-a", "127.0.13.1", 8080));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    let cfg = config(&format!(
        "role: pod\nkubeconfig_file: {}\nselectors: [{{role: pod, field: spec.nodeName=node-a}}]\n",
        path.display()
    ));
    let mut sd = Sd::start(cfg);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !sd.task.is_finished(),
        "a missing kubeconfig is retried, not fatal"
    );
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: u}}\ncurrent-context: fake\nusers:\n- name: u\n  user: {{token: abc}}\n",
        server.url()
    );
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    sd.until("pod a through the kubeconfig", |g| g.len() == 1)
        .await;
    sd.shutdown().await;
}

#[test]
fn fake_apiserver_selectors_follow_kubernetes_semantics() {
    use support::fake_apiserver::{decode, fields_match, labels_match};
    let o = json!({"metadata": {"name": "p", "namespace": "ns",
                                    "labels": {"app": "web", "tier": "fe"}},
                       "spec": {"nodeName": "node-a"}});
    assert!(fields_match("spec.nodeName=node-a", &o));
    assert!(fields_match(
        "spec.nodeName==node-a,metadata.namespace=ns",
        &o
    ));
    assert!(!fields_match("spec.nodeName!=node-a", &o));
    assert!(fields_match("metadata.name!=q", &o));
    assert!(labels_match("app=web", &o));
    assert!(labels_match("app in (web, api),tier", &o));
    assert!(!labels_match("app notin (web)", &o));
    assert!(labels_match("!missing,app!=api", &o));
    assert!(!labels_match("missing", &o));
    assert_eq!(decode("spec.nodeName%3Dnode-a"), "spec.nodeName=node-a");
}
