//! `otlp_http` tests against in-test HTTP servers on loopback (`test_servers`: axum for
//! plaintext, a small rustls server thread for HTTPS): content, headers, compression, URL
//! composition, TLS, response classification, partial success, the helper path, and config
//! validation.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::config::OtlpHttpConfig;
use super::http_client::{compress, parse_retry_after};
use super::test_servers::{https_server, serve, Backend};
use super::*;
use crate::component::factory::ExportError;
use crate::config::decode::decode;
use crate::data::Metrics;
use crate::exporters::otlp::status::RpcStatus;
use crate::exporters::otlp::test_support::*;

fn exporter(cfg: &str) -> Arc<dyn crate::component::factory::Exporter<Metrics>> {
    metrics_exporter(&OtlpHttpExporterFactory, cfg).expect("build")
}

async fn export_one(cfg: &str) -> Result<(), ExportError> {
    exporter(cfg)
        .export(Arc::new(metrics_batch(&[("cpu.usage", 0.5)])))
        .await
}

fn hdr<'a>(h: &'a HeaderMap, k: &str) -> &'a str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn protobuf_gzip_with_headers() {
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    let cfg = format!("endpoint: http://127.0.0.1:{port}\nheaders: {{x-api-key: s3cret, x-n: 7}}");
    let built = build_all(&OtlpHttpExporterFactory, "otlphttp", &cfg).expect("build");
    assert_eq!(built.settings.timeout, None);
    built
        .metrics
        .export(Arc::new(metrics_batch(&[
            ("cpu.usage", 0.25),
            ("mem.used", 3.0),
        ])))
        .await
        .expect("metrics");
    built
        .traces
        .export(Arc::new(traces_batch(&["GET /"])))
        .await
        .expect("traces");
    built
        .logs
        .export(Arc::new(logs_batch(&["hello"])))
        .await
        .expect("logs");
    let rec = backend.rec();
    let paths: Vec<&str> = rec.requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/v1/metrics", "/v1/traces", "/v1/logs"]);
    for r in &rec.requests {
        assert_eq!(hdr(&r.headers, "content-type"), "application/x-protobuf");
        assert_eq!(hdr(&r.headers, "content-encoding"), "gzip");
        assert_eq!(hdr(&r.headers, "x-api-key"), "s3cret");
        assert_eq!(hdr(&r.headers, "x-n"), "7");
        assert!(hdr(&r.headers, "user-agent").starts_with("ferrocol/"));
    }
    let m = ExportMetricsServiceRequest::decode(rec.requests[0].body.as_slice()).expect("proto");
    let values = gauge_values(&m.resource_metrics);
    assert_eq!(values.get("cpu.usage"), Some(&0.25));
    assert_eq!(values.get("mem.used"), Some(&3.0));
    let t = ExportTraceServiceRequest::decode(rec.requests[1].body.as_slice()).expect("proto");
    assert_eq!(t.resource_spans[0].scope_spans[0].spans[0].name, "GET /");
    let l = ExportLogsServiceRequest::decode(rec.requests[2].body.as_slice()).expect("proto");
    assert_eq!(l.resource_logs[0].scope_logs[0].log_records.len(), 1);
}

#[tokio::test]
async fn json_encoding_and_other_compressions() {
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    let built = build_all(
        &OtlpHttpExporterFactory,
        "otlphttp",
        &format!("endpoint: http://127.0.0.1:{port}\nencoding: json\ncompression: none"),
    )
    .expect("build");
    built
        .traces
        .export(Arc::new(traces_batch(&["checkout"])))
        .await
        .expect("json");
    for c in ["zstd", "deflate", "zlib"] {
        export_one(&format!(
            "endpoint: http://127.0.0.1:{port}\ncompression: {c}"
        ))
        .await
        .expect("compressed");
    }
    let rec = backend.rec();
    let r = &rec.requests[0];
    assert_eq!(hdr(&r.headers, "content-type"), "application/json");
    assert_eq!(hdr(&r.headers, "content-encoding"), "");
    let text = String::from_utf8(r.body.clone()).expect("utf8");
    assert!(text.contains("\"resourceSpans\""), "{text}");
    assert!(text.contains(&"ab".repeat(16)), "hex trace id: {text}");
    let t: ExportTraceServiceRequest = serde_json::from_str(&text).expect("OTLP/JSON");
    assert_eq!(t.resource_spans[0].scope_spans[0].spans[0].name, "checkout");
    for (i, c) in ["zstd", "deflate", "zlib"].iter().enumerate() {
        let r = &rec.requests[i + 1];
        assert_eq!(hdr(&r.headers, "content-encoding"), *c);
        let m = ExportMetricsServiceRequest::decode(r.body.as_slice()).expect("decoded");
        assert_eq!(
            gauge_values(&m.resource_metrics).get("cpu.usage"),
            Some(&0.5)
        );
    }
}

#[tokio::test]
async fn url_composition_on_the_wire() {
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    export_one(&format!("endpoint: http://127.0.0.1:{port}/otlp/"))
        .await
        .expect("prefix with slash");
    export_one(&format!("endpoint: http://127.0.0.1:{port}/otlp"))
        .await
        .expect("prefix");
    export_one(&format!(
        "endpoint: http://127.0.0.1:1\nmetrics_endpoint: http://127.0.0.1:{port}/custom/m"
    ))
    .await
    .expect("per-signal");
    let paths: Vec<String> = backend
        .rec()
        .requests
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/otlp/v1/metrics", "/otlp/v1/metrics", "/custom/m"]);
}

#[test]
fn url_composition() {
    let c = |y: &str| -> OtlpHttpConfig { decode(&yaml(y), "exporters::otlphttp").expect("ok") };
    let cfg = c("endpoint: http://gw:4318");
    assert_eq!(
        cfg.signal_url(Signal::Metrics).as_deref(),
        Some("http://gw:4318/v1/metrics")
    );
    assert_eq!(
        cfg.signal_url(Signal::Traces).as_deref(),
        Some("http://gw:4318/v1/traces")
    );
    assert_eq!(
        cfg.profiles_url().as_deref(),
        Some("http://gw:4318/v1development/profiles")
    );
    let cfg = c("endpoint: http://gw:4318/otlp/");
    assert_eq!(
        cfg.signal_url(Signal::Logs).as_deref(),
        Some("http://gw:4318/otlp/v1/logs")
    );
    let cfg = c("endpoint: http://gw:4318\nlogs_endpoint: https://logs.example/ingest?x=1");
    assert_eq!(
        cfg.signal_url(Signal::Logs).as_deref(),
        Some("https://logs.example/ingest?x=1")
    );
    let cfg = c("traces_endpoint: http://t:1/x");
    assert_eq!(cfg.signal_url(Signal::Metrics), None);
    let ctx = crate::component::context::BuildContext::for_test(
        crate::component::Kind::Exporter,
        "otlphttp",
    );
    let e = OtlpHttpExporterFactory
        .build(
            &yaml("traces_endpoint: http://t:1/x"),
            &ctx,
            Signal::Metrics,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("no URL for metrics"), "{e}");
}

#[tokio::test]
async fn response_classification() {
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    let url = format!("http://127.0.0.1:{port}/v1/metrics");
    let exp = exporter(&format!(
        "endpoint: http://127.0.0.1:{port}\nheaders: {{authorization: Bearer-topsecret}}"
    ));
    let batch = Arc::new(metrics_batch(&[("m", 1.0)]));
    let status_body = RpcStatus {
        code: 3,
        message: "bad points".into(),
        details: vec![],
    }
    .encode_to_vec();
    let proto = [("content-type", "application/x-protobuf")];

    backend.script(503, &[("retry-after", "2")], vec![]);
    let e = exp.export(Arc::clone(&batch)).await.expect_err("503");
    assert!(e.retryable);
    assert_eq!(e.throttle, Some(Duration::from_secs(2)));
    assert_eq!(
        e.message,
        format!("error exporting items, request to {url} responded with HTTP Status Code 503, Message=, Details=[]")
    );

    backend.script(400, &proto, status_body.clone());
    let e = exp.export(Arc::clone(&batch)).await.expect_err("400");
    assert!(!e.retryable);
    assert_eq!(
        e.message,
        format!("error exporting items, request to {url} responded with HTTP Status Code 400, Message=bad points, Details=[]")
    );
    assert!(!e.message.contains("topsecret"));

    backend.script(
        400,
        &[("content-type", "application/json")],
        br#"{"code":3,"message":"json says no"}"#.to_vec(),
    );
    let e = exp.export(Arc::clone(&batch)).await.expect_err("400 json");
    assert!(
        e.message.ends_with(", Message=json says no, Details=[]"),
        "{e:?}"
    );

    backend.script(429, &[], vec![]);
    let e = exp.export(Arc::clone(&batch)).await.expect_err("429");
    assert!(e.retryable);
    assert_eq!(e.throttle, None);

    backend.script(429, &[("retry-after", "1")], vec![]);
    let e = exp.export(Arc::clone(&batch)).await.expect_err("429");
    assert_eq!(e.throttle, Some(Duration::from_secs(1)));

    // Retry-After only counts for 429 and 503.
    backend.script(502, &[("retry-after", "9")], vec![]);
    let e = exp.export(Arc::clone(&batch)).await.expect_err("502");
    assert!(e.retryable);
    assert_eq!(e.throttle, None);
    backend.script(504, &[], vec![]);
    assert!(
        exp.export(Arc::clone(&batch))
            .await
            .expect_err("504")
            .retryable
    );
    for code in [500, 401, 403, 404, 413] {
        backend.script(code, &[("retry-after", "3")], vec![]);
        let e = exp.export(Arc::clone(&batch)).await.expect_err("permanent");
        assert!(!e.retryable, "{code}: {e:?}");
        assert_eq!(e.throttle, None);
    }
    // Not a Status body: no Message/Details suffix.
    backend.script(
        500,
        &[("content-type", "text/plain")],
        b"\xff\xff oops".to_vec(),
    );
    let e = exp.export(Arc::clone(&batch)).await.expect_err("500");
    assert_eq!(
        e.message,
        format!("error exporting items, request to {url} responded with HTTP Status Code 500")
    );
}

#[tokio::test]
async fn success_bodies() {
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    let exp = exporter(&format!("endpoint: http://127.0.0.1:{port}"));
    let batch = Arc::new(metrics_batch(&[("m", 1.0)]));
    let partial = ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 2,
            error_message: "2 dropped".into(),
        }),
    }
    .encode_to_vec();
    backend.script(200, &[("content-type", "application/x-protobuf")], partial);
    exp.export(Arc::clone(&batch))
        .await
        .expect("partial success");
    backend.script(
        200,
        &[("content-type", "application/json")],
        br#"{"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"x"}}"#.to_vec(),
    );
    exp.export(Arc::clone(&batch))
        .await
        .expect("json partial success");
    backend.script(202, &[], vec![]);
    exp.export(Arc::clone(&batch)).await.expect("empty 202");
    backend.script(
        200,
        &[("content-type", "application/x-protobuf")],
        b"\xff\xff\xff".to_vec(),
    );
    let e = exp.export(Arc::clone(&batch)).await.expect_err("garbage");
    assert!(!e.retryable, "{e:?}");
    backend.script(
        200,
        &[("content-type", "application/json")],
        b"not json".to_vec(),
    );
    let e = exp
        .export(Arc::clone(&batch))
        .await
        .expect_err("garbage json");
    assert!(!e.retryable, "{e:?}");
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let e = export_one(&format!("endpoint: http://user:pw@127.0.0.1:{port}"))
        .await
        .expect_err("refused");
    assert!(e.retryable, "{e:?}");
    assert!(
        e.message
            .starts_with("failed to make an HTTP request to http://redacted@127.0.0.1"),
        "{e:?}"
    );
    assert!(!e.message.contains("pw"), "{e:?}");
}

#[tokio::test]
async fn https_with_self_signed_certificate() {
    install_provider();
    let (cert, key) = self_signed(&["localhost", "127.0.0.1", "otlp.test"]);
    let (port, count) = https_server(&cert, &key, None, 8);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).expect("write");
    export_one(&format!(
        "endpoint: https://127.0.0.1:{port}\ntls: {{ca_file: {}}}",
        ca.display()
    ))
    .await
    .expect("ca_file");
    export_one(&format!(
        "endpoint: https://localhost:{port}\ntls: {{insecure_skip_verify: true}}"
    ))
    .await
    .expect("insecure_skip_verify");
    let pem = serde_json::to_string(&cert).expect("json");
    export_one(&format!(
        "endpoint: https://127.0.0.1:{port}\ntls: {{ca_pem: {pem}, server_name_override: otlp.test}}"
    ))
    .await
    .expect("server_name_override");
    let e = export_one(&format!("endpoint: https://127.0.0.1:{port}"))
        .await
        .expect_err("untrusted");
    assert!(e.retryable, "{e:?}");
    assert_eq!(*count.lock().unwrap_or_else(|p| p.into_inner()), 3);
}

#[tokio::test]
async fn https_with_client_certificate() {
    install_provider();
    let (cert, key) = self_signed(&["127.0.0.1"]);
    let (client_cert, client_key) = self_signed(&["client.test"]);
    let (port, count) = https_server(&cert, &key, Some(&client_cert), 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let ca = write("ca.pem", &cert);
    let crt = write("client.pem", &client_cert);
    let k = write("client.key", &client_key);
    export_one(&format!(
        "endpoint: https://127.0.0.1:{port}\ntls: {{ca_file: {ca}, cert_file: {crt}, key_file: {k}}}"
    ))
    .await
    .expect("mTLS");
    let e = export_one(&format!(
        "endpoint: https://127.0.0.1:{port}\ntls: {{ca_file: {ca}}}"
    ))
    .await
    .expect_err("no client certificate");
    assert!(e.retryable, "{e:?}");
    assert_eq!(*count.lock().unwrap_or_else(|p| p.into_inner()), 1);
    // A missing key file is a build error.
    let e = metrics_exporter(
        &OtlpHttpExporterFactory,
        &format!("endpoint: https://127.0.0.1:{port}\ntls: {{cert_file: {crt}, key_file: /nonexistent.key}}"),
    )
    .err()
    .unwrap_or_default();
    assert!(e.contains("failed to load TLS key"), "{e}");
}

#[test]
fn build_outside_a_runtime() {
    metrics_exporter(
        &OtlpHttpExporterFactory,
        "endpoint: https://127.0.0.1:1\nauth: {authenticator: basicauth}\nproxy_url: http://127.0.0.1:3",
    )
    .expect("build needs no runtime and no network");
}

#[test]
fn retry_after_forms() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-1", now), None);
}

#[test]
fn compression_round_trips() {
    use super::config::HttpCompression;
    let raw = b"hello hello hello hello".to_vec();
    let gz = compress(HttpCompression::Gzip, 0, raw.clone()).expect("gzip");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut out)
        .expect("gunzip");
    assert_eq!(out, raw);
    let z = compress(HttpCompression::Zstd, 3, raw.clone()).expect("zstd");
    assert_eq!(zstd::decode_all(z.as_slice()).expect("unzstd"), raw);
    // zlib at every level, and an empty body, decode with an independent implementation.
    for level in [-1, 0, 1, 6, 9, 12] {
        let z = compress(HttpCompression::Zlib, level, raw.clone()).expect("zlib");
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z.as_slice())
            .read_to_end(&mut out)
            .expect("inflate");
        assert_eq!(out, raw, "level {level}");
    }
    let gz = compress(HttpCompression::Gzip, 9, Vec::new()).expect("gzip");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut out)
        .expect("gunzip");
    assert!(out.is_empty());
}

fn errors(cfg: &str) -> String {
    OtlpHttpExporterFactory
        .validate(&yaml(cfg), "exporters::otlphttp")
        .to_string()
}

#[test]
fn config_defaults_and_validation() {
    let c: OtlpHttpConfig = decode(&yaml("endpoint: http://x:4318"), "e").expect("ok");
    assert_eq!(c.timeout.0, Duration::from_secs(30));
    assert_eq!(c.compression, "gzip");
    assert_eq!(c.encoding, "proto");
    assert_eq!(
        errors("{}"),
        "exporters::otlphttp: at least one endpoint must be specified"
    );
    assert_eq!(
        errors("endpoint: http://x:1\nencoding: xml"),
        "exporters::otlphttp::encoding: invalid encoding type: xml"
    );
    for c in ["snappy", "lz4"] {
        let e = errors(&format!("endpoint: http://x:1\ncompression: {c}"));
        assert!(e.contains("is not supported by ferrocol"), "{e}");
    }
    assert!(errors("endpoint: x:4318").contains("invalid URL"));
    assert!(errors("endpoint: http://x:1\nfoo: 1").contains("unknown field `foo`"));
    assert!(errors("endpoint: http://x:1\ntls: {min_version: \"1.9\"}")
        .contains("invalid TLS min_version"));
    assert_eq!(
        errors(
            "logs_endpoint: https://l/x\nproxy_url: http://proxy:3128\nmax_idle_conns: 10\nmax_idle_conns_per_host: 2\nmax_conns_per_host: 4\nidle_conn_timeout: 30s\ndisable_keep_alives: true\nhttp2_read_idle_timeout: 10s\nhttp2_ping_timeout: 5s\nread_buffer_size: 1024\nwrite_buffer_size: 2048\nauth: {authenticator: basicauth}\ncompression_params: {level: 5}\nheaders: {x: 1}"
        ),
        ""
    );
}

#[tokio::test]
async fn helper_retries_503_then_delivers() {
    use crate::pipeline::exporter_input;
    use crate::telemetry::metrics::MetricsRegistry;
    let backend = Backend::default();
    let port = serve(backend.clone()).await;
    backend.script(503, &[], vec![]);
    backend.script(503, &[], vec![]);
    let exp = exporter(&format!("endpoint: http://127.0.0.1:{port}"));
    let mut settings = HelperSettings::default();
    settings.retry.initial_interval = crate::config::types::GoDuration::from_millis(5);
    settings.retry.max_interval = crate::config::types::GoDuration::from_millis(20);
    let registry = MetricsRegistry::new();
    let (input, task) = exporter_input::start::<Metrics>(
        "otlphttp",
        exp,
        settings,
        &registry,
        tokio_util::sync::CancellationToken::new(),
    );
    input
        .consume(Arc::new(metrics_batch(&[
            ("a", 1.0),
            ("b", 2.0),
            ("c", 3.0),
        ])))
        .await
        .expect("enqueued");
    input
        .consume(Arc::new(metrics_batch(&[("d", 4.0)])))
        .await
        .expect("enqueued");
    drop(input);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("drained");
    let rec = backend.rec();
    assert_eq!(rec.requests.len(), 4, "two 503s, then both batches");
    let mut delivered = std::collections::HashMap::new();
    for r in rec.requests.iter() {
        let m = ExportMetricsServiceRequest::decode(r.body.as_slice()).expect("proto");
        delivered.extend(gauge_values(&m.resource_metrics));
    }
    assert_eq!(delivered.len(), 4);
    let labels = [("exporter", "otlphttp")];
    assert_eq!(
        registry.value("otelcol_exporter_sent_metric_points", &labels),
        Some(4.0)
    );
    assert_eq!(
        registry.value("otelcol_exporter_send_failed_metric_points", &labels),
        Some(0.0)
    );
}
