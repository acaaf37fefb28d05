//! The node-agent case end to end: a ferrocol process discovers pods through the fake
//! Kubernetes API server (only its own node, by field selector), keeps the annotated ones,
//! scrapes real HTTP targets listening on the pods' loopback IPs, and exports OTLP to an
//! in-test backend. The targets API shows what is active and what was dropped, and a pod
//! added at runtime is scraped within two intervals.

mod support;

use std::time::Duration;

use axum::routing::get;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use serde_json::{json, Value};
use support::fake_apiserver::FakeApiServer;
use support::process::Collector;
use support::sink::Sink;
use support::{free_port, wait_for};

/// Serves `/metrics` on `ip:port` with a counter naming the pod.
async fn target(ip: &str, pod: &'static str) -> u16 {
    let l = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .expect("bind target");
    let port = l.local_addr().expect("addr").port();
    let app = axum::Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [("content-type", "text/plain; version=0.0.4")],
                format!(
                    "# HELP myapp_processed_ops_total The total number of processed operations\n\
                     # TYPE myapp_processed_ops_total counter\n\
                     myapp_processed_ops_total{{pod=\"{pod}\"}} 42\n"
                ),
            )
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    port
}

fn pod(name: &str, node: &str, ip: &str, port: u16, annotated: bool) -> Value {
    let annotations = if annotated {
        json!({"prometheus.io/scrape": "true", "prometheus.io/port": port.to_string()})
    } else {
        json!({})
    };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                        "labels": {"app": name}, "annotations": annotations},
           "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1",
                    "ports": [{"containerPort": port, "protocol": "TCP", "name": "metrics"}]}]},
           "status": {"phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
                      "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn attr(r: &opentelemetry_proto::tonic::resource::v1::Resource, key: &str) -> String {
    support::points::string_attr(&r.attributes, key)
}

/// (k8s.pod.name, value) of every `myapp_processed_ops_total` point.
fn ops(reqs: &[ExportMetricsServiceRequest]) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for r in reqs {
        for rm in &r.resource_metrics {
            let pod = rm
                .resource
                .as_ref()
                .map(|r| attr(r, "k8s.pod.name"))
                .unwrap_or_default();
            for sm in &rm.scope_metrics {
                for m in sm
                    .metrics
                    .iter()
                    .filter(|m| m.name == "myapp_processed_ops_total")
                {
                    if let Some(metric::Data::Sum(s)) = &m.data {
                        for p in &s.data_points {
                            if let Some(number_data_point::Value::AsDouble(v)) = p.value {
                                out.push((pod.clone(), v));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_agent_scrapes_only_annotated_pods_of_its_node() {
    let sink = Sink::start().await;
    let api = FakeApiServer::start().await;
    let p1 = target("127.0.5.1", "app-1").await;
    let p2 = target("127.0.5.2", "quiet").await;
    let p3 = target("127.0.6.1", "other-node").await;
    api.add(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}));
    api.add(pod("app-1", "node-a", "127.0.5.1", p1, true));
    api.add(pod("quiet", "node-a", "127.0.5.2", p2, false));
    api.add(pod("other", "node-b", "127.0.6.1", p3, true));
    let api_port = free_port();
    let yaml = format!(
        r#"receivers:
  prometheus:
    api_server: {{enabled: true, server_config: {{endpoint: "127.0.0.1:{api_port}"}}}}
    config:
      scrape_configs:
        - job_name: kubernetes-pods
          scrape_interval: 1s
          kubernetes_sd_configs:
            - role: pod
              api_server: "{url}"
              selectors: [{{role: pod, field: "spec.nodeName=${{env:NODE_NAME}}"}}]
          relabel_configs:
            - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
              action: keep
              regex: true
            - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
              action: replace
              regex: ([^:]+)(?::\d+)?;(\d+)
              replacement: $$1:$$2
              target_label: __address__
            - source_labels: [__meta_kubernetes_namespace]
              target_label: namespace
            - source_labels: [__meta_kubernetes_pod_name]
              target_label: pod
processors:
  batch: {{timeout: 100ms}}
exporters:
  otlp: {{endpoint: "127.0.0.1:{sink}", tls: {{insecure: true}}}}
service:
  pipelines:
    metrics: {{receivers: [prometheus], processors: [batch], exporters: [otlp]}}
"#,
        url = api.url(),
        sink = sink.grpc_addr.port(),
    );
    let col = Collector::start_env(&yaml, &[("NODE_NAME", "node-a")]).await;

    let got = wait_for(Duration::from_secs(20), || {
        let o = ops(&sink.rec().metrics);
        (!o.is_empty()).then_some(o)
    })
    .await;
    let got = got.unwrap_or_else(|| panic!("nothing scraped:\n{}", col.stderr()));
    assert!(
        got.iter().all(|(p, v)| p == "app-1" && *v == 42.0),
        "only the annotated pod of node-a: {got:?}"
    );

    // The resource carries the target's identity and Kubernetes attributes.
    let rm = sink
        .rec()
        .metrics
        .iter()
        .flat_map(|r| r.resource_metrics.iter())
        .find(|rm| {
            rm.resource
                .as_ref()
                .is_some_and(|r| attr(r, "k8s.pod.name") == "app-1")
        })
        .cloned()
        .expect("resource");
    let res = rm.resource.expect("resource");
    assert_eq!(attr(&res, "service.name"), "kubernetes-pods");
    assert_eq!(attr(&res, "service.instance.id"), format!("127.0.5.1:{p1}"));
    assert_eq!(attr(&res, "k8s.namespace.name"), "shop");
    assert_eq!(attr(&res, "k8s.node.name"), "node-a");
    let names: Vec<String> = rm
        .scope_metrics
        .iter()
        .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
        .collect();
    for n in ["up", "scrape_duration_seconds", "scrape_samples_scraped"] {
        assert!(names.contains(&n.to_string()), "{n} missing: {names:?}");
    }

    // The targets API: one active target, up; the unannotated pod dropped; node-b never seen.
    let text = reqwest::get(format!(
        "http://127.0.0.1:{api_port}/api/v1/targets?state=any"
    ))
    .await
    .expect("targets api")
    .text()
    .await
    .expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    let active = body["data"]["activeTargets"].as_array().expect("active");
    assert_eq!(active.len(), 1, "{body}");
    assert_eq!(active[0]["labels"]["pod"], "app-1");
    assert_eq!(active[0]["labels"]["namespace"], "shop");
    assert_eq!(active[0]["scrapePool"], "kubernetes-pods");
    assert_eq!(
        active[0]["scrapeUrl"],
        format!("http://127.0.0.1:{p1}/metrics").replace("127.0.0.1", "127.0.5.1")
    );
    let dropped = body["data"]["droppedTargets"].as_array().expect("dropped");
    assert!(
        dropped
            .iter()
            .any(|d| d["discoveredLabels"]["__meta_kubernetes_pod_name"] == "quiet"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("other-node") && !body.to_string().contains("\"other\""),
        "{body}"
    );

    // A pod added at runtime on this node is scraped within two intervals (plus discovery).
    let p4 = target("127.0.5.4", "app-4").await;
    api.add(pod("app-4", "node-a", "127.0.5.4", p4, true));
    let seen = wait_for(Duration::from_secs(6), || {
        ops(&sink.rec().metrics)
            .iter()
            .any(|(p, _)| p == "app-4")
            .then_some(())
    })
    .await;
    assert!(seen.is_some(), "runtime pod not scraped:\n{}", col.stderr());
}
