//! Integration-test harness: a ferrocol process started from a YAML config on free loopback
//! ports, an OTLP sink (gRPC and HTTP servers recording what arrives, with scriptable
//! failures), OTLP clients, numbered test data whose content the tests check, the demo app
//! (examples/metrics-app) as a process, and received metric points flattened for assertions.

#![allow(dead_code)]

pub mod cluster;
pub mod data;
pub mod demo_app;
pub mod points;
pub mod process;
pub mod sink;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// The project's root directory (configs, manifests, testdata).
pub fn root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the process-wide rustls crypto provider (ring), as `main` does; reqwest and tonic
/// clients in tests need it. Idempotent.
pub fn init() {
    ferrocol::ensure_crypto_provider();
}

/// Sends SIGTERM to `child` and waits at most `within` for its exit status; on timeout it is
/// killed, reaped, and None is returned.
pub async fn terminate_child(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let end = Instant::now() + within;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback TCP port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads one sample value from a Prometheus text exposition (`name{labels} value`): the sum
/// over every series of `name` whose label text contains all of `label_parts`.
pub fn metric_value(text: &str, name: &str, label_parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let series = l.split_whitespace().next().unwrap_or("");
            let n = series.split('{').next().unwrap_or("");
            n == name && label_parts.iter().all(|p| series.contains(p))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}
pub mod fake_apiserver;
