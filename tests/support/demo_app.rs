//! The demo app (`examples/metrics-app`) as a child process.
//!
//! `DemoBinary::build()` runs `cargo build --example metrics-app` with the profile and target
//! directory of the running test binary (a no-op when it is fresh, and the only way to be sure
//! the binary matches this checkout when several checkouts share one target directory), then
//! hard-links the result into `CARGO_TARGET_TMPDIR` so that another checkout's build cannot
//! replace it while the test runs; the link is removed on drop. `DemoApp` is one running
//! instance: stderr captured to a file, readiness by polling `/metrics`, SIGTERM with a bounded
//! wait, killed on drop (also when the test panics).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long the nested `cargo build` may take (it waits for cargo's lock on the target
/// directory, which other builds may hold).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// Variables cargo (and cargo-nextest) set for a test process, besides `CARGO_PKG_*` and
/// `CARGO_BIN_EXE_*`.
const SET_FOR_TESTS: &[&str] = &[
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// A private link to the demo app's executable, removed on drop.
pub struct DemoBinary {
    path: PathBuf,
}

impl DemoBinary {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command running the binary in an environment from which every inherited `OTEL_*`
    /// variable is removed (a developer's own OTLP settings must not leak into a test).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Builds the example with the running test binary's profile and target directory and
    /// links the result to a private path.
    pub fn build() -> DemoBinary {
        let exe = std::env::current_exe().expect("the test binary's path");
        // <target>[/<triple>]/<profile>/deps/<test>-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary sits in <profile>/deps");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("profile directory name");
        let mut target_dir = profile_dir.parent().expect("target directory");
        let mut triple = None;
        if !target_dir.join("CACHEDIR.TAG").exists() {
            if let Some(up) = target_dir
                .parent()
                .filter(|d| d.join("CACHEDIR.TAG").exists())
            {
                triple = target_dir.file_name().and_then(|n| n.to_str());
                target_dir = up;
            }
        }
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", "metrics-app"])
            .args(["--message-format", "json-render-diagnostics"])
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", target_dir);
        // The variables cargo sets for a test process describe this test, not the build: some
        // build scripts track one (ring's tracks CARGO_MANIFEST_DIR), and a value cargo's own
        // environment did not have would make the nested build rebuild them and everything
        // above (and the next outer build rebuild them back).
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if SET_FOR_TESTS.iter().any(|v| k == *v)
                || k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_EXE_")
            {
                cmd.env_remove(k.as_ref());
            }
        }
        match profile {
            "debug" => cmd.args(["--profile", "dev"]),
            other => cmd.args(["--profile", other]),
        };
        if let Some(t) = triple {
            cmd.args(["--target", t]);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
        let mut child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("run cargo build --example metrics-app");
        let end = Instant::now() + BUILD_TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait for cargo") {
                break st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cargo build --example metrics-app took over {BUILD_TIMEOUT:?}:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stdout = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(
            status.success(),
            "cargo build --example metrics-app failed:\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        let built = stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "metrics-app")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo reported no metrics-app executable:\n{stdout}"));

        let links = Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-app-links");
        std::fs::create_dir_all(&links).expect("create the link directory");
        remove_stale_links(&links);
        let path = links.join(format!(
            "metrics-app-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        if std::fs::hard_link(&built, &path).is_err() {
            std::fs::copy(&built, &path).expect("copy the demo app binary");
        }
        DemoBinary { path }
    }
}

impl Drop for DemoBinary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Links left behind by test processes that were killed (older than a day).
fn remove_stale_links(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(86_400));
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// One running demo app.
pub struct DemoApp {
    child: Option<Child>,
    pub listen: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl DemoApp {
    /// Starts the app serving on `listen`, with `args` after `--listen` and `env` added to an
    /// environment from which every inherited `OTEL_*` variable is removed. Does not wait.
    pub fn spawn(
        bin: &DemoBinary,
        listen: SocketAddr,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> DemoApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("stderr.log");
        let mut cmd = bin.command();
        cmd.arg("--listen").arg(listen.to_string()).args(args);
        let child = cmd
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start the demo app");
        DemoApp {
            child: Some(child),
            listen,
            log,
            _dir: dir,
        }
    }

    /// Starts the app and waits (bounded) until `/metrics` answers.
    pub async fn start(
        bin: &DemoBinary,
        listen: SocketAddr,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> DemoApp {
        let mut app = Self::spawn(bin, listen, args, env);
        app.wait_ready().await;
        app
    }

    /// Waits (at most 20 s) until `/metrics` answers; panics with the app's log otherwise.
    pub async fn wait_ready(&mut self) {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.scrape(None).await.is_some() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("the demo app exited with {st}:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the demo app on {} did not answer:\n{}",
            self.listen,
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET /metrics with an optional Accept header: (content type, body) on a 200.
    pub async fn scrape(&self, accept: Option<&str>) -> Option<(String, String)> {
        let client = reqwest::Client::new();
        let mut req = client.get(format!("http://{}/metrics", self.listen));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let resp = req.timeout(Duration::from_secs(5)).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Some((ct, resp.text().await.ok()?))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        match super::terminate_child(&mut child, Duration::from_secs(30)).await {
            Some(st) => st,
            None => panic!(
                "the demo app did not exit after SIGTERM:\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
