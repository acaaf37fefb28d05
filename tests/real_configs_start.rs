//! The real-world corpus, started: every entry `EXPECTED.tsv` calls `valid` must start and stay
//! up 5 s (its health_check answering 200 where one is configured), and every `unsupported`
//! entry must do the same with `--unsupported-components=disable` (except those where nothing
//! would be left to run: 15, 16, 23, 24). Each run happens in its own network namespace
//! (`unshare -n`, as root) with loopback up and the IPv4 addresses of its `.env` values added
//! to it, so `${env:MY_POD_IP}:4317` binds and runs never collide on ports, and its own mount
//! namespace with a fake service-account directory (token, CA, namespace) as in a pod; the
//! Kubernetes API it points at is unreachable, so discovery keeps retrying while the rest runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const NOTHING_LEFT: &[&str] = &[
    "15-contrib-datadog-k8s-agent.yaml",
    "16-aws-otel-eks-prometheus.yaml",
    "23-kyma-metric-agent-prometheus.yaml",
    "24-nrdot-k8s-daemonset.yaml",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/real-configs")
}

fn env_of(file: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(file.with_extension("env"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ipv4s(env: &HashMap<String, String>) -> Vec<String> {
    let mut out: Vec<String> = env
        .values()
        .filter(|v| v.parse::<std::net::Ipv4Addr>().is_ok())
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The health_check endpoint of a config, if it is started (listed in service.extensions).
fn health_endpoint(file: &Path, env: &HashMap<String, String>) -> Option<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    let listed = doc["service"]["extensions"]
        .as_sequence()
        .is_some_and(|s| s.iter().any(|e| e.as_str() == Some("health_check")));
    if !listed {
        return None;
    }
    let hc = &doc["extensions"]["health_check"];
    let mut ep = hc["endpoint"]
        .as_str()
        .unwrap_or("localhost:13133")
        .to_string();
    for (k, v) in env {
        ep = ep
            .replace(&format!("${{env:{k}}}"), v)
            .replace(&format!("${{{k}}}"), v);
    }
    let path = hc["path"].as_str().unwrap_or("/");
    let ep = ep
        .replace("0.0.0.0", "127.0.0.1")
        .replace("localhost", "127.0.0.1");
    Some(format!("http://{ep}{path}"))
}

const SCRIPT: &str = r#"
set -u
ip link set lo up || exit 90
for ip in $IPS; do ip addr add "$ip/32" dev lo || exit 91; done
# A pod's service-account directory (the kubelet jobs check their token and CA files exist).
mount -t tmpfs tmpfs /run || exit 92
sa=/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$sa" && printf 'fake-token' > "$sa/token" && cp "$CA_FILE" "$sa/ca.crt" && printf 'default' > "$sa/namespace" || exit 93
"$BIN" --config "$CFG" $FLAGS >/dev/null 2>"$LOG" &
pid=$!
sleep 5
if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; echo "EXITED EARLY status=$?"; exit 1; fi
if [ -n "$HEALTH" ]; then
  code=$(curl -s -o /dev/null -w '%{http_code}' "$HEALTH")
  echo "HEALTH $code"
fi
kill -TERM "$pid"
wait "$pid"
echo "EXIT $?"
"#;

fn run(file: &str, disable: bool) -> Result<(), String> {
    let path = corpus().join(file);
    let env = env_of(&path);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("stderr.log");
    let health = health_endpoint(&path, &env).unwrap_or_default();
    let out = Command::new("unshare")
        .args(["-m", "-n", "bash", "-c", SCRIPT])
        .env(
            "CA_FILE",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/receivers/otlp/testdata/ca.crt"
            ),
        )
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", "6443")
        .envs(&env)
        .env("IPS", ipv4s(&env).join(" "))
        .env("BIN", env!("CARGO_BIN_EXE_ferrocol"))
        .env("CFG", &path)
        .env(
            "FLAGS",
            if disable {
                "--unsupported-components=disable"
            } else {
                ""
            },
        )
        .env("LOG", &log)
        .env("HEALTH", &health)
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = stderr
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    if !out.status.success() || !stdout.contains("EXIT 0") {
        return Err(format!(
            "{file}: {stdout}{}\n{tail}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if !health.is_empty() && !stdout.contains("HEALTH 200") {
        return Err(format!(
            "{file}: health_check at {health} did not answer 200: {stdout}\n{tail}"
        ));
    }
    if disable && !stderr.contains("Component disabled") {
        return Err(format!(
            "{file}: the disabled components were not reported:\n{tail}"
        ));
    }
    Ok(())
}

#[test]
fn real_world_configs_start_and_stay_up() {
    let expected = std::fs::read_to_string(corpus().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let jobs: Vec<(String, bool)> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut c = l.split('\t');
            Some((c.next()?.to_string(), c.next()?.to_string()))
        })
        .filter_map(|(file, verdict)| match verdict.as_str() {
            "valid" => Some((file, false)),
            "unsupported" if !NOTHING_LEFT.contains(&file.as_str()) => Some((file, true)),
            _ => None,
        })
        .collect();
    assert!(jobs.len() >= 15, "{}", jobs.len());
    // Four at a time: each run is mostly a 5 s wait.
    let mut failures = Vec::new();
    for chunk in jobs.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|(f, d)| std::thread::spawn(move || run(&f, d)))
            .collect();
        for h in handles {
            if let Err(e) = h.join().unwrap_or_else(|_| Err("thread panicked".into())) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
