//! OTLP/gRPC: exports of every signal, compression, unserved signals, error mapping, counters,
//! TLS (with client certificates) and lifecycle.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::codec::CompressionEncoding;

use super::*;
use crate::component::factory::ConsumeError;
use crate::receivers::otlp::status::{RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};

#[tokio::test]
async fn exports_every_signal_with_content() {
    let h = Harness::start(BOTH, [true, true, true]).await;
    let url = h.grpc_url();

    let resp = TraceServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(traces_request())
        .await
        .unwrap()
        .into_inner();
    assert!(resp.partial_success.is_none());
    let resp = MetricsServiceClient::connect(url.clone())
        .await
        .unwrap()
        .export(metrics_request())
        .await
        .unwrap()
        .into_inner();
    assert!(resp.partial_success.is_none());
    LogsServiceClient::connect(url)
        .await
        .unwrap()
        .export(logs_request())
        .await
        .unwrap();

    let t = h.traces.as_ref().unwrap().request();
    assert_eq!(span_names(&t), vec!["GET /cart"]);
    assert_eq!(
        t.resource_spans[0].scope_spans[0].spans[0].trace_id,
        vec![0xab; 16]
    );
    let m = h.metrics_sink.as_ref().unwrap().request();
    assert_eq!(
        metric_values(&m),
        vec![("cpu.usage".to_string(), vec![1.5, 2.5])]
    );
    assert_eq!(
        first_service_name(&m.resource_metrics[0].resource.as_ref().unwrap().attributes),
        Some("checkout".into())
    );
    let l = h.logs.as_ref().unwrap().request();
    assert_eq!(log_bodies(&l), vec!["hello"]);

    let grpc = [("receiver", "otlp"), ("transport", "grpc")];
    assert_eq!(h.metric("otelcol_receiver_accepted_spans", &grpc), 1.0);
    assert_eq!(
        h.metric("otelcol_receiver_accepted_metric_points", &grpc),
        2.0
    );
    assert_eq!(
        h.metric("otelcol_receiver_accepted_log_records", &grpc),
        1.0
    );
    h.stop().await;
}

#[tokio::test]
async fn accepts_gzip_and_zstd_requests() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    for enc in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        MetricsServiceClient::connect(h.grpc_url())
            .await
            .unwrap()
            .send_compressed(enc)
            .export(metrics_request())
            .await
            .unwrap();
    }
    let sink = h.metrics_sink.as_ref().unwrap();
    assert_eq!(sink.batches(), 2);
    assert_eq!(
        metric_values(&sink.request()),
        vec![
            ("cpu.usage".to_string(), vec![1.5, 2.5]),
            ("cpu.usage".to_string(), vec![1.5, 2.5])
        ]
    );
    h.stop().await;
}

#[tokio::test]
async fn unserved_signal_is_unimplemented() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let err = TraceServiceClient::connect(h.grpc_url())
        .await
        .unwrap()
        .export(traces_request())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    let err = LogsServiceClient::connect(h.grpc_url())
        .await
        .unwrap()
        .export(logs_request())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    // Not a malformed request.
    assert_eq!(h.rejected("grpc", "bad_encoding"), 0.0);
    assert_eq!(h.rejected("grpc", "decode"), 0.0);
    h.stop().await;
}

#[tokio::test]
async fn downstream_errors_map_to_statuses() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let sink = h.metrics_sink.as_ref().unwrap();
    let mut client = MetricsServiceClient::connect(h.grpc_url()).await.unwrap();

    let mut e = ConsumeError::retryable("queue is full");
    e.retry_after = Some(Duration::from_secs(7));
    sink.fail_with(Some(e));
    let st = client.export(metrics_request()).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::Unavailable);
    assert_eq!(st.message(), "queue is full");
    let details = RpcStatus::decode(st.details()).unwrap();
    assert_eq!(details.code, 14);
    assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE_URL);
    let ri = RetryInfo::decode(&details.details[0].value[..]).unwrap();
    assert_eq!(ri.retry_delay.unwrap().seconds, 7);

    sink.fail_with(Some(ConsumeError::permanent("bad data")));
    let st = client.export(metrics_request()).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::Internal);
    assert_eq!(st.message(), "Permanent error: bad data");

    let mut e = ConsumeError::retryable("memory limit");
    e.grpc_code = Some(8);
    sink.fail_with(Some(e));
    let st = client.export(metrics_request()).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::ResourceExhausted);
    assert_eq!(st.message(), "memory limit");

    let grpc = [("receiver", "otlp"), ("transport", "grpc")];
    assert_eq!(
        h.metric("otelcol_receiver_refused_metric_points", &grpc),
        6.0
    );
    assert_eq!(
        h.metric("otelcol_receiver_accepted_metric_points", &grpc),
        0.0
    );
    h.stop().await;
}

#[tokio::test]
async fn oversized_and_malformed_messages_are_rejected_and_counted() {
    let yaml = "protocols: {grpc: {endpoint: '127.0.0.1:0', max_recv_msg_size_mib: 1}}";
    let h = Harness::start(yaml, [false, true, false]).await;
    let mut big = metrics_request();
    if let Some(metric::Data::Gauge(g)) =
        &mut big.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        let p = g.data_points[0].clone();
        g.data_points = vec![p; 60_000]; // ~1.3 MB
    }
    assert!(big.encoded_len() > 1024 * 1024);
    let mut client = MetricsServiceClient::connect(h.grpc_url()).await.unwrap();
    let st = client.export(big).await.unwrap_err();
    assert!(
        matches!(
            st.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{st:?}"
    );
    assert_eq!(h.rejected("grpc", "too_large"), 1.0);

    // Raw gRPC frame with an invalid protobuf payload.
    let mut body = vec![0u8];
    let garbage = [0xffu8, 0xff, 0xff, 0xff, 0xff];
    body.extend_from_slice(&(garbage.len() as u32).to_be_bytes());
    body.extend_from_slice(&garbage);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = client
        .post(format!(
            "{}/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            h.grpc_url()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["grpc-status"], "13");
    assert_eq!(h.rejected("grpc", "decode"), 1.0);

    // A compression the server does not accept.
    let mut body = vec![1u8];
    body.extend_from_slice(&3u32.to_be_bytes());
    body.extend_from_slice(b"abc");
    let resp = client
        .post(format!(
            "{}/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            h.grpc_url()
        ))
        .header("content-type", "application/grpc")
        .header("grpc-encoding", "snappy")
        .header("te", "trailers")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["grpc-status"], "12");
    assert_eq!(h.rejected("grpc", "bad_encoding"), 1.0);
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 0);

    // The server still serves well-formed requests.
    client_ok(&h).await;
    h.stop().await;
}

async fn client_ok(h: &Harness) {
    MetricsServiceClient::connect(h.grpc_url())
        .await
        .unwrap()
        .export(metrics_request())
        .await
        .unwrap();
}

#[tokio::test]
async fn empty_request_succeeds_without_reaching_the_pipeline() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    MetricsServiceClient::connect(h.grpc_url())
        .await
        .unwrap()
        .export(ExportMetricsServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 0);
    h.stop().await;
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let yaml = format!(
        "protocols: {{grpc: {{endpoint: '127.0.0.1:0', tls: {{cert_file: '{}', key_file: '{}', client_ca_file: '{}'}}}}}}",
        testdata("server.crt"),
        testdata("server.key"),
        testdata("ca.crt")
    );
    let h = Harness::start(&yaml, [false, true, false]).await;
    let ca = std::fs::read_to_string(testdata("ca.crt")).unwrap();
    let id = tonic::transport::Identity::from_pem(
        std::fs::read_to_string(testdata("client.crt")).unwrap(),
        std::fs::read_to_string(testdata("client.key")).unwrap(),
    );
    let url = format!("https://localhost:{}", h.grpc.unwrap().port());
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&ca))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .tls_config(tls.clone().identity(id))
        .unwrap()
        .connect()
        .await
        .unwrap();
    MetricsServiceClient::new(channel)
        .export(metrics_request())
        .await
        .unwrap();
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 1);

    // Without a client certificate the handshake is refused.
    let res = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await;
    let refused = match res {
        Err(_) => true,
        Ok(ch) => MetricsServiceClient::new(ch)
            .export(metrics_request())
            .await
            .is_err(),
    };
    assert!(refused);
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 1);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_releases_the_port_and_port_in_use_fails_build() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let addr = h.grpc.unwrap();
    // Binding the same port while it is served fails at build, naming the endpoint.
    let yaml = format!("protocols: {{grpc: {{endpoint: '{addr}'}}}}");
    let raw: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let cfg: OtlpReceiverConfig = decode(&raw, "receivers::otlp").unwrap();
    let err = BoundOtlp::bind(&cfg, "otlp").err().unwrap().to_string();
    assert!(
        err.contains(&format!("failed to listen on gRPC endpoint \"{addr}\"")),
        "{err}"
    );
    client_ok(&h).await;
    h.stop().await;
    // The port is free again.
    assert!(BoundOtlp::bind(&cfg, "otlp").is_ok());
}
