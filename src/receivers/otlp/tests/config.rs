//! Config decoding, defaults and validation messages.

use super::*;
use crate::component::factory::Factory;
use crate::component::{Signal, Stability};
use crate::receivers::otlp::config::{parse_endpoint, Host};
use crate::receivers::otlp::OtlpReceiverFactory;

fn errors(yaml: &str) -> String {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    OtlpReceiverFactory
        .validate(&raw, "receivers::otlp")
        .to_string()
}

fn cfg(yaml: &str) -> OtlpReceiverConfig {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    decode(&raw, "receivers::otlp").unwrap()
}

#[test]
fn factory_identity() {
    assert_eq!(OtlpReceiverFactory.type_name(), "otlp");
    assert_eq!(
        OtlpReceiverFactory.stability(),
        vec![
            (Signal::Traces, Stability::Stable),
            (Signal::Metrics, Stability::Stable),
            (Signal::Logs, Stability::Stable)
        ]
    );
}

#[test]
fn presence_enables_protocols_with_defaults() {
    let c = cfg("protocols:\n  grpc:\n  http:\n");
    let g = c.protocols.grpc.unwrap();
    assert_eq!(g.endpoint, "localhost:4317");
    assert_eq!(g.transport, "tcp");
    assert_eq!(g.read_buffer_size, 512 * 1024);
    assert_eq!(g.max_recv_msg_size(), 4 * 1024 * 1024);
    let h = c.protocols.http.unwrap();
    assert_eq!(h.endpoint, "localhost:4318");
    assert_eq!(h.max_body(), 20 * 1024 * 1024);
    assert_eq!(
        h.url_paths(),
        [
            "/v1/traces".to_string(),
            "/v1/metrics".into(),
            "/v1/logs".into()
        ]
    );
    assert!(h.compression_algorithms().contains(&"zstd".to_string()));

    let c = cfg("protocols: {http: {}}");
    assert!(c.protocols.grpc.is_none());
    assert!(c.protocols.http.is_some());
    let c = cfg("protocols: {grpc: {enabled: false}, http: {max_request_body_size: 0, logs_url_path: custom/logs}}");
    assert!(c.protocols.grpc.is_none());
    let h = c.protocols.http.unwrap();
    assert_eq!(h.max_body(), 20 * 1024 * 1024);
    assert_eq!(h.url_paths()[2], "/custom/logs");
}

#[test]
fn accepts_the_full_otelcol_shape() {
    let yaml = r#"
protocols:
  grpc:
    endpoint: ${MY_POD_IP}:4317
    transport: tcp
    max_recv_msg_size_mib: 16
    max_concurrent_streams: 100
    read_buffer_size: 524288
    write_buffer_size: 0
    include_metadata: true
    keepalive:
      server_parameters: {max_connection_idle: 11s, max_connection_age: 12s, max_connection_age_grace: 13s, time: 30s, timeout: 5s}
      enforcement_policy: {min_time: 10s, permit_without_stream: true}
    tls:
      cert_file: /certs/tls.crt
      key_file: /certs/tls.key
      client_ca_file: /certs/ca.crt
      min_version: "1.2"
      max_version: "1.3"
      reload_interval: 1h
  http:
    endpoint: 0.0.0.0:4318
    include_metadata: true
    max_request_body_size: 1048576
    compression_algorithms: [gzip, zstd]
    cors: {allowed_origins: ["https://*.example.com"], allowed_headers: [X-Custom], max_age: 7200}
    response_headers: {X-A: b}
    read_timeout: 10s
    read_header_timeout: 5s
    write_timeout: 0s
    idle_timeout: 1m
    traces_url_path: /t
    metrics_url_path: /m
    logs_url_path: /l
"#
    .replace("${MY_POD_IP}", "10.1.2.3");
    assert_eq!(errors(&yaml), "");
    let c = cfg(&yaml);
    let g = c.protocols.grpc.unwrap();
    assert_eq!(g.max_recv_msg_size(), 16 * 1024 * 1024);
    let sp = g.keepalive.unwrap().server_parameters.unwrap();
    assert_eq!(sp.time.0, std::time::Duration::from_secs(30));
    assert_eq!(
        g.tls.unwrap().reload_interval.0,
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(
        c.protocols.http.unwrap().compression_algorithms(),
        vec!["gzip", "zstd"]
    );
}

#[test]
fn validation_messages() {
    let msg = "receivers::otlp: must specify at least one protocol when using the OTLP receiver";
    assert_eq!(errors("protocols: {}"), msg);
    assert_eq!(errors("protocols:"), msg);
    assert_eq!(errors("{}"), msg);
    assert_eq!(errors("protocols: {grpc: {enabled: false}}"), msg);
    assert_eq!(
        errors("protocols: {grpc: {enabled: false}, http: {enabled: false}}"),
        msg
    );
    assert_eq!(
        OtlpReceiverFactory
            .validate(&serde_yaml::Value::Null, "receivers::otlp")
            .to_string(),
        msg
    );

    let e = errors("protocols: {grpc: {endpoint: 'localhost:4317', bogus: 1}}");
    assert!(
        e.starts_with(
            "receivers::otlp::protocols::grpc: error decoding configuration: unknown field `bogus`"
        ),
        "{e}"
    );
    let e = errors("protocols: {grpc: {keepalive: {server_parameters: {time: 5s, bogus: 1}}}}");
    assert!(
        e.starts_with("receivers::otlp::protocols::grpc::keepalive::server_parameters: error decoding configuration: unknown field `bogus`"),
        "{e}"
    );
    let e = errors("protocols: {http: {max_request_body_size: big}}");
    assert!(
        e.starts_with("receivers::otlp::protocols::http::max_request_body_size: error decoding configuration: invalid type"),
        "{e}"
    );
    let e = errors("protocols: {grpc: {}, websocket: {}}");
    assert!(
        e.starts_with("receivers::otlp::protocols::websocket: error decoding configuration: unknown field `websocket`"),
        "{e}"
    );
    let e = errors("protocols: {grpc: {enabled: 3}}");
    assert!(e.contains("unexpected type"), "{e}");

    assert_eq!(
        errors("protocols: {grpc: {auth: {authenticator: basicauth}}}"),
        "receivers::otlp::protocols::grpc::auth: authenticator extensions are not supported by ferrocol"
    );
    assert_eq!(
        errors("protocols: {http: {auth: {authenticator: oidc}}}"),
        "receivers::otlp::protocols::http::auth: authenticator extensions are not supported by ferrocol"
    );
    assert_eq!(
        errors("protocols: {grpc: {transport: unix, endpoint: '/tmp/otlp.sock:0'}}"),
        "receivers::otlp::protocols::grpc::transport: transport \"unix\" is not supported by ferrocol; use tcp"
    );
    assert_eq!(
        errors("protocols: {http: {endpoint: 'localhost'}}"),
        "receivers::otlp::protocols::http::endpoint: address localhost: missing port in address"
    );
    assert_eq!(
        errors("protocols: {http: {endpoint: 'localhost:http2'}}"),
        "receivers::otlp::protocols::http::endpoint: address localhost:http2: invalid port \"http2\""
    );
    assert_eq!(
        errors("protocols: {grpc: {tls: {cert_file: a.crt}}}"),
        "receivers::otlp::protocols::grpc::tls: failed to load TLS config: for auth via TLS, provide both certificate and key, or neither"
    );
    assert_eq!(
        errors("protocols: {grpc: {tls: {cert_file: a, key_file: b, min_version: '1.4'}}}"),
        "receivers::otlp::protocols::grpc::tls: invalid TLS min_version: unsupported TLS version: \"1.4\""
    );
    assert_eq!(
        errors("protocols: {http: {logs_url_path: '/v1/%zz'}}"),
        "receivers::otlp::protocols::http: invalid HTTP URL path set for signal: parse \"/v1/%zz\": invalid URL escape \"%zz\""
    );
    assert_eq!(
        errors("protocols: {http: {include_tls_metadata: true}}"),
        "receivers::otlp::protocols::http: invalid include_tls_metadata value, must be false when not using TLS"
    );
    // Several problems are all reported.
    let e = errors("protocols: {grpc: {auth: {authenticator: a}, read_buffer_size: -1}, http: {middlewares: [{id: m}]}}");
    assert_eq!(e.lines().count(), 3, "{e}");
}

#[test]
fn null_sub_sections_are_absent() {
    let c = cfg("protocols: {grpc: {tls: , keepalive: , auth: }, http: {cors: , tls: , response_headers: }}");
    let g = c.protocols.grpc.unwrap();
    assert!(g.tls.is_none() && g.keepalive.is_none() && g.auth.is_none());
    let h = c.protocols.http.unwrap();
    assert!(h.cors.is_none() && h.tls.is_none() && h.response_headers.is_empty());
}

#[test]
fn endpoints() {
    use std::net::{IpAddr, Ipv4Addr};
    assert_eq!(
        parse_endpoint("localhost:4317"),
        Ok((Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), 4317))
    );
    assert_eq!(parse_endpoint("0.0.0.0:4318"), Ok((Host::Any, 4318)));
    assert_eq!(parse_endpoint(":4318"), Ok((Host::Any, 4318)));
    assert_eq!(parse_endpoint("[::]:4317"), Ok((Host::Any, 4317)));
    assert_eq!(
        parse_endpoint("[::1]:4317"),
        Ok((Host::Ip("::1".parse().unwrap()), 4317))
    );
    assert_eq!(
        parse_endpoint("10.0.0.7:4317"),
        Ok((Host::Ip("10.0.0.7".parse().unwrap()), 4317))
    );
    assert_eq!(
        parse_endpoint("otel-agent:4317"),
        Ok((Host::Name("otel-agent".into()), 4317))
    );
    assert!(parse_endpoint("::1:4317")
        .unwrap_err()
        .contains("too many colons"));
    assert!(parse_endpoint("host:99999").is_err());
}

#[tokio::test]
async fn build_reports_unreadable_tls_files() {
    let yaml = "protocols: {grpc: {endpoint: '127.0.0.1:0', tls: {cert_file: /nonexistent/tls.crt, key_file: /nonexistent/tls.key}}}";
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let c: OtlpReceiverConfig = decode(&raw, "receivers::otlp").unwrap();
    let e = BoundOtlp::bind(&c, "otlp").err().unwrap().to_string();
    assert!(e.contains("/nonexistent/tls.crt"), "{e}");
}
