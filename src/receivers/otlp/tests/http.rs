//! OTLP/HTTP: protobuf and JSON for every signal, compression, the 4xx answers of otelcol's
//! handler, body limits (including a gzip bomb), downstream error mapping, counters, response
//! headers, CORS and TLS.

use std::io::Write;
use std::time::Duration;

use prost::Message;

use super::*;
use crate::component::factory::ConsumeError;
use crate::receivers::otlp::status::{RetryInfo, RpcStatus};

const PB: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(
    url: &str,
    content_type: Option<&str>,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut rb = client().post(url).body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    if let Some(e) = encoding {
        rb = rb.header("content-encoding", e);
    }
    rb.send().await.unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn protobuf_and_json_for_every_signal() {
    let h = Harness::start(BOTH, [true, true, true]).await;

    let r = post(
        &h.http_url("/v1/traces"),
        Some(PB),
        None,
        traces_request().encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], PB);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        None,
        metrics_request().encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        &h.http_url("/v1/logs"),
        Some(PB),
        None,
        logs_request().encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);

    let json = serde_json::to_vec(&traces_request()).unwrap();
    let r = post(
        &h.http_url("/v1/traces"),
        Some("application/json; charset=utf-8"),
        None,
        json,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], JSON);
    assert_eq!(r.text().await.unwrap(), "{}");
    let json = serde_json::to_vec(&metrics_request()).unwrap();
    assert_eq!(
        post(&h.http_url("/v1/metrics"), Some(JSON), None, json)
            .await
            .status(),
        200
    );
    let json = serde_json::to_vec(&logs_request()).unwrap();
    assert_eq!(
        post(&h.http_url("/v1/logs"), Some(JSON), None, json)
            .await
            .status(),
        200
    );

    let t = h.traces.as_ref().unwrap().request();
    assert_eq!(span_names(&t), vec!["GET /cart", "GET /cart"]);
    for rs in &t.resource_spans {
        assert_eq!(rs.scope_spans[0].spans[0].trace_id, vec![0xab; 16]);
        assert_eq!(rs.scope_spans[0].spans[0].span_id, vec![0xcd; 8]);
    }
    let m = h.metrics_sink.as_ref().unwrap().request();
    assert_eq!(
        metric_values(&m),
        vec![
            ("cpu.usage".to_string(), vec![1.5, 2.5]),
            ("cpu.usage".to_string(), vec![1.5, 2.5])
        ]
    );
    assert_eq!(
        log_bodies(&h.logs.as_ref().unwrap().request()),
        vec!["hello", "hello"]
    );

    let http = [("receiver", "otlp"), ("transport", "http")];
    assert_eq!(
        h.metric("otelcol_receiver_accepted_metric_points", &http),
        4.0
    );
    assert_eq!(h.metric("otelcol_receiver_accepted_spans", &http), 2.0);
    assert_eq!(
        h.metric("otelcol_receiver_accepted_log_records", &http),
        2.0
    );
    h.stop().await;
}

#[tokio::test]
async fn json_with_snake_case_field_names() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let body = br#"{"resource_metrics":[{"resource":{"attributes":[{"key":"service.name","value":{"string_value":"snake"}}]},
        "scope_metrics":[{"metrics":[{"name":"m1","gauge":{"data_points":[{"time_unix_nano":"5","as_int":"42"}]}}]}]}]}"#;
    let r = post(&h.http_url("/v1/metrics"), Some(JSON), None, body.to_vec()).await;
    assert_eq!(r.status(), 200);
    let m = h.metrics_sink.as_ref().unwrap().request();
    assert_eq!(metric_values(&m), vec![("m1".to_string(), vec![42.0])]);
    assert_eq!(
        first_service_name(&m.resource_metrics[0].resource.as_ref().unwrap().attributes),
        Some("snake".into())
    );
    h.stop().await;
}

#[tokio::test]
async fn compressed_bodies() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let pb = metrics_request().encode_to_vec();
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        Some("gzip"),
        gzip(&pb),
    )
    .await;
    assert_eq!(r.status(), 200);
    let zs = zstd::encode_all(&pb[..], 3).unwrap();
    let r = post(&h.http_url("/v1/metrics"), Some(PB), Some("zstd"), zs).await;
    assert_eq!(r.status(), 200);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&pb).unwrap();
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        Some("deflate"),
        z.finish().unwrap(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let json = serde_json::to_vec(&metrics_request()).unwrap();
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(JSON),
        Some("gzip"),
        gzip(&json),
    )
    .await;
    assert_eq!(r.status(), 200);
    let m = h.metrics_sink.as_ref().unwrap().request();
    assert_eq!(metric_values(&m).len(), 4);
    assert!(metric_values(&m)
        .iter()
        .all(|(n, v)| n == "cpu.usage" && v == &[1.5, 2.5]));

    // Corrupt gzip: 400 with a Status body, counted as a bad encoding.
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(st.code, 3);
    assert_eq!(st.message, "gzip: invalid header");
    assert_eq!(h.rejected("http", "bad_encoding"), 1.0);
    h.stop().await;
}

#[tokio::test]
async fn otelcol_client_errors() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let pb = metrics_request().encode_to_vec();

    // Unserved signal and unknown path.
    for path in ["/v1/traces", "/v1/logs", "/v1/unknown", "/", "/v1/metrics/"] {
        let r = post(&h.http_url(path), Some(PB), None, pb.clone()).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), "404 page not found\n");
    }
    // Wrong method.
    let r = client()
        .get(h.http_url("/v1/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(
        r.text().await.unwrap(),
        "405 method not allowed, supported: [POST]"
    );
    // Wrong or missing content type.
    for ct in [Some("text/plain"), None] {
        let r = post(&h.http_url("/v1/metrics"), ct, None, pb.clone()).await;
        assert_eq!(r.status(), 415);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(
            r.text().await.unwrap(),
            "415 unsupported media type, supported: [application/json, application/x-protobuf]"
        );
    }
    // Unsupported encodings (snappy is a known name ferrocol cannot decode).
    for enc in ["br", "snappy"] {
        let r = post(
            &h.http_url("/v1/metrics"),
            Some(JSON),
            Some(enc),
            pb.clone(),
        )
        .await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], JSON);
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code": 3, "message": format!("unsupported Content-Encoding: {enc}")})
        );
    }
    // Malformed protobuf: a google.rpc.Status in protobuf.
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        None,
        vec![0xff, 0xff, 0xff, 0xff],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], PB);
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(st.code, 3);
    assert!(
        st.message.contains("failed to decode Protobuf message"),
        "{}",
        st.message
    );
    // Malformed JSON: the Status in JSON.
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(JSON),
        None,
        b"{\"resourceMetrics\": 5".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["code"], 3);
    assert!(v["message"].as_str().unwrap().len() > 5);

    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 0);
    assert_eq!(h.rejected("http", "unsupported_media_type"), 2.0);
    assert_eq!(h.rejected("http", "bad_encoding"), 2.0);
    assert_eq!(h.rejected("http", "decode"), 2.0);
    h.stop().await;
}

#[tokio::test]
async fn body_limits_apply_before_and_after_decompression() {
    let yaml = "protocols: {http: {endpoint: '127.0.0.1:0', max_request_body_size: 100000}}";
    let h = Harness::start(yaml, [false, true, false]).await;
    // Raw body over the limit.
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        None,
        vec![0u8; 150_000],
    )
    .await;
    assert_eq!(r.status(), 400);
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (st.code, st.message.as_str()),
        (3, "http: request body too large")
    );
    // Small compressed body that inflates past the limit.
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        Some("gzip"),
        gzip(&[0u8; 150_000]),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(h.rejected("http", "too_large"), 2.0);
    // Just under the limit is fine (and empty: zero items, nothing forwarded).
    let r = post(&h.http_url("/v1/metrics"), Some(PB), None, Vec::new()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 0);
    h.stop().await;
}

#[tokio::test]
async fn gzip_bomb_is_rejected_and_the_server_keeps_serving() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    // 100 MiB of zeros as 100 concatenated gzip members of 1 MiB each (~100 KiB on the wire);
    // the default limit is 20 MiB.
    let member = gzip(&vec![0u8; 1024 * 1024]);
    let bomb = member.repeat(100);
    assert!(bomb.len() < 1024 * 1024);
    let r = post(&h.http_url("/v1/metrics"), Some(PB), Some("gzip"), bomb).await;
    assert_eq!(r.status(), 400);
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(st.message, "http: request body too large");
    assert_eq!(h.rejected("http", "too_large"), 1.0);
    let r = post(
        &h.http_url("/v1/metrics"),
        Some(PB),
        None,
        metrics_request().encode_to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 1);
    h.stop().await;
}

#[tokio::test]
async fn downstream_errors_map_to_http_statuses() {
    let h = Harness::start(BOTH, [true, false, false]).await;
    let sink = h.traces.as_ref().unwrap();
    let pb = traces_request().encode_to_vec();
    let url = h.http_url("/v1/traces");

    let mut e = ConsumeError::retryable("pipeline is full");
    e.retry_after = Some(Duration::from_millis(3500));
    sink.fail_with(Some(e));
    let r = post(&url, Some(PB), None, pb.clone()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!((st.code, st.message.as_str()), (14, "pipeline is full"));
    let ri = RetryInfo::decode(&st.details[0].value[..]).unwrap();
    assert_eq!(ri.retry_delay.unwrap().nanos, 500_000_000);

    // JSON requests get JSON statuses.
    let json = serde_json::to_vec(&traces_request()).unwrap();
    let r = post(&url, Some(JSON), None, json).await;
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["code"], 14);
    assert_eq!(v["details"][0]["retryDelay"], "3.500s");

    sink.fail_with(Some(ConsumeError::retryable("no delay")));
    let r = post(&url, Some(PB), None, pb.clone()).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_none());

    sink.fail_with(Some(ConsumeError::permanent("exporter rejected")));
    let r = post(&url, Some(PB), None, pb.clone()).await;
    assert_eq!(r.status(), 500);
    let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (st.code, st.message.as_str()),
        (13, "Permanent error: exporter rejected")
    );

    for (code, http) in [
        (8, 429),
        (3, 400),
        (16, 401),
        (7, 403),
        (12, 404),
        (4, 503),
        (9, 500),
    ] {
        let mut e = ConsumeError::permanent("x");
        e.grpc_code = Some(code);
        e.retry_after = Some(Duration::from_secs(2));
        sink.fail_with(Some(e));
        let r = post(&url, Some(PB), None, pb.clone()).await;
        assert_eq!(r.status(), http, "grpc code {code}");
        assert_eq!(
            r.headers().get("retry-after").is_some(),
            http == 429 || http == 503,
            "grpc code {code}"
        );
        let st = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert_eq!((st.code, st.message.as_str()), (code, "x"));
    }

    let http = [("receiver", "otlp"), ("transport", "http")];
    assert_eq!(h.metric("otelcol_receiver_refused_spans", &http), 11.0);
    sink.fail_with(None);
    assert_eq!(post(&url, Some(PB), None, pb).await.status(), 200);
    assert_eq!(h.metric("otelcol_receiver_accepted_spans", &http), 1.0);
    h.stop().await;
}

#[tokio::test]
async fn custom_paths_response_headers_and_cors() {
    let yaml = "protocols: {http: {endpoint: '127.0.0.1:0', traces_url_path: 'otlp/traces', \
                response_headers: {X-Served-By: ferrocol, X-Num: 7}, \
                cors: {allowed_origins: ['https://*.example.com'], allowed_headers: ['X-Custom'], max_age: 600}}}";
    let h = Harness::start(yaml, [true, false, false]).await;
    let pb = traces_request().encode_to_vec();
    let r = post(&h.http_url("/otlp/traces"), Some(PB), None, pb.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], "ferrocol");
    assert_eq!(r.headers()["x-num"], "7");
    let r = post(&h.http_url("/v1/traces"), Some(PB), None, pb.clone()).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-served-by"], "ferrocol");

    let r = client()
        .request(reqwest::Method::OPTIONS, h.http_url("/otlp/traces"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-methods"], "POST");
    assert_eq!(r.headers()["access-control-max-age"], "600");
    let r = client()
        .request(reqwest::Method::OPTIONS, h.http_url("/otlp/traces"))
        .header("origin", "https://evil.test")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = client()
        .post(h.http_url("/otlp/traces"))
        .header("origin", "https://app.example.com")
        .header("content-type", PB)
        .body(pb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    h.stop().await;
}

#[tokio::test]
async fn https_with_http1_and_http2() {
    let yaml = format!(
        "protocols: {{http: {{endpoint: '127.0.0.1:0', tls: {{cert_file: '{}', key_file: '{}', min_version: '1.3'}}}}}}",
        testdata("server.crt"),
        testdata("server.key"),
    );
    let h = Harness::start(&yaml, [false, true, false]).await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(testdata("ca.crt")).unwrap()).unwrap();
    let url = format!("https://localhost:{}/v1/metrics", h.http.unwrap().port());
    for http1 in [true, false] {
        let mut b = reqwest::Client::builder().tls_certs_only([ca.clone()]);
        if http1 {
            b = b.http1_only();
        }
        let r = b
            .build()
            .unwrap()
            .post(&url)
            .header("content-type", PB)
            .body(metrics_request().encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.version(),
            if http1 {
                reqwest::Version::HTTP_11
            } else {
                reqwest::Version::HTTP_2
            }
        );
    }
    assert_eq!(h.metrics_sink.as_ref().unwrap().batches(), 2);
    // Plain HTTP on the TLS port fails.
    let plain = client()
        .post(format!(
            "http://127.0.0.1:{}/v1/metrics",
            h.http.unwrap().port()
        ))
        .header("content-type", PB)
        .body(Vec::new())
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
    h.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let h = Harness::start(BOTH, [false, true, false]).await;
    let sink = h.metrics_sink.as_ref().unwrap();
    sink.delay_acks(Duration::from_millis(700));
    let url = h.http_url("/v1/metrics");
    let req = tokio::spawn(async move {
        post(&url, Some(PB), None, metrics_request().encode_to_vec())
            .await
            .status()
    });
    // Wait (bounded) until the batch is in the pipeline, then shut down.
    for _ in 0..300 {
        if sink.batches() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sink.batches(), 1);
    let addr = h.http.unwrap();
    h.stop().await;
    assert_eq!(req.await.unwrap(), 200);
    // No longer listening.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn odd_inputs_never_break_the_server() {
    let h = Harness::start(BOTH, [true, true, true]).await;
    let url = h.http_url("/v1/traces");
    // Enum names instead of numbers are not accepted (see body.rs): a 400, not a crash.
    let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","kind":"SPAN_KIND_SERVER"}]}]}]}"#;
    let r = post(&url, Some(JSON), None, body.to_vec()).await;
    assert_eq!(r.status(), 400);
    // Deeply nested JSON hits serde_json's recursion limit.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = post(&url, Some(JSON), None, deep.into_bytes()).await;
    assert_eq!(r.status(), 400);
    // Empty and truncated compressed bodies.
    for (enc, body) in [
        ("gzip", Vec::new()),
        ("zstd", Vec::new()),
        ("gzip", gzip(b"abc")[..12].to_vec()),
    ] {
        let r = post(&url, Some(PB), Some(enc), body).await;
        assert!(
            r.status() == 200 || r.status() == 400,
            "{enc}: {}",
            r.status()
        );
    }
    // Random bytes as protobuf.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..50 {
        let len = (seed % 300) as usize;
        let mut b = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b.push(seed as u8);
        }
        let r = post(&url, Some(PB), None, b).await;
        assert!(r.status() == 200 || r.status() == 400, "{}", r.status());
    }
    let r = post(&url, Some(PB), None, traces_request().encode_to_vec()).await;
    assert_eq!(r.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn tls_certificate_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(testdata("server.crt"), &cert).unwrap();
    std::fs::copy(testdata("server.key"), &key).unwrap();
    let yaml = format!(
        "protocols: {{http: {{endpoint: '127.0.0.1:0', tls: {{cert_file: '{}', key_file: '{}', reload_interval: 1ms}}}}}}",
        cert.display(),
        key.display()
    );
    let h = Harness::start(&yaml, [false, true, false]).await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(testdata("ca.crt")).unwrap()).unwrap();
    let url = format!("https://localhost:{}/v1/metrics", h.http.unwrap().port());
    // A fresh client (no session resumption) per request.
    let send = || async {
        reqwest::Client::builder()
            .tls_certs_only([ca.clone()])
            .build()
            .unwrap()
            .post(&url)
            .header("content-type", PB)
            .body(metrics_request().encode_to_vec())
            .send()
            .await
    };
    assert_eq!(send().await.unwrap().status(), 200);
    // A certificate that does not match the key: the reload fails and the old one stays.
    std::fs::copy(testdata("client.crt"), &cert).unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(send().await.unwrap().status(), 200);
    // A valid pair (the client certificate, not valid for "localhost"): once reloaded, the
    // client refuses the server.
    std::fs::copy(testdata("client.key"), &key).unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(send().await.is_err());
    h.stop().await;
}
