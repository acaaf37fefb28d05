//! A node agent's surroundings in a simulated cluster: Node objects for the fake API server,
//! a kubeconfig pointing at it, a pod's service-account directory, and the environment the
//! shipped DaemonSet gives the agent container (`configs/daemonset.yaml`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};

use super::fake_apiserver::FakeApiServer;
use super::root;
use super::sink::Sink;

/// A Node with its internal IP and the kubelet port.
pub fn node(name: &str, internal_ip: &str) -> Json {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": format!("uid-{name}")},
           "status": {"addresses": [{"type": "InternalIP", "address": internal_ip},
                                    {"type": "Hostname", "address": name}],
                      "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})
}

/// A kubeconfig pointing at the fake API server with a bearer `token`, as a user outside the
/// cluster has one.
pub fn write_kubeconfig(dir: &Path, api: &FakeApiServer, token: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
         contexts:\n- name: fake\n  context: {{cluster: fake, user: agent}}\n\
         current-context: fake\nusers:\n- name: agent\n  user: {{token: {token}}}\n",
        api.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A service-account directory under `dir`: `token`, the test CA and the namespace, as
/// Kubernetes mounts them in a pod.
pub fn write_service_account(dir: &Path, token: &str) -> PathBuf {
    let sa = dir.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), token).unwrap();
    std::fs::copy(
        root().join("src/receivers/otlp/testdata/ca.crt"),
        sa.join("ca.crt"),
    )
    .unwrap();
    std::fs::write(sa.join("namespace"), "observability").unwrap();
    sa
}

/// What an agent on `node` with pod IP `ip` needs to run the shipped DaemonSet config:
/// discovery through `kubeconfig`, export to `sink` with `api_key`, scraping every `interval`.
pub struct AgentEnv<'a> {
    pub node: &'a str,
    pub ip: &'a str,
    pub kubeconfig: &'a Path,
    pub service_account: &'a Path,
    pub sink: &'a Sink,
    pub interval: &'a str,
    pub api_key: &'a str,
}

impl AgentEnv<'_> {
    /// The environment variables the config reads.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NODE_NAME", self.node.to_string()),
            ("POD_IP", self.ip.to_string()),
            ("KUBECONFIG", self.kubeconfig.display().to_string()),
            ("SA_DIR", self.service_account.display().to_string()),
            ("SCRAPE_INTERVAL", self.interval.to_string()),
            (
                "OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", self.sink.grpc_addr.port()),
            ),
            ("OTLP_INSECURE", "true".to_string()),
            ("OTLP_API_KEY", self.api_key.to_string()),
        ]
    }
}
