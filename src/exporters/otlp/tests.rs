//! `otlp_grpc` tests against an in-test tonic OTLP server on loopback: content, metadata,
//! compression, TLS (self-signed: CA file, skip-verify, name override, failure without
//! trust), error classification, partial success, and config validation texts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

use super::config::{dial_target, OtlpGrpcConfig};
use super::status::RpcStatus;
use super::test_support::*;
use super::*;
use crate::config::decode::decode;
use crate::data::{Batch, Metrics};

/// What the test server answers to the next metrics export.
#[derive(Clone)]
enum Answer {
    Partial(i64, &'static str),
    Fail(Code, &'static str, Option<Duration>),
}

#[derive(Default)]
struct Rec {
    metrics: Vec<ExportMetricsServiceRequest>,
    traces: Vec<ExportTraceServiceRequest>,
    logs: Vec<ExportLogsServiceRequest>,
    metadata: Vec<MetadataMap>,
    script: VecDeque<Answer>,
}

#[derive(Clone, Default)]
struct Backend(Arc<Mutex<Rec>>);

impl Backend {
    fn rec(&self) -> std::sync::MutexGuard<'_, Rec> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn script(&self, a: Answer) {
        self.rec().script.push_back(a);
    }
}

#[tonic::async_trait]
impl MetricsService for Backend {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut rec = self.rec();
        rec.metadata.push(req.metadata().clone());
        rec.metrics.push(req.into_inner());
        match rec.script.pop_front() {
            None => Ok(Response::new(ExportMetricsServiceResponse::default())),
            Some(Answer::Partial(n, msg)) => Ok(Response::new(ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: n,
                    error_message: msg.into(),
                }),
            })),
            Some(Answer::Fail(code, msg, delay)) => Err(match delay {
                Some(d) => Status::with_details(
                    code,
                    msg,
                    RpcStatus::with_retry_delay(code as i32, msg, d)
                        .encode_to_vec()
                        .into(),
                ),
                None => Status::new(code, msg),
            }),
        }
    }
}

#[tonic::async_trait]
impl TraceService for Backend {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut rec = self.rec();
        rec.metadata.push(req.metadata().clone());
        rec.traces.push(req.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Backend {
    async fn export(
        &self,
        req: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let mut rec = self.rec();
        rec.metadata.push(req.metadata().clone());
        rec.logs.push(req.into_inner());
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Starts the OTLP gRPC server on 127.0.0.1:0 (TLS with the given PEM cert/key if any).
async fn serve(backend: Backend, tls: Option<(&str, &str)>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut builder = Server::builder();
    if let Some((cert, key)) = tls {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            .expect("server tls");
    }
    let router = builder
        .add_service(
            MetricsServiceServer::new(backend.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            TraceServiceServer::new(backend.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        )
        .add_service(
            LogsServiceServer::new(backend)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd),
        );
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    port
}

fn md(m: &MetadataMap, k: &str) -> String {
    m.get(k)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn export_metrics(cfg: &str) -> Result<(), crate::component::factory::ExportError> {
    let exp = metrics_exporter(&OtlpExporterFactory, cfg).expect("build");
    exp.export(Arc::new(metrics_batch(&[("cpu.usage", 0.5)])))
        .await
}

#[tokio::test]
async fn plaintext_delivers_every_signal_with_headers_and_gzip() {
    let backend = Backend::default();
    let port = serve(backend.clone(), None).await;
    let cfg = format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{insecure: true}}\nheaders: {{x-api-key: s3cret, x-scope: 42}}"
    );
    let built = build_all(&OtlpExporterFactory, "otlp", &cfg).expect("build");
    assert_eq!(built.settings.timeout, Some(Duration::from_secs(5)));
    built
        .metrics
        .export(Arc::new(metrics_batch(&[
            ("cpu.usage", 0.25),
            ("mem.used", 1024.0),
        ])))
        .await
        .expect("metrics");
    built
        .traces
        .export(Arc::new(traces_batch(&["GET /cart", "SELECT"])))
        .await
        .expect("traces");
    built
        .logs
        .export(Arc::new(logs_batch(&["hello", "world"])))
        .await
        .expect("logs");
    let rec = backend.rec();
    let values = gauge_values(&rec.metrics[0].resource_metrics);
    assert_eq!(values.get("cpu.usage"), Some(&0.25));
    assert_eq!(values.get("mem.used"), Some(&1024.0));
    let spans: Vec<&str> = rec.traces[0].resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(spans, ["GET /cart", "SELECT"]);
    assert_eq!(
        rec.logs[0].resource_logs[0].scope_logs[0].log_records.len(),
        2
    );
    for m in &rec.metadata {
        assert_eq!(md(m, "x-api-key"), "s3cret");
        assert_eq!(md(m, "x-scope"), "42");
        assert_eq!(md(m, "grpc-encoding"), "gzip");
        assert!(md(m, "user-agent").starts_with("ferrocol/"), "{m:?}");
        assert!(!md(m, "grpc-timeout").is_empty());
    }
}

#[tokio::test]
async fn zstd_and_none_compression() {
    let backend = Backend::default();
    let port = serve(backend.clone(), None).await;
    for c in ["zstd", "none"] {
        export_metrics(&format!(
            "endpoint: http://127.0.0.1:{port}\ntls: {{insecure: true}}\ncompression: {c}"
        ))
        .await
        .expect("export");
    }
    let rec = backend.rec();
    assert_eq!(md(&rec.metadata[0], "grpc-encoding"), "zstd");
    assert_eq!(md(&rec.metadata[1], "grpc-encoding"), "");
    assert_eq!(rec.metrics.len(), 2);
}

#[tokio::test]
async fn http_prefix_does_not_disable_tls() {
    install_provider();
    let backend = Backend::default();
    let port = serve(backend.clone(), None).await;
    let err = export_metrics(&format!("endpoint: http://127.0.0.1:{port}"))
        .await
        .expect_err("TLS against a plaintext server must fail");
    assert!(err.retryable, "{err:?}");
    assert!(
        err.message.starts_with("rpc error: code = Unavailable"),
        "{err:?}"
    );
    assert!(backend.rec().metrics.is_empty());
}

#[tokio::test]
async fn tls_with_self_signed_certificate() {
    install_provider();
    let (cert, key) = self_signed(&["localhost", "127.0.0.1", "otlp.test"]);
    let backend = Backend::default();
    let port = serve(backend.clone(), Some((&cert, &key))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).expect("write ca");

    export_metrics(&format!(
        "endpoint: https://127.0.0.1:{port}\ntls: {{ca_file: {}}}",
        ca.display()
    ))
    .await
    .expect("ca_file");
    export_metrics(&format!(
        "endpoint: localhost:{port}\ntls: {{insecure_skip_verify: true}}"
    ))
    .await
    .expect("insecure_skip_verify");
    let pem = serde_json::to_string(&cert).expect("json");
    export_metrics(&format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{ca_pem: {pem}, server_name_override: otlp.test, min_version: \"1.3\"}}"
    ))
    .await
    .expect("ca_pem + server_name_override");
    // insecure with a CA configured still uses TLS.
    export_metrics(&format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{insecure: true, ca_pem: {pem}}}"
    ))
    .await
    .expect("insecure + ca");
    assert_eq!(backend.rec().metrics.len(), 4);

    let err = export_metrics(&format!("endpoint: 127.0.0.1:{port}"))
        .await
        .expect_err("untrusted certificate must fail");
    assert!(err.retryable, "{err:?}");
    let err = export_metrics(&format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{ca_pem: {pem}, server_name_override: other.test}}"
    ))
    .await
    .expect_err("wrong name must fail");
    assert!(err.message.contains("Unavailable"), "{err:?}");
    assert_eq!(backend.rec().metrics.len(), 4);
}

#[tokio::test]
async fn error_classification() {
    let backend = Backend::default();
    let port = serve(backend.clone(), None).await;
    let cfg = format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{insecure: true}}\nheaders: {{authorization: Bearer-topsecret}}"
    );
    let exp = metrics_exporter(&OtlpExporterFactory, &cfg).expect("build");
    let batch = Arc::new(metrics_batch(&[("m", 1.0)]));
    let cases = [
        (
            Answer::Fail(Code::Unavailable, "try later", None),
            true,
            None,
        ),
        (
            Answer::Fail(Code::InvalidArgument, "bad data", None),
            false,
            None,
        ),
        (
            Answer::Fail(Code::ResourceExhausted, "quota", None),
            false,
            None,
        ),
        (
            Answer::Fail(
                Code::ResourceExhausted,
                "quota",
                Some(Duration::from_secs(2)),
            ),
            true,
            Some(Duration::from_secs(2)),
        ),
        (
            Answer::Fail(Code::Unavailable, "busy", Some(Duration::from_millis(1500))),
            true,
            Some(Duration::from_millis(1500)),
        ),
        (
            Answer::Fail(Code::DeadlineExceeded, "slow", None),
            true,
            None,
        ),
        (Answer::Fail(Code::DataLoss, "lost", None), true, None),
        (Answer::Fail(Code::Internal, "boom", None), false, None),
        (
            Answer::Fail(Code::Unauthenticated, "who", None),
            false,
            None,
        ),
        (Answer::Fail(Code::Cancelled, "stop", None), true, None),
    ];
    for (answer, retryable, throttle) in cases {
        backend.script(answer.clone());
        let err = exp.export(Arc::clone(&batch)).await.expect_err("error");
        assert_eq!(err.retryable, retryable, "{err:?}");
        assert_eq!(err.throttle, throttle, "{err:?}");
        assert!(!err.message.contains("topsecret"));
    }
    backend.script(Answer::Fail(Code::InvalidArgument, "bad data", None));
    let err = exp.export(Arc::clone(&batch)).await.expect_err("error");
    assert_eq!(
        err.message,
        "rpc error: code = InvalidArgument desc = bad data"
    );
    backend.script(Answer::Fail(Code::Cancelled, "stop", None));
    let err = exp.export(Arc::clone(&batch)).await.expect_err("error");
    assert_eq!(err.message, "rpc error: code = Canceled desc = stop");

    // Partial success is logged, not an error.
    backend.script(Answer::Partial(3, "3 points rejected"));
    exp.export(Arc::clone(&batch))
        .await
        .expect("partial success is ok");
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = export_metrics(&format!(
        "endpoint: 127.0.0.1:{port}\ntls: {{insecure: true}}"
    ))
    .await
    .expect_err("nothing listens");
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("Unavailable"), "{err:?}");
}

#[test]
fn build_is_lazy_and_never_connects() {
    // Outside any runtime (so nothing can be spawned) and against a closed port.
    metrics_exporter(
        &OtlpExporterFactory,
        "endpoint: 127.0.0.1:1\ntls: {insecure: true}\nauth: {authenticator: oauth2client}",
    )
    .expect("lazy build");
}

fn errors(cfg: &str) -> String {
    OtlpExporterFactory
        .validate(&yaml(cfg), "exporters::otlp")
        .to_string()
}

#[test]
fn config_defaults_and_validation() {
    let c: OtlpGrpcConfig = decode(&yaml("endpoint: x:4317"), "exporters::otlp").expect("ok");
    assert_eq!(c.compression, "gzip");
    assert_eq!(c.timeout.0, Duration::from_secs(5));
    assert!(!c.tls.insecure);
    assert_eq!(c.balancer_name, "round_robin");
    assert_eq!(c.write_buffer_size, 512 * 1024);
    assert_eq!(
        errors("{}"),
        "exporters::otlp: requires a non-empty \"endpoint\""
    );
    assert_eq!(
        errors("endpoint: x:1\ncompression: snappy"),
        "exporters::otlp::compression: compression \"snappy\" is not supported by ferrocol (use gzip, zstd or none)"
    );
    assert!(errors("endpoint: x:1\ncompression: brotli").contains("unsupported compression type"));
    assert!(errors("endpoint: x:1\nbogus: 1").contains("unknown field `bogus`"));
    assert!(errors("endpoint: x:1\nheaders: {\"bad name\": v}").contains("invalid header name"));
    assert!(errors("endpoint: x:1\nbalancer_name: magic").contains("invalid balancer_name"));
    let e =
        errors("endpoint: x:1\nretry_on_failure: {initial_interval: 10s, max_elapsed_time: 1s}");
    assert!(
        e.contains("'max_elapsed_time' must not be less than 'initial_interval'"),
        "{e}"
    );
    assert!(errors("endpoint: x:1\nsending_queue: {num_consumers: 0}").contains("num_consumers"));
    assert_eq!(
        errors(
            "endpoint: dns:///collector:4317\nkeepalive: {time: 30s, timeout: 5s, permit_without_stream: true}\nwait_for_ready: true\nauthority: gw.example\nheaders: {x-n: 1}\ntimeout: 10s"
        ),
        ""
    );
}

#[test]
fn dial_targets() {
    assert_eq!(
        dial_target("localhost:4317").as_deref(),
        Ok("localhost:4317")
    );
    assert_eq!(dial_target("http://gw:4317").as_deref(), Ok("gw:4317"));
    assert_eq!(dial_target("https://gw:4317/").as_deref(), Ok("gw:4317"));
    assert_eq!(dial_target("dns:///gw:4317").as_deref(), Ok("gw:4317"));
    assert_eq!(
        dial_target("dns://8.8.8.8/gw:4317").as_deref(),
        Ok("gw:4317")
    );
    assert_eq!(dial_target("gw").as_deref(), Ok("gw:443"));
    assert_eq!(dial_target("[::1]:4317").as_deref(), Ok("[::1]:4317"));
    assert!(dial_target("gw:4317/v1/metrics").is_err());
    assert!(dial_target("unix:///tmp/sock").is_err());
}

#[tokio::test]
async fn helper_delivers_through_the_queue() {
    use crate::pipeline::exporter_input;
    use crate::telemetry::metrics::MetricsRegistry;
    let backend = Backend::default();
    let port = serve(backend.clone(), None).await;
    backend.script(Answer::Fail(Code::Unavailable, "warming up", None));
    let exp = metrics_exporter(
        &OtlpExporterFactory,
        &format!("endpoint: 127.0.0.1:{port}\ntls: {{insecure: true}}"),
    )
    .expect("build");
    let mut settings = HelperSettings::default();
    settings.retry.initial_interval = crate::config::types::GoDuration::from_millis(5);
    let registry = MetricsRegistry::new();
    let (input, task) = exporter_input::start::<Metrics>(
        "otlp",
        exp,
        settings,
        &registry,
        tokio_util::sync::CancellationToken::new(),
    );
    let batch: Batch<Metrics> = metrics_batch(&[("a", 1.0), ("b", 2.0)]);
    input.consume(Arc::new(batch)).await.expect("enqueued");
    drop(input);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("drained");
    assert_eq!(backend.rec().metrics.len(), 2);
    assert_eq!(
        registry.value(
            "otelcol_exporter_sent_metric_points",
            &[("exporter", "otlp")]
        ),
        Some(2.0)
    );
}
