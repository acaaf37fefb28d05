//! The node-agent deliverables: `manifests/` (the demo app's Deployment, the agent's RBAC,
//! ConfigMap and DaemonSet, the kustomization), `configs/`, the Dockerfile and
//! docs/NODE_AGENT.md.
//!
//! * Static checks parse the manifests and assert the properties a platform team relies on:
//!   RBAC exactly get/list/watch on pods and nodes plus get on nodes/metrics (never nodes/proxy
//!   or secrets), the restricted securityContext, downward-API env, hostPorts, probes on the
//!   health_check port, tolerations, resources, a directory (not subPath) config mount, and the
//!   scrape annotations on the demo app's pod template.
//! * configs/daemonset.yaml is byte-identical to the ConfigMap's `config.yaml`.
//! * `ferrocol validate` passes, without warnings, on every `configs/*.yaml` with plausible
//!   values for their `${env:...}` references. The kubelet job's token and CA paths default to
//!   the pod's service-account directory and are overridable with `SA_DIR`; the tests point
//!   `SA_DIR` at a temporary directory holding a token and a CA (and show that without it the
//!   validator looks at the real service-account path).
//! * Every manifest validates against the Kubernetes OpenAPI schemas, offline and strictly,
//!   with `kubernetes-validate` (installed by scripts/setup-manifest-deps.sh).
//! * The shipped configs run: against the fake API server (reached through a kubeconfig, as a
//!   user outside a cluster would), an agent started from configs/daemonset.yaml answers its
//!   probes, scrapes only the annotated pods of its node at their annotated port and path, scrapes
//!   its kubelet's cAdvisor over https with the service-account token, takes OTLP pushed to
//!   its pod IP, and exports everything with the API key header; configs/two-port-problem.yaml
//!   scrapes both metrics ports of a pod by name.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use serde_yaml::Value;
use support::cluster::{node, write_kubeconfig, write_service_account, AgentEnv};
use support::fake_apiserver::FakeApiServer;
use support::points::{points, Point};
use support::root;
use support::sink::Sink;
use support::wait_for;

/// Kubernetes versions the manifests are validated against: an old one still in wide use and
/// a recent one.
const KUBERNETES_VERSIONS: &[&str] = &["1.30", "1.34"];

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Every YAML document of a file, in order (empty documents skipped).
fn documents(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn object<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} expected");
    found[0]
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|x| s(x).to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|x| x.to_string()).collect()
}

fn agent() -> Vec<Value> {
    documents("manifests/otel-daemonset.yaml")
}

fn agent_container(docs: &[Value]) -> Value {
    let containers = object(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers")
        .clone();
    assert_eq!(containers.len(), 1, "one container: ferrocol");
    containers[0].clone()
}

// ---------------------------------------------------------------------------------------
// Static properties of the manifests
// ---------------------------------------------------------------------------------------

#[test]
fn cluster_role_grants_exactly_what_the_agent_needs() {
    let docs = agent();
    let role = object(&docs, "ClusterRole");
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_sequence().expect("rules") {
        assert!(
            rule.get("nonResourceURLs").is_none() && rule.get("resourceNames").is_none(),
            "{rule:?}"
        );
        let groups = strings(&rule["apiGroups"]);
        for g in &groups {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    assert!(
                        grants.insert(format!("{g}|{r}|{v}")),
                        "duplicate grant {g}|{r}|{v}"
                    );
                }
            }
        }
    }
    let expected = set(&[
        "|pods|get",
        "|pods|list",
        "|pods|watch",
        "|nodes|get",
        "|nodes|list",
        "|nodes|watch",
        "|nodes/metrics|get",
    ]);
    assert_eq!(grants, expected);
    let text = read("manifests/otel-daemonset.yaml");
    for forbidden in ["nodes/proxy", "secrets", "\"*\"", "'*'", "[*]"] {
        let in_rules = serde_yaml::to_string(&role["rules"]).unwrap();
        assert!(!in_rules.contains(forbidden), "{forbidden} in the rules");
    }
    assert!(!text.contains("kind: Role\n"), "no namespaced Role needed");

    // Bound to the DaemonSet's service account.
    let sa = object(&docs, "ServiceAccount");
    let binding = object(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["roleRef"]["apiGroup"], "rbac.authorization.k8s.io",
        "roleRef.apiGroup"
    );
    let subjects = binding["subjects"].as_sequence().expect("subjects");
    assert_eq!(subjects.len(), 1);
    assert_eq!(subjects[0]["kind"], "ServiceAccount");
    assert_eq!(subjects[0]["name"], sa["metadata"]["name"]);
    assert_eq!(subjects[0]["namespace"], sa["metadata"]["namespace"]);
    let pod = &object(&docs, "DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
}

#[test]
fn daemonset_pod_is_locked_down() {
    let docs = agent();
    let ds = object(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(
            pod.get(key).is_none() || pod[key] == false,
            "{key} must not be set"
        );
    }
    let c = agent_container(&docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), vec!["ALL"]);
    assert!(
        sc["capabilities"].get("add").is_none(),
        "no capability added"
    );
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(sc.get("privileged").is_none() || sc["privileged"] == false);
    if let Some(uid) = sc["runAsUser"].as_u64() {
        assert_ne!(uid, 0);
    }
    // No hostPath or other writable volume: the collector writes nothing to disk.
    for v in pod["volumes"].as_sequence().expect("volumes") {
        assert!(
            v.get("hostPath").is_none() && v.get("emptyDir").is_none(),
            "{v:?}"
        );
    }
}

#[test]
fn daemonset_runs_ferrocol_with_the_configmap() {
    let docs = agent();
    let ds = object(&docs, "DaemonSet");
    let cm = object(&docs, "ConfigMap");
    let pod = &ds["spec"]["template"]["spec"];
    let c = agent_container(&docs);
    assert!(s(&c["image"]).starts_with("ferrocol"), "{:?}", c["image"]);
    assert_eq!(
        strings(&c["args"]),
        vec!["--config".to_string(), "/conf/config.yaml".to_string()]
    );
    assert!(
        c.get("command").is_none(),
        "the image's entrypoint is ferrocol"
    );

    // The ConfigMap is mounted as a directory at /conf (never subPath: updates would never
    // reach the file), read-only.
    let mounts = c["volumeMounts"].as_sequence().expect("volumeMounts");
    let conf = mounts
        .iter()
        .find(|m| m["mountPath"] == "/conf")
        .expect("a mount at /conf");
    assert!(conf.get("subPath").is_none() && conf.get("subPathExpr").is_none());
    assert_eq!(conf["readOnly"], true);
    for m in mounts {
        assert!(m.get("subPath").is_none(), "no subPath mounts: {m:?}");
    }
    let vol = pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == conf["name"])
        .expect("the config volume");
    assert_eq!(vol["configMap"]["name"], cm["metadata"]["name"]);
    assert_eq!(cm["metadata"]["namespace"], ds["metadata"]["namespace"]);
    let items = vol["configMap"]["items"].as_sequence().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["key"], "config.yaml");
    assert_eq!(items[0]["path"], "config.yaml");
    assert!(cm["data"]["config.yaml"].is_string());
}

#[test]
fn daemonset_env_ports_probes_resources_and_tolerations() {
    let docs = agent();
    let ds = object(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = agent_container(&docs);

    // Downward API.
    let env = c["env"].as_sequence().expect("env");
    let field = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["valueFrom"]["fieldRef"]["fieldPath"].clone())
            .unwrap_or_else(|| panic!("env {name} missing"))
    };
    assert_eq!(field("NODE_NAME"), "spec.nodeName");
    assert_eq!(field("POD_IP"), "status.podIP");
    // Every ${env:X} without a default that the config uses is set by the pod.
    let config = read("configs/daemonset.yaml");
    let names: BTreeSet<String> = env.iter().map(|e| s(&e["name"]).to_string()).collect();
    for var in required_env_refs(&config) {
        assert!(
            names.contains(&var),
            "the config needs {var}; the pod lacks it"
        );
    }
    // The API key comes from a Secret, not from the manifest.
    let key = env
        .iter()
        .find(|e| e["name"] == "OTLP_API_KEY")
        .expect("OTLP_API_KEY");
    assert!(key.get("value").is_none());
    assert!(key["valueFrom"]["secretKeyRef"]["name"].is_string());

    // hostPorts for OTLP.
    let ports = c["ports"].as_sequence().expect("ports");
    for p in [4317u64, 4318] {
        let port = ports
            .iter()
            .find(|x| x["containerPort"].as_u64() == Some(p))
            .unwrap_or_else(|| panic!("containerPort {p}"));
        assert_eq!(port["hostPort"].as_u64(), Some(p), "hostPort {p}");
        assert_eq!(port["protocol"], "TCP");
    }
    assert_eq!(
        ports.iter().filter(|x| x.get("hostPort").is_some()).count(),
        2,
        "only the OTLP ports are published on the node"
    );
    for p in ports {
        assert!(s(&p["name"]).len() <= 15, "port name too long: {p:?}");
    }

    // Probes on the health_check endpoint, which the config binds on the pod IP.
    for probe in ["livenessProbe", "readinessProbe"] {
        let h = &c[probe]["httpGet"];
        assert_eq!(h["port"].as_u64(), Some(13133), "{probe}");
        assert_eq!(h["path"], "/", "{probe}");
    }
    let cfg: Value = serde_yaml::from_str(&config).unwrap();
    assert_eq!(
        cfg["extensions"]["health_check"]["endpoint"],
        "${env:POD_IP}:13133"
    );

    // Requests and limits for CPU and memory (memory_limiter's percentages need the limit).
    for section in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(
                c["resources"][section][r].is_string(),
                "resources.{section}.{r}"
            );
        }
    }

    // Every node, whatever its taints.
    let tolerations = pod["tolerations"].as_sequence().expect("tolerations");
    assert!(
        tolerations.iter().any(|t| t["operator"] == "Exists"
            && t.get("key").is_none()
            && t.get("effect").is_none()),
        "a toleration of every taint: {tolerations:?}"
    );
    assert!(pod.get("nodeSelector").is_none() && pod.get("affinity").is_none());

    // Pods are selected by the template's labels.
    let sel = ds["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    for (k, v) in sel {
        assert_eq!(&ds["spec"]["template"]["metadata"]["labels"][k], v);
    }
}

/// The names of `${env:NAME}` references without a `:-default`.
fn required_env_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for piece in text.split("${env:").skip(1) {
        let inner = piece.split('}').next().unwrap_or("");
        if !inner.contains(":-") {
            out.insert(inner.to_string());
        }
    }
    out
}

#[test]
fn demo_app_is_annotated_for_scraping() {
    let docs = documents("manifests/deployment.yaml");
    let d = object(&docs, "Deployment");
    let template = &d["spec"]["template"];
    let ann = &template["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "2112");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    // Annotations on the pod template, not (only) on the Deployment: discovery sees pods.
    let c = &template["spec"]["containers"][0];
    let ports = c["ports"].as_sequence().expect("ports");
    assert!(ports
        .iter()
        .any(|p| p["containerPort"].as_u64() == Some(2112) && p["name"] == "metrics"));
    // Selector matches the template.
    for (k, v) in d["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels")
    {
        assert_eq!(&template["metadata"]["labels"][k], v);
    }
    // The push path: HOST_IP from the downward API, defined before the endpoint that uses it.
    let env = c["env"].as_sequence().expect("env");
    let pos = |n: &str| env.iter().position(|e| e["name"] == n);
    let host = pos("HOST_IP").expect("HOST_IP");
    let ep = pos("OTEL_EXPORTER_OTLP_ENDPOINT").expect("OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(host < ep, "$(HOST_IP) resolves only if defined earlier");
    assert_eq!(
        env[host]["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );
    assert_eq!(env[ep]["value"], "http://$(HOST_IP):4317");
}

#[test]
fn kustomization_lists_every_manifest() {
    let k: Value = serde_yaml::from_str(&read("manifests/kustomization.yaml")).unwrap();
    assert_eq!(k["kind"], "Kustomization");
    let listed: BTreeSet<String> = strings(&k["resources"]).into_iter().collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("manifests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk);
    // With kubectl at hand, the kustomization also builds.
    if let Ok(out) = Command::new("kubectl")
        .args(["kustomize"])
        .arg(root().join("manifests"))
        .output()
    {
        assert!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for kind in [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet",
            "Deployment",
        ] {
            assert!(text.contains(&format!("kind: {kind}\n")), "{kind} missing");
        }
    }
}

#[test]
fn configmap_config_is_configs_daemonset_yaml() {
    let docs = agent();
    let cm = object(&docs, "ConfigMap");
    let embedded = s(&cm["data"]["config.yaml"]);
    let file = read("configs/daemonset.yaml");
    if embedded != file {
        let line = embedded
            .lines()
            .zip(file.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the ends".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "the ConfigMap's config.yaml differs from configs/daemonset.yaml at {line}: \
             copy the file into the ConfigMap, indented by four spaces"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The DaemonSet config's content
// ---------------------------------------------------------------------------------------

fn job<'a>(cfg: &'a Value, name: &str) -> &'a Value {
    cfg["receivers"]["prometheus"]["config"]["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .find(|j| j["job_name"] == name)
        .unwrap_or_else(|| panic!("job {name}"))
}

fn rule_with(job: &Value, pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    job["relabel_configs"]
        .as_sequence()
        .expect("relabel_configs")
        .iter()
        .find(|r| pred(r))
}

fn sources(r: &Value) -> Vec<String> {
    r.get("source_labels").map(strings).unwrap_or_default()
}

#[test]
fn daemonset_config_scrapes_its_node_and_exports_with_the_api_key() {
    let text = read("configs/daemonset.yaml");
    let cfg: Value = serde_yaml::from_str(&text).unwrap();

    // Annotated pods of this node only.
    let pods = job(&cfg, "kubernetes-pods");
    let sd = &pods["kubernetes_sd_configs"][0];
    assert_eq!(sd["role"], "pod");
    assert_eq!(sd["selectors"][0]["role"], "pod");
    assert_eq!(
        sd["selectors"][0]["field"],
        "spec.nodeName=${env:NODE_NAME}"
    );
    let keep = rule_with(pods, |r| {
        sources(r) == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    })
    .expect("the scrape annotation rule");
    assert_eq!(keep["action"], "keep");
    assert_eq!(keep["regex"], "true");
    let path = rule_with(pods, |r| r["target_label"] == "__metrics_path__").expect("path rule");
    assert_eq!(
        sources(path),
        ["__meta_kubernetes_pod_annotation_prometheus_io_path"]
    );
    let addr: Vec<&Value> = pods["relabel_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|r| r["target_label"] == "__address__")
        .collect();
    assert!(!addr.is_empty());
    for r in &addr {
        assert!(sources(r).contains(&"__meta_kubernetes_pod_annotation_prometheus_io_port".into()));
        // `$$` in the file so that the relabeler receives `$1`/`$2` after expansion.
        let rep = s(&r["replacement"]);
        assert!(
            rep.contains("$$") && !rep.replace("$$", "").contains('$'),
            "{rep}"
        );
    }
    for (label, meta) in [
        ("namespace", "__meta_kubernetes_namespace"),
        ("pod", "__meta_kubernetes_pod_name"),
    ] {
        let r = rule_with(pods, |r| r["target_label"] == label).expect(label);
        assert_eq!(sources(r), [meta]);
    }

    // The kubelet's cAdvisor endpoint on this node, https with the service-account token.
    let kubelet = job(&cfg, "kubelet-cadvisor");
    assert_eq!(kubelet["scheme"], "https");
    assert_eq!(kubelet["metrics_path"], "/metrics/cadvisor");
    let sd = &kubelet["kubernetes_sd_configs"][0];
    assert_eq!(sd["role"], "node");
    assert_eq!(sd["selectors"][0]["role"], "node");
    assert_eq!(
        sd["selectors"][0]["field"],
        "metadata.name=${env:NODE_NAME}"
    );
    let sa = "${env:SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}";
    assert_eq!(
        kubelet["authorization"]["credentials_file"],
        format!("{sa}/token").as_str()
    );
    assert_eq!(
        kubelet["tls_config"]["ca_file"],
        format!("{sa}/ca.crt").as_str()
    );
    assert_eq!(kubelet["tls_config"]["insecure_skip_verify"], true);
    assert!(
        text.contains("SANs") || text.contains("SAN"),
        "insecure_skip_verify is explained"
    );
    let addr = rule_with(kubelet, |r| r["target_label"] == "__address__").expect("address");
    assert_eq!(sources(addr), ["__meta_kubernetes_node_address_InternalIP"]);
    assert!(s(&addr["replacement"]).ends_with(":10250"));

    // OTLP in on the pod IP.
    let otlp = &cfg["receivers"]["otlp"]["protocols"];
    assert_eq!(otlp["grpc"]["endpoint"], "${env:POD_IP}:4317");
    assert_eq!(otlp["http"]["endpoint"], "${env:POD_IP}:4318");

    // memory_limiter first, then batch, in every pipeline.
    let ml = &cfg["processors"]["memory_limiter"];
    assert_eq!(ml["check_interval"], "1s");
    assert_eq!(ml["limit_percentage"].as_u64(), Some(80));
    assert_eq!(ml["spike_limit_percentage"].as_u64(), Some(25));
    let pipelines = cfg["service"]["pipelines"].as_mapping().expect("pipelines");
    assert_eq!(pipelines.len(), 3);
    for (name, p) in pipelines {
        assert_eq!(
            strings(&p["processors"]),
            vec!["memory_limiter".to_string(), "batch".to_string()],
            "{name:?}"
        );
        assert_eq!(strings(&p["exporters"]), vec!["otlp_grpc".to_string()]);
    }
    assert_eq!(
        strings(&cfg["service"]["pipelines"]["metrics"]["receivers"]),
        vec!["otlp".to_string(), "prometheus".to_string()]
    );

    // The backend from the environment, the key as a bearer token.
    let exp = &cfg["exporters"]["otlp_grpc"];
    assert_eq!(exp["endpoint"], "${env:OTLP_ENDPOINT}");
    assert_eq!(
        exp["headers"]["authorization"],
        "Bearer ${env:OTLP_API_KEY}"
    );
    assert_eq!(cfg["service"]["extensions"][0], "health_check");
    let reader =
        &cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"];
    assert_eq!(reader["host"], "${env:POD_IP}");
    assert_eq!(reader["port"].as_u64(), Some(8888));
    // Nothing binds localhost or 0.0.0.0 in the node agent.
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(
            !line.contains("localhost") && !line.contains("0.0.0.0"),
            "{line}"
        );
    }
}

#[test]
fn two_port_problem_shows_push_and_scrape_by_port_name() {
    let cfg: Value = serde_yaml::from_str(&read("configs/two-port-problem.yaml")).unwrap();
    assert_eq!(
        cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "${env:POD_IP}:4317"
    );
    let metrics = strings(&cfg["service"]["pipelines"]["metrics"]["receivers"]);
    assert!(metrics.contains(&"otlp".to_string()) && metrics.contains(&"prometheus".to_string()));
    let ports = job(&cfg, "kubernetes-pod-ports");
    let by_name = rule_with(ports, |r| {
        sources(r) == ["__meta_kubernetes_pod_container_port_name"] && r["action"] == "keep"
    })
    .expect("a keep rule on the container port name");
    assert!(by_name["regex"].is_string());
    let text = read("configs/two-port-problem.yaml");
    assert!(text.contains("OTEL_EXPORTER_OTLP_ENDPOINT") && text.contains("status.hostIP"));
}

#[test]
fn local_and_gateway_configs_have_their_shape() {
    let local: Value = serde_yaml::from_str(&read("configs/local.yaml")).unwrap();
    assert_eq!(
        local["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "localhost:4317"
    );
    assert_eq!(
        job(&local, "metrics-app")["static_configs"][0]["targets"][0],
        "localhost:2112"
    );
    assert!(local["exporters"].get("debug").is_some());

    let gw: Value = serde_yaml::from_str(&read("configs/gateway.yaml")).unwrap();
    let receivers: Vec<String> = gw["receivers"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| s(k).to_string())
        .collect();
    assert_eq!(receivers, vec!["otlp".to_string()], "OTLP only");
    for (_, p) in gw["service"]["pipelines"].as_mapping().unwrap() {
        assert_eq!(strings(&p["receivers"]), vec!["otlp".to_string()]);
        assert_eq!(
            strings(&p["processors"]),
            vec!["memory_limiter".to_string(), "batch".to_string()]
        );
        let exporters = strings(&p["exporters"]);
        assert!(exporters
            .iter()
            .all(|e| e.starts_with("otlp_http") || e.starts_with("otlp_grpc")));
    }
}

#[test]
fn dockerfile_builds_locked_and_runs_distroless_non_root() {
    let text = read("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(
        froms[0].starts_with("FROM rust:1-bookworm "),
        "{}",
        froms[0]
    );
    assert_eq!(froms[1], "FROM gcr.io/distroless/cc-debian12:nonroot");
    assert!(text.contains("cargo build --release --locked"));
    // The final stage: no shell to RUN anything, non-root, ferrocol as the entrypoint.
    let last = text.rfind("\nFROM ").expect("final stage");
    let final_stage = &text[last..];
    assert!(!final_stage.contains("\nRUN "), "distroless has no shell");
    assert!(
        !final_stage.contains("\nVOLUME"),
        "nothing is written to disk"
    );
    assert!(final_stage.contains("\nUSER 65532"));
    assert!(final_stage.contains("\nENTRYPOINT [\"/ferrocol\"]\n"));
    assert!(final_stage.contains("\nCMD [\"--config\", \"/conf/config.yaml\"]"));
    // The build context leaves out the build output.
    let ignore = read(".dockerignore");
    assert!(ignore
        .lines()
        .any(|l| l.trim() == "/target" || l.trim() == "target"));
}

/// A Dockerfile's instructions: continuation lines joined, comments and blank lines dropped,
/// as (INSTRUCTION, arguments).
fn dockerfile(rel: &str) -> Vec<(String, String)> {
    let text = read(rel);
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part.trim());
                current.push(' ');
            }
            None => {
                current.push_str(t);
                let (ins, args) = current.split_once(' ').unwrap_or((current.as_str(), ""));
                out.push((ins.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    assert!(current.is_empty(), "{rel} ends inside a continuation");
    out
}

/// The exec-form list of an ENTRYPOINT or CMD (`["a", "b"]`).
/// The arguments of the first `name` instruction of a stage.
fn instruction<'a>(stage: &'a [(String, String)], name: &str) -> &'a str {
    stage
        .iter()
        .find(|(i, _)| i == name)
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"))
}

#[test]
fn demo_app_dockerfile_builds_the_example_the_deployment_runs() {
    let file = "examples/metrics-app/Dockerfile";
    let ins = dockerfile(file);
    let froms: Vec<&String> = ins
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    let build_stage = froms[0]
        .split_once(" AS ")
        .or_else(|| froms[0].split_once(" as "))
        .map(|(_, name)| name.trim().to_string())
        .expect("a named build stage");
    assert!(froms[0].starts_with("rust:1-bookworm "), "{}", froms[0]);
    assert_eq!(froms[1], "gcr.io/distroless/cc-debian12:nonroot");

    // The build stage builds the example, locked, and stages its binary.
    let last_from = ins.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let (build, fin) = ins.split_at(last_from);
    let runs: Vec<&String> = build
        .iter()
        .filter(|(i, _)| i == "RUN")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        runs[0].contains("cargo build --release --locked --example metrics-app"),
        "{}",
        runs[0]
    );
    assert!(runs[0].contains("cp target/release/examples/metrics-app /out/metrics-app"));

    // The final stage: copies that binary, no shell, no volume, non-root, port 2112.
    assert!(
        fin.iter().all(|(i, _)| i != "RUN" && i != "VOLUME"),
        "{fin:?}"
    );
    let copy = instruction(fin, "COPY");
    assert_eq!(
        copy,
        format!("--from={build_stage} /out/metrics-app /metrics-app")
    );
    let user = instruction(fin, "USER");
    let uid: u64 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric USER, so that runAsNonRoot can verify it");
    assert_ne!(uid, 0);
    assert_eq!(instruction(fin, "EXPOSE"), "2112");
    assert_eq!(
        exec_form(instruction(fin, "ENTRYPOINT")),
        vec!["/metrics-app".to_string()]
    );
    let cmd = exec_form(instruction(fin, "CMD"));

    // The Deployment runs this image with the same arguments, as the same user, read-only.
    let docs = documents("manifests/deployment.yaml");
    let pod = &object(&docs, "Deployment")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "ferrocol-metrics-app:latest");
    assert!(c.get("command").is_none(), "the image's ENTRYPOINT runs");
    assert_eq!(
        strings(&c["args"]),
        cmd,
        "the Deployment's args are the image's CMD"
    );
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(uid));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(2112));
    let listen = cmd
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| cmd.get(i + 1))
        .expect("--listen in CMD");
    assert_eq!(
        listen, "0.0.0.0:2112",
        "all interfaces: the agent scrapes the pod IP"
    );

    // The documented build command tags the image the Deployment uses.
    let build_cmd =
        "docker build -f examples/metrics-app/Dockerfile -t ferrocol-metrics-app:latest .";
    for doc in ["docs/NODE_AGENT.md", "README.md", file] {
        assert!(read(doc).contains(build_cmd), "{doc} shows `{build_cmd}`");
    }
}

#[test]
fn ferrocol_dockerfile_has_a_numeric_non_root_user_and_exec_form_entrypoint() {
    let ins = dockerfile("Dockerfile");
    let last_from = ins.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let fin = &ins[last_from..];
    let user = instruction(fin, "USER");
    assert_eq!(user, "65532:65532");
    let ds = agent();
    let pod = &object(&ds, "DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["runAsUser"].as_u64(),
        Some(65532),
        "the DaemonSet runs as the image's user"
    );
    let entry = exec_form(instruction(fin, "ENTRYPOINT"));
    assert_eq!(entry, vec!["/ferrocol".to_string()]);
}

#[test]
fn node_agent_doc_links_resolve() {
    let doc = read("docs/NODE_AGENT.md");
    let mut checked = 0;
    for piece in doc.split("](").skip(1) {
        let target = piece.split(')').next().unwrap_or("");
        if target.starts_with("http") || target.starts_with('#') || target.is_empty() {
            continue;
        }
        let path = target.split('#').next().unwrap_or("");
        assert!(
            root().join("docs").join(path).exists(),
            "docs/NODE_AGENT.md links to {target}, which does not exist"
        );
        checked += 1;
    }
    assert!(checked >= 3, "the doc links the manifests and configs");
    for topic in [
        "localhost",
        "nodes/proxy",
        "status.hostIP",
        "--unsupported-components",
    ] {
        assert!(doc.contains(topic), "docs/NODE_AGENT.md covers {topic}");
    }
}

// ---------------------------------------------------------------------------------------
// `ferrocol validate` on every shipped config
// ---------------------------------------------------------------------------------------

/// A pod's service-account directory (a token and the test CA) in a temporary directory.
fn service_account_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sa = write_service_account(dir.path(), "test-service-account-token");
    (dir, sa)
}

/// `ferrocol validate --config <file>` with the environment a DaemonSet pod would have.
fn validate(file: &Path, extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocol"));
    cmd.arg("validate")
        .arg("--config")
        .arg(file)
        .env_remove("KUBECONFIG")
        .env_remove("SA_DIR")
        .env_remove("SCRAPE_INTERVAL")
        .env_remove("OTLP_INSECURE")
        .env("NODE_NAME", "node-a")
        .env("POD_IP", "127.0.0.1")
        .env("OTLP_ENDPOINT", "https://otlp.example.com:4317")
        .env("OTLP_API_KEY", "test-api-key");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("run ferrocol validate")
}

#[test]
fn every_shipped_config_validates_without_warnings() {
    let (sa_root, sa) = service_account_dir();
    let sa_dir = sa.to_str().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for name in ["daemonset", "local", "gateway", "two-port-problem"] {
        assert!(
            files.iter().any(|f| f.ends_with(format!("{name}.yaml"))),
            "configs/{name}.yaml"
        );
    }
    for file in &files {
        let out = validate(file, &[("SA_DIR", sa_dir)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "ferrocol validate {}: {stderr}",
            file.display()
        );
        assert!(
            !stderr.contains("Warning"),
            "{}: warnings: {stderr}",
            file.display()
        );
    }
    // The ConfigMap's own copy, as the pod reads it.
    let docs = agent();
    let embedded = object(&docs, "ConfigMap")["data"]["config.yaml"].clone();
    let copy = sa_root.path().join("config.yaml");
    std::fs::write(&copy, s(&embedded)).unwrap();
    let out = validate(&copy, &[("SA_DIR", sa_dir)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kubelet_job_files_default_to_the_pods_service_account() {
    let default = Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token");
    if default.exists() {
        return; // running inside a pod: the default path is real there
    }
    let out = validate(&root().join("configs/daemonset.yaml"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/var/run/secrets/kubernetes.io/serviceaccount/token")
            && stderr.contains("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// Kubernetes schemas (offline)
// ---------------------------------------------------------------------------------------

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let probe = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--version"])
        .output();
    let installed = probe.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "kubernetes-validate is missing: run scripts/setup-manifest-deps.sh"
    );
    for file in ["manifests/otel-daemonset.yaml", "manifests/deployment.yaml"] {
        let objects: Vec<(String, String)> = documents(file)
            .iter()
            .map(|d| {
                (
                    s(&d["kind"]).to_lowercase(),
                    s(&d["metadata"]["name"]).to_string(),
                )
            })
            .collect();
        for version in KUBERNETES_VERSIONS {
            let out = Command::new("python3")
                .args(["-m", "kubernetes_validate", "-k", version, "--strict"])
                .arg(root().join(file))
                .output()
                .expect("run kubernetes-validate");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{file} against {version}:\n{text}");
            // It exits 0 on some fatal errors (an unknown version), so read what it says.
            for bad in ["ERROR", "FATAL", "WARN"] {
                assert!(!text.contains(bad), "{file} against {version}:\n{text}");
            }
            for (kind, name) in &objects {
                assert!(
                    text.contains(&format!("passed for resource {kind}/{name} ")),
                    "{file}: {kind}/{name} not validated against {version}:\n{text}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The shipped configs, running
// ---------------------------------------------------------------------------------------

/// A ferrocol process started from a shipped config file; killed on drop.
struct Agent {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(config: &str, env: &[(&str, String)]) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrocol"))
            .arg("--config")
            .arg(root().join(config))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ferrocol");
        Agent {
            child,
            log,
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment of an agent on `node` with pod IP `ip`, discovering through a kubeconfig
/// that points at the fake API server, exporting to the sink.
fn agent_env(
    node: &str,
    ip: &str,
    kubeconfig: &Path,
    sa: &Path,
    sink: &Sink,
) -> Vec<(&'static str, String)> {
    AgentEnv {
        node,
        ip,
        kubeconfig,
        service_account: sa,
        sink,
        interval: "1s",
        api_key: "test-api-key",
    }
    .vars()
}

/// Serves `body` at `path` on `ip` (a free port); every other path is a 404.
async fn target(ip: &str, path: &'static str, body: String) -> u16 {
    let l = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .expect("bind target");
    let port = l.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        path,
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "text/plain; version=0.0.4")], body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    port
}

fn counter(name: &str, value: u32) -> String {
    format!("# TYPE {name} counter\n{name} {value}\n")
}

fn pod(name: &str, node: &str, ip: &str, annotations: Json, ports: Json) -> Json {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                        "labels": {"app": name}, "annotations": annotations},
           "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1",
                    "ports": ports}]},
           "status": {"phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
                      "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn received(sink: &Sink) -> Vec<Point> {
    points(&sink.rec().metrics)
}

/// GET over plain HTTP; the status code, or None if nothing answers.
async fn http_status(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// A TLS listener for axum (handshakes inline; failed ones are skipped).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(s) = self.acceptor.accept(tcp).await {
                return (s, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A fake kubelet: https on `ip:10250` with a self-signed certificate that names no IP (as
/// kubelet serving certificates often do), serving cAdvisor metrics at /metrics/cadvisor and
/// recording the Authorization headers it receives.
async fn fake_kubelet(ip: &str) -> Arc<Mutex<Vec<String>>> {
    support::init();
    let ck = rcgen::generate_simple_self_signed(vec!["kubelet.test".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/metrics/cadvisor",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                record.lock().unwrap().push(auth);
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    "# TYPE container_cpu_usage_seconds_total counter\n\
                     container_cpu_usage_seconds_total{container=\"app\"} 12.5\n",
                )
            }
        }),
    );
    let listener = TlsListener {
        tcp: tokio::net::TcpListener::bind(format!("{ip}:10250"))
            .await
            .expect("bind the fake kubelet"),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(cfg)),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonset_config_runs_as_a_node_agent() {
    // Loopback addresses of this test alone: the agent's pod IP, the pods, the node.
    const AGENT_IP: &str = "127.0.213.1";
    const NODE_IP: &str = "127.0.214.250";
    let sink = Sink::start().await;
    let api = FakeApiServer::start().await;
    let kubelet = fake_kubelet(NODE_IP).await;

    // app-a: annotated, with a custom path and a port other than its declared one.
    let pa = target(
        "127.0.214.1",
        "/custom/metrics",
        counter("myapp_processed_ops_total", 42),
    )
    .await;
    let pq = target("127.0.214.2", "/metrics", counter("quiet_total", 1)).await;
    let pb = target("127.0.214.3", "/metrics", counter("other_node_total", 1)).await;
    api.add(node("node-a", NODE_IP));
    api.add(node("node-b", "127.0.214.251"));
    api.add(pod(
        "app-a",
        "node-a",
        "127.0.214.1",
        json!({"prometheus.io/scrape": "true", "prometheus.io/port": pa.to_string(),
               "prometheus.io/path": "/custom/metrics"}),
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"},
               {"name": "grpc", "containerPort": 9090, "protocol": "TCP"}]),
    ));
    api.add(pod(
        "quiet",
        "node-a",
        "127.0.214.2",
        json!({}),
        json!([{"name": "metrics", "containerPort": pq, "protocol": "TCP"}]),
    ));
    api.add(pod(
        "other",
        "node-b",
        "127.0.214.3",
        json!({"prometheus.io/scrape": "true", "prometheus.io/port": pb.to_string()}),
        json!([{"name": "metrics", "containerPort": pb, "protocol": "TCP"}]),
    ));

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &api, "abc");
    let (_sa_root, sa) = service_account_dir();
    let agent = Agent::start(
        "configs/daemonset.yaml",
        &agent_env("node-a", AGENT_IP, &kubeconfig, &sa, &sink),
    );

    // The probes' endpoint answers 200 on the pod IP; self-metrics on :8888.
    let health = format!("http://{AGENT_IP}:13133/");
    let mut up = None;
    for _ in 0..200 {
        up = http_status(&health).await;
        if up == Some(200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(up, Some(200), "health_check:\n{}", agent.stderr());
    assert_eq!(
        http_status(&format!("http://{AGENT_IP}:8888/metrics")).await,
        Some(200)
    );

    // An app on the node pushes OTLP to the agent's pod IP (what hostPort forwards to).
    let mut client = MetricsServiceClient::connect(format!("http://{AGENT_IP}:4317"))
        .await
        .expect("connect to the agent's OTLP receiver");
    client
        .export(support::data::metrics("pushed-app", 0..3))
        .await
        .expect("push OTLP");

    // The annotated pod of node-a (at its annotated port and path), and the kubelet.
    let got = wait_for(Duration::from_secs(20), || {
        let p = received(&sink);
        let scraped = p.iter().any(|p| p.metric == "myapp_processed_ops_total");
        let cadvisor = p
            .iter()
            .any(|p| p.metric == "container_cpu_usage_seconds_total");
        let pushed = p.iter().any(|p| p.res("service.name") == "pushed-app");
        (scraped && cadvisor && pushed).then_some(p)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "not everything arrived: {:?}\n{}",
            received(&sink)
                .iter()
                .map(|p| (p.metric.clone(), p.res("service.name").to_string()))
                .collect::<BTreeSet<_>>(),
            agent.stderr()
        )
    });
    // Let a few more scrapes happen, then look at everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = received(&sink);
    let _ = got;

    let app: Vec<&Point> = all
        .iter()
        .filter(|p| p.metric == "myapp_processed_ops_total")
        .collect();
    for p in &app {
        assert_eq!(p.res("service.name"), "kubernetes-pods");
        assert_eq!(p.get("namespace"), Some("shop"), "{p:?}");
        assert_eq!(p.get("pod"), Some("app-a"), "{p:?}");
        assert_eq!(p.get("node"), Some("node-a"), "{p:?}");
    }
    // One target per pod, whatever its declared ports.
    let instances: BTreeSet<Option<&str>> =
        app.iter().map(|p| p.get("service.instance.id")).collect();
    assert_eq!(
        instances,
        BTreeSet::from([Some(format!("127.0.214.1:{pa}").as_str())]),
        "{app:?}"
    );
    for absent in ["quiet_total", "other_node_total"] {
        assert!(
            all.iter().all(|p| p.metric != absent),
            "{absent} must not be scraped"
        );
    }
    let cadvisor = all
        .iter()
        .find(|p| p.metric == "container_cpu_usage_seconds_total")
        .unwrap();
    assert_eq!(cadvisor.res("service.name"), "kubelet-cadvisor");
    // The node role names the instance after the node; the address was the InternalIP.
    assert_eq!(cadvisor.get("service.instance.id"), Some("node-a"));
    assert_eq!(cadvisor.get("node"), Some("node-a"));
    let auth = kubelet.lock().unwrap().clone();
    assert!(!auth.is_empty());
    assert!(
        auth.iter()
            .all(|a| a == "Bearer test-service-account-token"),
        "{auth:?}"
    );

    // Every export carries the API key.
    let rec = sink.rec();
    assert!(!rec.grpc_metadata.is_empty());
    for md in &rec.grpc_metadata {
        assert_eq!(
            md.get("authorization").and_then(|v| v.to_str().ok()),
            Some("Bearer test-api-key")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_port_config_scrapes_both_named_ports() {
    const AGENT_IP: &str = "127.0.213.2";
    let sink = Sink::start().await;
    let api = FakeApiServer::start().await;
    let business = target("127.0.215.1", "/metrics", counter("business_ops_total", 7)).await;
    let auto = target(
        "127.0.215.1",
        "/metrics",
        counter("auto_http_requests_total", 3),
    )
    .await;
    let web = target("127.0.215.1", "/metrics", counter("not_metrics_total", 1)).await;
    let single = target("127.0.215.2", "/metrics", counter("single_port_total", 5)).await;
    api.add(pod(
        "two",
        "node-a",
        "127.0.215.1",
        json!({"prometheus.io/scrape": "true"}),
        json!([{"name": "metrics", "containerPort": business, "protocol": "TCP"},
               {"name": "otel-metrics", "containerPort": auto, "protocol": "TCP"},
               {"name": "http", "containerPort": web, "protocol": "TCP"}]),
    ));
    // Names its port in the annotation (and calls it `metrics`): the annotation job only.
    api.add(pod(
        "one",
        "node-a",
        "127.0.215.2",
        json!({"prometheus.io/scrape": "true", "prometheus.io/port": single.to_string()}),
        json!([{"name": "metrics", "containerPort": single, "protocol": "TCP"}]),
    ));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &api, "abc");
    let (_sa_root, sa) = service_account_dir();
    let agent = Agent::start(
        "configs/two-port-problem.yaml",
        &agent_env("node-a", AGENT_IP, &kubeconfig, &sa, &sink),
    );
    let got = wait_for(Duration::from_secs(20), || {
        let p = received(&sink);
        let names: BTreeSet<&str> = p.iter().map(|p| p.metric.as_str()).collect();
        [
            "business_ops_total",
            "auto_http_requests_total",
            "single_port_total",
        ]
        .iter()
        .all(|n| names.contains(n))
        .then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "both ports and the single-port pod:\n{}",
        agent.stderr()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = received(&sink);
    for (metric, port) in [
        ("business_ops_total", "metrics"),
        ("auto_http_requests_total", "otel-metrics"),
    ] {
        for p in all.iter().filter(|p| p.metric == metric) {
            assert_eq!(p.res("service.name"), "kubernetes-pod-ports");
            assert_eq!(p.get("port_name"), Some(port), "{p:?}");
            assert_eq!(p.get("pod"), Some("two"), "{p:?}");
        }
    }
    assert!(all.iter().all(|p| p.metric != "not_metrics_total"));
    let single: BTreeSet<&str> = all
        .iter()
        .filter(|p| p.metric == "single_port_total")
        .map(|p| p.res("service.name"))
        .collect();
    assert_eq!(single, BTreeSet::from(["kubernetes-pods"]));
}
