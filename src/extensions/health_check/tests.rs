//! health_check tests: real HTTP over 127.0.0.1 (503 while starting, 200 with otelcol's JSON
//! once ready, path matching, fixed bodies, response headers, port clash, clean stop), the
//! config's accepted/rejected keys and messages, and the Go time formats.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::component::status::Health;
use crate::component::Kind;

/// A minimal HTTP/1.1 client: (status, lower-cased headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn config(yaml: &str) -> HealthCheckConfig {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    decode::<HealthCheckConfig>(&raw, "extensions::health_check").unwrap()
}

/// Binds on an ephemeral port and spawns the server; returns its address and context.
async fn start(yaml: &str) -> (SocketAddr, BuildContext, tokio::task::JoinHandle<()>) {
    let ctx = BuildContext::for_test(Kind::Extension, "health_check");
    let server = HealthCheckServer::bind(&config(yaml), &ctx).unwrap();
    let addr = server.local_addr();
    let task = tokio::spawn(server.into_component().task);
    (addr, ctx, task)
}

async fn fetch(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || get(addr, &path))
        .await
        .unwrap()
}

async fn stop(ctx: &BuildContext, task: tokio::task::JoinHandle<()>) {
    ctx.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops promptly after shutdown")
        .unwrap();
}

#[tokio::test]
async fn unavailable_while_starting_then_json_once_ready() {
    let (addr, ctx, task) = start("endpoint: 127.0.0.1:0").await;
    assert_ne!(addr.port(), 0);

    let (code, h, body) = fetch(addr, "/").await;
    assert_eq!(code, 503);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(
        body,
        r#"{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}"#
    );

    ctx.status.set(Health::Ready);
    let (code, h, body) = fetch(addr, "/").await;
    assert_eq!(code, 200);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = body.split('"').skip(1).step_by(4).collect();
    assert_eq!(keys, vec!["status", "upSince", "uptime"], "{body}");
    assert_eq!(v["status"], "Server available");
    let since = ctx.status.up_since().unwrap();
    assert_eq!(v["upSince"], rfc3339_nano(since));
    let up = v["uptime"].as_str().unwrap();
    assert!(
        up.ends_with('s') && up.chars().next().unwrap().is_ascii_digit(),
        "{up}"
    );

    // Go's ServeMux: the default path "/" serves everything below it.
    let (code, _, _) = fetch(addr, "/anything/else").await;
    assert_eq!(code, 200);

    ctx.status.set(Health::Stopping);
    let (code, _, body) = fetch(addr, "/").await;
    assert_eq!(code, 503);
    assert!(body.contains("Server not available"));

    stop(&ctx, task).await;
    assert!(
        TcpStream::connect(addr).is_err(),
        "listener closed after stop"
    );
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let (addr, ctx, task) = start("endpoint: 127.0.0.1:0\npath: /health").await;
    ctx.status.set(Health::Ready);
    assert_eq!(fetch(addr, "/health").await.0, 200);
    let (code, h, body) = fetch(addr, "/other").await;
    assert_eq!(code, 404);
    assert_eq!(body, "404 page not found\n");
    assert_eq!(
        header(&h, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(fetch(addr, "/").await.0, 404);
    assert_eq!(fetch(addr, "/health/sub").await.0, 404);
    stop(&ctx, task).await;

    // A path with a trailing slash serves its subtree and redirects the bare path.
    let (addr, ctx, task) = start("endpoint: 127.0.0.1:0\npath: /status/").await;
    let (code, h, _) = fetch(addr, "/status").await;
    assert_eq!(code, 301);
    assert_eq!(header(&h, "location"), Some("/status/"));
    assert_eq!(fetch(addr, "/status/").await.0, 503);
    assert_eq!(fetch(addr, "/status/x").await.0, 503);
    assert_eq!(fetch(addr, "/statusx").await.0, 404);
    stop(&ctx, task).await;
}

#[tokio::test]
async fn fixed_response_bodies_and_headers() {
    let yaml = "endpoint: 127.0.0.1:0\nresponse_body:\n  healthy: I'm OK\n  unhealthy: not yet\nresponse_headers:\n  X-Probe: yes\n  X-Num: 42";
    let (addr, ctx, task) = start(yaml).await;
    let (code, h, body) = fetch(addr, "/").await;
    assert_eq!((code, body.as_str()), (503, "not yet"));
    assert_eq!(
        header(&h, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&h, "x-probe"), Some("yes"));
    assert_eq!(header(&h, "x-num"), Some("42"));
    ctx.status.set(Health::Ready);
    let (code, h, body) = fetch(addr, "/").await;
    assert_eq!((code, body.as_str()), (200, "I'm OK"));
    assert_eq!(header(&h, "x-probe"), Some("yes"));
    stop(&ctx, task).await;

    // An empty fixed body stays empty, with no content type.
    let (addr, ctx, task) = start("endpoint: 127.0.0.1:0\nresponse_body: {healthy: ok}").await;
    let (code, h, body) = fetch(addr, "/").await;
    assert_eq!((code, body.as_str()), (503, ""));
    assert_eq!(header(&h, "content-type"), None);
    stop(&ctx, task).await;
}

#[tokio::test]
async fn port_in_use_is_a_build_error_naming_the_endpoint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    let raw: serde_yaml::Value = serde_yaml::from_str(&format!("endpoint: {endpoint}")).unwrap();
    let ctx = BuildContext::for_test(Kind::Extension, "health_check/probe");
    let err = HealthCheckFactory
        .build(&raw, ctx)
        .err()
        .expect("binding a used port fails");
    assert_eq!(err.kind, "extension");
    assert_eq!(err.id, "health_check/probe");
    assert!(
        err.message
            .starts_with(&format!("failed to bind to address {endpoint}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn factory_build_serves_and_stops() {
    let raw: serde_yaml::Value = serde_yaml::from_str("endpoint: 127.0.0.1:0").unwrap();
    let ctx = BuildContext::for_test(Kind::Extension, "health_check");
    let built = HealthCheckFactory.build(&raw, ctx.clone()).unwrap();
    let task = tokio::spawn(built.task);
    tokio::task::yield_now().await;
    stop(&ctx, task).await;
    let bad: serde_yaml::Value = serde_yaml::from_str("path: nope").unwrap();
    let e = HealthCheckFactory.build(&bad, ctx).err().unwrap();
    assert!(e.message.contains("path must start with /"), "{e}");
}

fn validate(yaml: &str) -> Vec<String> {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    HealthCheckFactory
        .validate(&raw, "extensions::health_check")
        .0
        .into_iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn config_defaults_and_accepted_keys() {
    let d =
        decode::<HealthCheckConfig>(&serde_yaml::Value::Null, "extensions::health_check").unwrap();
    assert_eq!(d.endpoint, "localhost:13133");
    assert_eq!(d.path, "/");
    assert_eq!(d.response_body, None);
    assert!(HealthCheckFactory.stability().is_empty());
    assert_eq!(HealthCheckFactory.type_name(), "health_check");
    let ok = "endpoint: ${env:MY_POD_IP}:13133\npath: /healthz\n\
              check_collector_pipeline: {enabled: false, interval: 5m, exporter_failure_threshold: 5}\n\
              response_body: {healthy: up, unhealthy: down}\n\
              cors: {allowed_origins: ['*'], max_age: 7200}\n\
              include_metadata: true\nmax_request_body_size: 1024\n\
              read_timeout: 5s\nread_header_timeout: 2s\nwrite_timeout: 5s\nidle_timeout: 1m\n\
              keep_alives_enabled: true\ncompression_algorithms: [gzip]\n\
              response_headers: {X-A: b}\ncomponent_health: {include_permanent_errors: true}\n\
              use_v2: false\ntls:\nauth:\n";
    assert!(validate(ok).is_empty(), "{:?}", validate(ok));
    let c = config("response_body:\n  healthy: 200\n");
    assert_eq!(c.response_body.unwrap().healthy, "200");
}

#[test]
fn config_validation_messages() {
    let p = "extensions::health_check";
    assert_eq!(
        validate("endpoint: ''"),
        vec![format!("{p}: http endpoint required")]
    );
    assert_eq!(
        validate("path: health"),
        vec![format!("{p}: path must start with /")]
    );
    let v2 = format!(
        "{p}: v2 healthcheck configuration (http/grpc fields) detected but feature gate is disabled. \
         Either remove the v2 config fields or enable the feature gate with: \
         --feature-gates=+extension.healthcheck.useComponentStatus"
    );
    assert_eq!(
        validate("http:\n  endpoint: localhost:13133"),
        vec![v2.clone()]
    );
    assert_eq!(validate("http:"), vec![v2.clone()]);
    assert_eq!(validate("grpc: {endpoint: 'localhost:13132'}"), vec![v2]);
    let tls = validate("tls: {cert_file: /c.pem, key_file: /k.pem}");
    assert_eq!(tls.len(), 1);
    assert!(
        tls[0].starts_with(&format!("{p}::tls: TLS is not supported")),
        "{tls:?}"
    );
    let auth = validate("auth: {authenticator: basicauth}");
    assert!(auth[0].starts_with(&format!("{p}::auth: authentication is not supported")));
    assert_eq!(validate("middlewares: [{id: x}]").len(), 1);
    let h = validate("response_headers: {'bad header': x, X-Ok: \"a\\nb\"}");
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(h[0].contains("invalid header name \"bad header\""));
    assert!(h[1].contains("invalid value for header \"X-Ok\"") && !h[1].contains("a\nb"));
    let both = validate("endpoint: ''\npath: x");
    assert_eq!(both.len(), 2);
    let unknown = validate("endpont: x");
    assert!(
        unknown[0].contains("unknown field `endpont`"),
        "{unknown:?}"
    );
    assert!(validate("response_body: {healthy: a, extra: b}")[0]
        .starts_with(&format!("{p}::response_body")));
}

#[test]
fn endpoints_resolve_like_go() {
    assert_eq!(
        resolve_endpoint(":13133").unwrap(),
        "0.0.0.0:13133".parse().unwrap()
    );
    assert_eq!(
        resolve_endpoint("localhost:13133").unwrap(),
        "127.0.0.1:13133".parse().unwrap()
    );
    assert_eq!(
        resolve_endpoint("10.1.2.3:1").unwrap(),
        "10.1.2.3:1".parse().unwrap()
    );
    assert_eq!(
        resolve_endpoint("[::1]:5").unwrap(),
        "[::1]:5".parse().unwrap()
    );
    assert!(resolve_endpoint("13133")
        .unwrap_err()
        .contains("missing port"));
    assert!(resolve_endpoint("1.2.3.4:http")
        .unwrap_err()
        .contains("invalid port"));
}

#[test]
fn go_duration_strings() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_nanos(1), "1ns"),
        (Duration::from_nanos(999), "999ns"),
        (Duration::from_nanos(1_500), "1.5µs"),
        (Duration::from_micros(1_500), "1.5ms"),
        (Duration::from_millis(100), "100ms"),
        (Duration::from_secs(1), "1s"),
        (Duration::from_millis(62_500), "1m2.5s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_nanos(3_723_000_000_001), "1h2m3.000000001s"),
        (Duration::from_secs(90_000), "25h0m0s"),
    ];
    for (d, want) in cases {
        assert_eq!(go_duration(d), want, "{d:?}");
    }
}

#[test]
fn rfc3339_times() {
    assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    let t = UNIX_EPOCH + Duration::new(1_709_210_096, 500_000_000);
    assert_eq!(rfc3339_nano(t), "2024-02-29T12:34:56.5Z");
    let t = UNIX_EPOCH + Duration::new(4_102_444_799, 123_456_789);
    assert_eq!(rfc3339_nano(t), "2099-12-31T23:59:59.123456789Z");
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(11_017), (2000, 3, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    // Fractions drop trailing zeros, as in Go.
    let t = UNIX_EPOCH + Duration::new(1_709_210_096, 120_000_000);
    assert_eq!(rfc3339_nano(t), "2024-02-29T12:34:56.12Z");
    let s = rfc3339_nano(SystemTime::now());
    assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    if s.contains('.') {
        assert!(!s.ends_with("0Z"), "{s}");
    }
}
