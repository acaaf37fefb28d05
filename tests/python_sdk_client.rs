//! An independent, real OTLP client: the OpenTelemetry Python SDK (installed by
//! scripts/setup-test-deps.sh) pushes spans, a counter and log records to ferrocol over gRPC
//! and over HTTP; the in-test backend must receive all of them through the `otlp` exporter.

mod support;

use std::process::Command;
use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use support::data::{log_bodies, span_names};
use support::process::Collector;
use support::sink::Sink;
use support::{free_port, wait_for};

fn counter_values(sink: &Sink, service: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for req in &sink.rec().metrics {
        for rm in &req.resource_metrics {
            if support::data::service_of(&rm.resource) != service {
                continue;
            }
            for sm in &rm.scope_metrics {
                for m in sm.metrics.iter().filter(|m| m.name == "py.counter") {
                    if let Some(metric::Data::Sum(s)) = &m.data {
                        for p in &s.data_points {
                            if let Some(number_data_point::Value::AsInt(v)) = p.value {
                                out.push(v);
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
async fn python_sdk_pushes_over_grpc_and_http() {
    let sink = Sink::start().await;
    let (grpc, http) = (free_port(), free_port());
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{grpc}\"}}\n      http: {{endpoint: \"127.0.0.1:{http}\"}}\n\
         processors:\n  batch: {{timeout: 50ms}}\n\
         exporters:\n  otlp: {{endpoint: \"127.0.0.1:{}\", tls: {{insecure: true}}}}\n\
         service:\n  pipelines:\n\
         \x20   traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}\n\
         \x20   metrics: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}\n\
         \x20   logs: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}\n",
        sink.grpc_addr.port()
    );
    let col = Collector::start(&yaml).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/python/otlp_sdk_client.py"
    );
    for (proto, ep, svc) in [
        ("grpc", format!("127.0.0.1:{grpc}"), "py-grpc"),
        ("http", format!("http://127.0.0.1:{http}"), "py-http"),
    ] {
        let out = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .args([script, proto, &ep, svc])
                .output()
        })
        .await
        .unwrap()
        .expect("python3");
        assert!(
            out.status.success(),
            "python SDK over {proto} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            col.stderr()
        );
    }
    let done = wait_for(Duration::from_secs(15), || {
        let spans = span_names(&sink.rec().traces).len();
        let logs = log_bodies(&sink.rec().logs).len();
        (spans == 10
            && logs == 6
            && !counter_values(&sink, "py-grpc").is_empty()
            && !counter_values(&sink, "py-http").is_empty())
        .then_some(())
    })
    .await;
    if done.is_none() {
        let spans = span_names(&sink.rec().traces);
        let logs = log_bodies(&sink.rec().logs);
        let (g, h) = (
            counter_values(&sink, "py-grpc"),
            counter_values(&sink, "py-http"),
        );
        panic!("not everything arrived: spans {spans:?}\nlogs {logs:?}\ncounter grpc {g:?} http {h:?}\n{}", col.stderr());
    }
    let spans = span_names(&sink.rec().traces);
    for svc in ["py-grpc", "py-http"] {
        for i in 0..5 {
            assert!(
                spans.contains(&(svc.to_string(), format!("py-span-{i}"))),
                "{svc} span {i} missing: {spans:?}"
            );
        }
        // The SDK exports on flush and again on shutdown: a cumulative counter, 7 each time.
        let values = counter_values(&sink, svc);
        assert!(
            !values.is_empty() && values.iter().all(|v| *v == 7),
            "{svc}: {values:?}"
        );
    }
    let logs = log_bodies(&sink.rec().logs);
    for svc in ["py-grpc", "py-http"] {
        for i in 0..3 {
            assert!(
                logs.contains(&(svc.to_string(), format!("py-log-{i}"))),
                "{logs:?}"
            );
        }
    }
}
