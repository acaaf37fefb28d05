//! A ferrocol process under test: written config (or a shipped config file used as it is),
//! free ports, stderr captured to a file, readiness by polling the self-metrics endpoint,
//! SIGTERM and exit status.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Collector {
    pub child: Option<Child>,
    /// Where the self-metrics endpoint listens (127.0.0.1 unless the config says otherwise).
    pub metrics_host: String,
    pub metrics_port: u16,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Collector {
    /// Starts ferrocol with `yaml` (the placeholder `METRICS_PORT` is replaced by a free port
    /// for the self-metrics endpoint) and waits until the self-metrics endpoint answers.
    pub async fn start(yaml: &str) -> Collector {
        Self::start_args(yaml, &[]).await
    }

    pub async fn start_args(yaml: &str, args: &[&str]) -> Collector {
        Self::launch(yaml, args, &[]).await
    }

    /// Starts with extra environment variables for the child (the test's own environment is
    /// never changed).
    pub async fn start_env(yaml: &str, env: &[(&str, &str)]) -> Collector {
        Self::launch(yaml, &[], env).await
    }

    async fn launch(yaml: &str, args: &[&str], env: &[(&str, &str)]) -> Collector {
        let metrics_port = super::free_port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yaml");
        let yaml = yaml.replace("METRICS_PORT", &metrics_port.to_string());
        let yaml = if yaml.contains("telemetry:") {
            yaml
        } else {
            format!("{yaml}\n  telemetry:\n    metrics:\n      readers:\n        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics_port}}}}}}}\n")
        };
        std::fs::write(&cfg, &yaml).unwrap();
        Self::spawn(&cfg, dir, args, env, "127.0.0.1", metrics_port).await
    }

    /// Starts ferrocol with a config file as it is (a shipped one: nothing is rewritten), whose
    /// self-metrics endpoint is `metrics_host:metrics_port`, and waits until it answers. The
    /// in-cluster variables `KUBERNETES_SERVICE_HOST`/`_PORT` are removed, so discovery uses
    /// what `env` configures (a kubeconfig) even when the tests run inside a pod.
    pub async fn start_file(
        config: &Path,
        env: &[(&str, &str)],
        metrics_host: &str,
        metrics_port: u16,
    ) -> Collector {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn(config, dir, &[], env, metrics_host, metrics_port).await
    }

    async fn spawn(
        cfg: &Path,
        dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, &str)],
        metrics_host: &str,
        metrics_port: u16,
    ) -> Collector {
        super::init();
        let log = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrocol"))
            .arg("--config")
            .arg(cfg)
            .args(args)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut c = Collector {
            child: Some(child),
            metrics_host: metrics_host.to_string(),
            metrics_port,
            dir,
            log,
        };
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if c.metrics_text().await.is_some() {
                return c;
            }
            if let Some(Ok(Some(status))) = c.child.as_mut().map(|ch| ch.try_wait()) {
                panic!("ferrocol exited with {status}:\n{}", c.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ferrocol did not become ready:\n{}", c.stderr());
    }

    /// Starts ferrocol on an existing config file (no templating) with `args`, and waits until
    /// the self-metrics endpoint on `metrics_port` answers.
    pub async fn start_at(cfg: &Path, metrics_port: u16, args: &[&str]) -> Collector {
        let dir = tempfile::tempdir().unwrap();
        Self::spawn(cfg, dir, args, &[], "127.0.0.1", metrics_port).await
    }

    /// Sends a signal (`HUP`, `TERM`...) to the process.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The self-metrics exposition, if the endpoint answers.
    pub async fn metrics_text(&self) -> Option<String> {
        let url = format!("http://{}:{}/metrics", self.metrics_host, self.metrics_port);
        let resp = reqwest::get(&url).await.ok()?;
        resp.text().await.ok()
    }

    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let t = self.metrics_text().await.unwrap_or_default();
        super::metric_value(&t, name, labels)
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        match super::terminate_child(&mut child, Duration::from_secs(30)).await {
            Some(st) => st,
            None => panic!("ferrocol did not exit after SIGTERM:\n{}", self.stderr()),
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
