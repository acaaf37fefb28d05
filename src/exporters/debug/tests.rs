//! `debug` exporter tests: config texts, what each verbosity writes (captured through a
//! tracing subscriber), sampling, and that export never fails.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::exporters::otlp::test_support::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Builds exporters from `cfg`, runs `f` with log capture, returns the captured text.
fn logged(cfg: &str, f: impl FnOnce(&Built)) -> String {
    let built = build_all(&DebugExporterFactory, "debug", cfg).expect("build");
    let cap = Capture::default();
    let writer = cap.clone();
    let sub = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(sub, || f(&built));
    cap.text()
}

fn export_all(b: &Built) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    rt.block_on(async {
        b.metrics
            .export(Arc::new(metrics_batch(&[
                ("cpu.usage", 0.5),
                ("mem.used", 2.0),
            ])))
            .await
            .expect("metrics");
        b.traces
            .export(Arc::new(traces_batch(&["GET /cart"])))
            .await
            .expect("traces");
        b.logs
            .export(Arc::new(logs_batch(&["user logged in", "second"])))
            .await
            .expect("logs");
    });
}

#[test]
fn basic_logs_one_summary_line_per_batch() {
    let out = logged("verbosity: basic", export_all);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("Metrics"), "{out}");
    assert!(out.contains("resource metrics=1"), "{out}");
    assert!(out.contains("metrics=2"), "{out}");
    assert!(out.contains("data points=2"), "{out}");
    assert!(out.contains("resource spans=1"), "{out}");
    assert!(out.contains("spans=1"), "{out}");
    assert!(out.contains("resource logs=1"), "{out}");
    assert!(out.contains("log records=2"), "{out}");
    assert!(!out.contains("cpu.usage"), "{out}");
}

#[test]
fn normal_adds_one_line_per_item() {
    let out = logged("verbosity: normal", export_all);
    assert!(out.contains("cpu.usage Gauge data points=1"), "{out}");
    assert!(out.contains("mem.used Gauge data points=1"), "{out}");
    assert!(
        out.contains(&format!("GET /cart {}", "ab".repeat(16))),
        "{out}"
    );
    assert!(out.contains("user logged in"), "{out}");
    assert!(out.contains("service.name=checkout"), "{out}");
    assert!(!out.contains("resourceMetrics"), "{out}");
}

#[test]
fn detailed_dumps_the_batch() {
    let out = logged("verbosity: Detailed", export_all);
    assert!(out.contains("\"resourceMetrics\""), "{out}");
    assert!(out.contains("\"cpu.usage\""), "{out}");
    assert!(out.contains("\"resourceSpans\""), "{out}");
    assert!(out.contains("\"resourceLogs\""), "{out}");
}

#[test]
fn sampling_limits_lines() {
    let out = logged("sampling_initial: 1\nsampling_thereafter: 1000", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            for _ in 0..5 {
                b.metrics
                    .export(Arc::new(metrics_batch(&[("m", 1.0)])))
                    .await
                    .expect("never fails");
            }
        });
    });
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn sampler_counts_per_second() {
    let s = Sampler::new(2, 3);
    let t0 = Instant::now();
    let got: Vec<bool> = (0..8).map(|_| s.allow(t0)).collect();
    assert_eq!(got, [true, true, false, false, true, false, false, true]);
    assert!(s.allow(t0 + Duration::from_millis(1100)));
    assert!(s.allow(t0 + Duration::from_millis(1150)));
    assert!(!s.allow(t0 + Duration::from_millis(1200)));
    let none = Sampler::new(0, 0);
    assert!(!none.allow(t0));
    let all = Sampler::new(2, 1);
    assert!((0..10).all(|_| all.allow(t0)));
}

#[test]
fn config_defaults_and_validation() {
    let c: DebugConfig =
        crate::config::decode::decode(&serde_yaml::Value::Null, "exporters::debug").expect("ok");
    assert_eq!(c.verbosity().ok(), Some(Verbosity::Basic));
    assert_eq!((c.sampling_initial, c.sampling_thereafter), (2, 1));
    assert!(c.use_internal_logger);
    assert!(!c.sending_queue.enabled);
    let errors = |y: &str| {
        DebugExporterFactory
            .validate(&yaml(y), "exporters::debug")
            .to_string()
    };
    assert_eq!(
        errors("verbosity: loud"),
        "exporters::debug::verbosity: unknown metrics level \"loud\""
    );
    assert_eq!(
        errors("verbosity: none"),
        "exporters::debug::verbosity: verbosity level \"none\" is not supported"
    );
    assert!(errors("loglevel: debug").contains("unknown field `loglevel`"));
    assert_eq!(
        errors("verbosity: detailed\nuse_internal_logger: false"),
        ""
    );
    assert!(DebugExporterFactory
        .stability()
        .iter()
        .all(|(_, s)| *s == Stability::Development));
}

#[test]
fn settings_disable_retry() {
    let built = build_all(&DebugExporterFactory, "debug", "{}").expect("build");
    assert!(!built.settings.retry.enabled);
    assert!(!built.settings.queue.enabled);
    assert_eq!(built.settings.timeout, None);
}
