//! A simulated two-node cluster on this machine, end to end.
//!
//! * The fake Kubernetes API server (tests/support/fake_apiserver.rs) holds nodes `node-a` and
//!   `node-b` and their pods. Pod IPs are loopback addresses: 127.0.1.x on node-a, 127.0.2.x on
//!   node-b (ranges no other test uses, since tests run in parallel).
//! * The real demo app (examples/metrics-app, built by the test) runs for every pod, listening
//!   on the pod's IP at the port of the shipped Deployment's `--listen`; the scraped pods carry
//!   the shipped Deployment's pod-template annotations.
//! * Two real ferrocol agents run the shipped `configs/daemonset.yaml` unchanged, with the
//!   environment the DaemonSet gives a pod (`NODE_NAME`, `POD_IP`, one loopback IP each) plus
//!   what a user outside a cluster sets: `KUBECONFIG` (a file written here pointing at the fake
//!   API server), `SA_DIR` (a fake token and CA), a 1 s `SCRAPE_INTERVAL`, and a plaintext
//!   `OTLP_ENDPOINT`. The config sets no label naming the agent, so each agent exports to its
//!   own OTLP sink: what sink A holds came through agent A.
//!
//! Checked: each agent scrapes exactly the running, annotated pods of its own node (unannotated
//! pods, a finished pod and the other node's pods are not scraped; no pod twice);
//! `myapp_processed_ops_total` of every scraped pod reaches the backend with its pod and
//! namespace labels (a second namespace included); a pod added on node-b at runtime is scraped
//! within two scrape intervals; demo apps pushing OTLP to their node's agent (gRPC on node-a,
//! HTTP on node-b) arrive through that agent only; the kubelet job, which has no kubelet to
//! reach here, fails without harm; and everything shuts down cleanly on SIGTERM.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value as Json};
use serde_yaml::Value as Yaml;
use support::cluster::{node, write_kubeconfig, write_service_account, AgentEnv};
use support::demo_app::{DemoApp, DemoBinary};
use support::fake_apiserver::FakeApiServer;
use support::points::{points, Point};
use support::process::Collector;
use support::root;
use support::sink::Sink;
use support::wait_for;

/// The agents' scrape interval (`SCRAPE_INTERVAL`).
const INTERVAL: Duration = Duration::from_secs(1);
/// Slack on top of the two intervals allowed for a runtime pod's first scrape: the scrape
/// timestamp is taken when the agent starts the scrape, so this covers only the watch event's
/// way from the fake API server through discovery to a new scrape loop, and scheduling delays
/// on a busy 2-core machine. The expected latency is one interval at most (a new target's
/// first scrape waits its hash-based offset, which is below one interval).
const RUNTIME_POD_TOLERANCE: Duration = Duration::from_millis(500);
/// Upper bound for everything in the test once the binaries are built.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

const SAMPLE: &str = "myapp_processed_ops_total";
const POD_JOB: &str = "kubernetes-pods";

/// What the shipped Deployment (manifests/deployment.yaml) gives its pods: the pod template's
/// annotations, and the port of the container's `--listen` argument.
struct ShippedDeployment {
    annotations: Json,
    port: u16,
}

fn shipped_deployment() -> ShippedDeployment {
    let text = std::fs::read_to_string(root().join("manifests/deployment.yaml")).unwrap();
    let d: Yaml = serde_yaml::from_str(&text).unwrap();
    let template = &d["spec"]["template"];
    let annotations: Json =
        serde_json::to_value(&template["metadata"]["annotations"]).expect("annotations");
    let args: Vec<String> = template["spec"]["containers"][0]["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .expect("--listen ADDR in the Deployment's args");
    let port: u16 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in --listen");
    assert_eq!(
        annotations["prometheus.io/port"],
        port.to_string(),
        "the annotated port is the one the app listens on"
    );
    ShippedDeployment { annotations, port }
}

struct PodSpec {
    namespace: &'static str,
    name: &'static str,
    node: &'static str,
    ip: &'static str,
    annotated: bool,
    phase: &'static str,
}

const NODE_A_IP: &str = "127.0.1.254";
const NODE_B_IP: &str = "127.0.2.254";
const AGENT_A_IP: &str = "127.0.1.250";
const AGENT_B_IP: &str = "127.0.2.250";

/// Every pod at the start. The pushers are not annotated: they push instead.
const PODS: &[PodSpec] = &[
    PodSpec {
        namespace: "shop",
        name: "web-a",
        node: "node-a",
        ip: "127.0.1.11",
        annotated: true,
        phase: "Running",
    },
    PodSpec {
        namespace: "payments",
        name: "billing-a",
        node: "node-a",
        ip: "127.0.1.12",
        annotated: true,
        phase: "Running",
    },
    PodSpec {
        namespace: "shop",
        name: "quiet-a",
        node: "node-a",
        ip: "127.0.1.13",
        annotated: false,
        phase: "Running",
    },
    PodSpec {
        namespace: "shop",
        name: "done-a",
        node: "node-a",
        ip: "127.0.1.15",
        annotated: true,
        phase: "Succeeded",
    },
    PodSpec {
        namespace: "shop",
        name: "pusher-a",
        node: "node-a",
        ip: "127.0.1.14",
        annotated: false,
        phase: "Running",
    },
    PodSpec {
        namespace: "shop",
        name: "web-b",
        node: "node-b",
        ip: "127.0.2.11",
        annotated: true,
        phase: "Running",
    },
    PodSpec {
        namespace: "shop",
        name: "quiet-b",
        node: "node-b",
        ip: "127.0.2.13",
        annotated: false,
        phase: "Running",
    },
    PodSpec {
        namespace: "shop",
        name: "pusher-b",
        node: "node-b",
        ip: "127.0.2.14",
        annotated: false,
        phase: "Running",
    },
];

/// Added on node-b while the agents run.
const RUNTIME_POD: PodSpec = PodSpec {
    namespace: "shop",
    name: "web-b2",
    node: "node-b",
    ip: "127.0.2.12",
    annotated: true,
    phase: "Running",
};

fn host_ip(node: &str) -> &'static str {
    if node == "node-a" {
        NODE_A_IP
    } else {
        NODE_B_IP
    }
}

fn pod_object(p: &PodSpec, shipped: &ShippedDeployment) -> Json {
    let annotations = if p.annotated {
        shipped.annotations.clone()
    } else {
        json!({})
    };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": p.name, "namespace": p.namespace, "uid": format!("uid-{}", p.name),
                        "labels": {"app.kubernetes.io/name": "metrics-app"},
                        "annotations": annotations},
           "spec": {"nodeName": p.node,
                    "containers": [{"name": "metrics-app", "image": "ferrocol-metrics-app:latest",
                                    "ports": [{"name": "metrics", "containerPort": shipped.port,
                                               "protocol": "TCP"}]}]},
           "status": {"phase": p.phase, "podIP": p.ip, "hostIP": host_ip(p.node),
                      "conditions": [{"type": "Ready",
                                      "status": if p.phase == "Running" { "True" } else { "False" }}]}})
}

async fn start_agent(
    node: &str,
    pod_ip: &str,
    kubeconfig: &Path,
    sa_dir: &Path,
    sink: &Sink,
    api_key: &str,
) -> Collector {
    let interval = format!("{}ms", INTERVAL.as_millis());
    let vars = AgentEnv {
        node,
        ip: pod_ip,
        kubeconfig,
        service_account: sa_dir,
        sink,
        interval: &interval,
        api_key,
    }
    .vars();
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The shipped config serves its self-metrics on ${env:POD_IP}:8888.
    Collector::start_file(&root().join("configs/daemonset.yaml"), &env, pod_ip, 8888).await
}

/// The scraped `myapp_processed_ops_total` points of a sink, by (namespace, pod).
fn scraped(sink: &Sink) -> BTreeMap<(String, String), Vec<Point>> {
    let mut out: BTreeMap<(String, String), Vec<Point>> = BTreeMap::new();
    for p in points(&sink.rec().metrics) {
        if p.metric == SAMPLE && p.res("service.name") == POD_JOB {
            out.entry((p.attr("namespace").to_string(), p.attr("pod").to_string()))
                .or_default()
                .push(p);
        }
    }
    out
}

/// The pushed `myapp_processed_ops_total` points of `service` in a sink.
fn pushed(sink: &Sink, service: &str) -> Vec<Point> {
    points(&sink.rec().metrics)
        .into_iter()
        .filter(|p| p.metric == SAMPLE && p.res("service.name") == service)
        .collect()
}

/// Every point of the pod job's target for `pod` (`up`, scrape series and the app's own).
fn target_points(sink: &Sink, pod: &str) -> Vec<Point> {
    points(&sink.rec().metrics)
        .into_iter()
        .filter(|p| p.res("service.name") == POD_JOB && p.res("k8s.pod.name") == pod)
        .collect()
}

fn pods_set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(ns, p)| (ns.to_string(), p.to_string()))
        .collect()
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_cluster_scrapes_each_node_once_and_takes_pushes() {
    support::init();
    let started = std::time::Instant::now();
    let bin = tokio::task::spawn_blocking(DemoBinary::build)
        .await
        .expect("build the demo app");
    eprintln!("demo app built (or found fresh) in {:?}", started.elapsed());
    tokio::time::timeout(TEST_TIMEOUT, run_cluster(bin))
        .await
        .expect("the simulated cluster test took too long");
}

async fn run_cluster(bin: DemoBinary) {
    let started_cluster = std::time::Instant::now();
    let shipped = shipped_deployment();
    let sink_a = Sink::start().await;
    let sink_b = Sink::start().await;
    let api = FakeApiServer::start().await;
    api.add(node("node-a", NODE_A_IP));
    api.add(node("node-b", NODE_B_IP));

    // A demo app for every pod, on the pod's IP. The pushers push OTLP to their node's
    // agent (its pod IP: what the node's hostPort forwards to), node-a over gRPC and node-b
    // over HTTP, with a short export interval.
    let app_args = ["--ops-per-second", "20", "--work-rounds", "1000"];
    let push_a = format!("http://{AGENT_A_IP}:4317");
    let push_b = format!("http://{AGENT_B_IP}:4318");
    let mut apps: BTreeMap<&str, DemoApp> = BTreeMap::new();
    for p in PODS {
        let listen = SocketAddr::new(p.ip.parse().unwrap(), shipped.port);
        let env: Vec<(&str, &str)> = match p.name {
            "pusher-a" => vec![
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", push_a.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
                ("OTEL_SERVICE_NAME", "pusher-a"),
            ],
            "pusher-b" => vec![
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", push_b.as_str()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=pusher-b,k8s.node.name=node-b",
                ),
            ],
            _ => vec![],
        };
        apps.insert(p.name, DemoApp::spawn(&bin, listen, &app_args, &env));
    }
    for app in apps.values_mut() {
        app.wait_ready().await;
    }
    api.apply(PODS.iter().map(|p| pod_object(p, &shipped)));

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &api, "agent-token");
    let sa_dir = write_service_account(dir.path(), "simulated-service-account-token");
    let mut agent_a =
        start_agent("node-a", AGENT_A_IP, &kubeconfig, &sa_dir, &sink_a, "key-a").await;
    let mut agent_b =
        start_agent("node-b", AGENT_B_IP, &kubeconfig, &sa_dir, &sink_b, "key-b").await;
    let logs = |a: &Collector, b: &Collector| {
        format!("agent A:\n{}\nagent B:\n{}", a.stderr(), b.stderr())
    };

    // Every scraped pod and both pushers arrive.
    let want_a = pods_set(&[("shop", "web-a"), ("payments", "billing-a")]);
    let want_b0 = pods_set(&[("shop", "web-b")]);
    let all_in = wait_for(Duration::from_secs(30), || {
        let a: BTreeSet<_> = scraped(&sink_a).into_keys().collect();
        let b: BTreeSet<_> = scraped(&sink_b).into_keys().collect();
        (want_a.is_subset(&a)
            && want_b0.is_subset(&b)
            && !pushed(&sink_a, "pusher-a").is_empty()
            && !pushed(&sink_b, "pusher-b").is_empty())
        .then_some(())
    })
    .await;
    assert!(
        all_in.is_some(),
        "not everything arrived: A {:?}, B {:?}, pushes A {} B {}\n{}",
        scraped(&sink_a).keys().collect::<Vec<_>>(),
        scraped(&sink_b).keys().collect::<Vec<_>>(),
        pushed(&sink_a, "pusher-a").len(),
        pushed(&sink_b, "pusher-b").len(),
        logs(&agent_a, &agent_b)
    );

    // A pod added on node-b at runtime: its first scrape (the scrape's own timestamp) comes
    // within two intervals of the API server's watch event, plus the documented tolerance.
    let r = &RUNTIME_POD;
    let listen = SocketAddr::new(r.ip.parse().unwrap(), shipped.port);
    let runtime_app = DemoApp::start(&bin, listen, &app_args, &[]).await;
    apps.insert(r.name, runtime_app);
    let added_at = unix_nanos(SystemTime::now());
    api.add(pod_object(r, &shipped));
    let seen = wait_for(Duration::from_secs(15), || {
        (!target_points(&sink_b, r.name).is_empty()).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "the runtime pod was never scraped\n{}",
        logs(&agent_a, &agent_b)
    );
    // Later exports cannot carry an earlier scrape; wait for any in flight, then take the first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first_scrape = target_points(&sink_b, r.name)
        .iter()
        .map(|p| p.time_unix_nano)
        .min()
        .expect("points of the runtime pod");
    let latency = Duration::from_nanos(first_scrape.saturating_sub(added_at));
    eprintln!("runtime pod: first scrape {latency:?} after the watch event");
    // Scrape timestamps have millisecond precision.
    assert!(
        first_scrape >= added_at / 1_000_000 * 1_000_000,
        "scraped before it existed? first {first_scrape}, added {added_at}"
    );
    assert!(
        latency <= 2 * INTERVAL + RUNTIME_POD_TOLERANCE,
        "runtime pod first scraped {latency:?} after it was added (limit {:?})",
        2 * INTERVAL + RUNTIME_POD_TOLERANCE
    );

    // A few more intervals, then read everything.
    tokio::time::sleep(3 * INTERVAL).await;
    let got_a = scraped(&sink_a);
    let got_b = scraped(&sink_b);
    let want_b = pods_set(&[("shop", "web-b"), ("shop", "web-b2")]);

    // Each agent scraped exactly the running, annotated pods of its node.
    assert_eq!(got_a.keys().cloned().collect::<BTreeSet<_>>(), want_a);
    assert_eq!(got_b.keys().cloned().collect::<BTreeSet<_>>(), want_b);
    for (sink, node, want) in [(&sink_a, "node-a", &want_a), (&sink_b, "node-b", &want_b)] {
        let targets: BTreeSet<String> = points(&sink.rec().metrics)
            .iter()
            .filter(|p| p.res("service.name") == POD_JOB)
            .map(|p| p.res("k8s.pod.name").to_string())
            .collect();
        let names: BTreeSet<String> = want.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(targets, names, "{node}: the pod job's targets");
        // The kubelet job ran against this node only, and failed (no kubelet here): up 0.
        let kubelet: Vec<Point> = points(&sink.rec().metrics)
            .into_iter()
            .filter(|p| p.metric == "up" && p.res("service.name") == "kubelet-cadvisor")
            .collect();
        assert!(!kubelet.is_empty(), "{node}: the kubelet job reports up");
        for p in &kubelet {
            assert_eq!(p.res("service.instance.id"), node, "{p:?}");
            assert_eq!(p.value, 0.0, "{p:?}");
        }
    }

    // Every scraped pod's counter carries its identity, from one target, scraped once per
    // interval (never twice: no two scrapes closer than a quarter interval).
    let ip_of: BTreeMap<&str, &str> = PODS
        .iter()
        .chain([&RUNTIME_POD])
        .map(|p| (p.name, p.ip))
        .collect();
    for (node, got) in [("node-a", &got_a), ("node-b", &got_b)] {
        for ((ns, pod), pts) in got {
            let instance = format!("{}:{}", ip_of[pod.as_str()], shipped.port);
            for p in pts {
                assert_eq!(p.attr("namespace"), ns, "{p:?}");
                assert_eq!(p.attr("pod"), pod, "{p:?}");
                assert_eq!(p.attr("node"), node, "{p:?}");
                assert_eq!(p.res("k8s.namespace.name"), ns, "{p:?}");
                assert_eq!(p.res("k8s.pod.name"), pod, "{p:?}");
                assert_eq!(p.res("k8s.node.name"), node, "{p:?}");
                assert_eq!(p.res("service.instance.id"), instance, "{p:?}");
                assert_eq!(p.monotonic, Some(true), "{p:?}");
                assert!(p.value > 0.0, "{p:?}");
            }
            let mut by_time: Vec<&Point> = pts.iter().collect();
            by_time.sort_by_key(|p| p.time_unix_nano);
            let times: Vec<u64> = by_time.iter().map(|p| p.time_unix_nano).collect();
            for w in times.windows(2) {
                assert!(
                    Duration::from_nanos(w[1] - w[0]) >= INTERVAL / 4,
                    "{ns}/{pod} scraped twice: {times:?}"
                );
            }
            let values: Vec<f64> = by_time.iter().map(|p| p.value).collect();
            assert!(
                values.windows(2).all(|w| w[0] <= w[1]),
                "{ns}/{pod}: a counter never goes down: {values:?}"
            );
            // The app's own count is at least what was scraped.
            let (_, body) = apps[pod.as_str()].scrape(None).await.expect("app answers");
            let now = support::metric_value(&body, SAMPLE, &[]);
            assert!(now >= *values.last().unwrap(), "{pod}: {now} < {values:?}");
        }
    }

    // Pushes arrive through their own node's agent only, as pushed (no scrape identity).
    for (sink, mine, other) in [
        (&sink_a, "pusher-a", "pusher-b"),
        (&sink_b, "pusher-b", "pusher-a"),
    ] {
        let pts = pushed(sink, mine);
        assert!(!pts.is_empty(), "{mine}");
        for p in &pts {
            assert_eq!(p.monotonic, Some(true), "{p:?}");
            assert_eq!(p.res("k8s.pod.name"), "", "{p:?}");
        }
        assert!(pts.iter().any(|p| p.value > 0.0), "{mine}: {pts:?}");
        assert!(
            pushed(sink, other).is_empty(),
            "{other} went through the wrong agent"
        );
    }
    assert_eq!(
        pushed(&sink_b, "pusher-b")[0].res("k8s.node.name"),
        "node-b"
    );

    // Each agent exported with its own API key.
    for (sink, key) in [(&sink_a, "Bearer key-a"), (&sink_b, "Bearer key-b")] {
        let rec = sink.rec();
        assert!(!rec.grpc_metadata.is_empty());
        for md in &rec.grpc_metadata {
            assert_eq!(
                md.get("authorization").and_then(|v| v.to_str().ok()),
                Some(key)
            );
        }
    }

    // Nothing crashed (the kubelet scrapes failed all along), and the probes still pass.
    for (agent, ip) in [(&mut agent_a, AGENT_A_IP), (&mut agent_b, AGENT_B_IP)] {
        assert!(
            agent.is_running(),
            "agent on {ip} exited:\n{}",
            agent.stderr()
        );
        let health = reqwest::get(format!("http://{ip}:13133/"))
            .await
            .map(|r| r.status().as_u16())
            .ok();
        assert_eq!(health, Some(200), "health_check on {ip}");
    }
    for (name, app) in apps.iter_mut() {
        assert!(app.is_running(), "{name} exited:\n{}", app.stderr());
    }

    eprintln!("cluster checks done in {:?}", started_cluster.elapsed());

    // A clean shutdown everywhere: the apps first (the pushers flush to their agents).
    for (name, app) in apps.iter_mut() {
        let st = app.terminate().await;
        assert!(st.success(), "{name} exit {st}:\n{}", app.stderr());
    }
    for agent in [&mut agent_a, &mut agent_b] {
        let st = agent.terminate().await;
        assert!(st.success(), "agent exit {st}:\n{}", agent.stderr());
    }
}
