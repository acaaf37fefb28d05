//! The demo app (examples/metrics-app) as a user runs it: its `/metrics` in both exposition
//! formats with the exact help text, the counter growing with the simulated work, OTLP push
//! over gRPC and HTTP to a real OTLP backend (the test sink) with the resource from the
//! standard variables, the last export flushed on SIGTERM, and clear errors for bad flags and
//! bad OpenTelemetry variables.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::demo_app::{DemoApp, DemoBinary};
use support::points::points;
use support::sink::Sink;
use support::{free_port, metric_value, wait_for};

const SAMPLE: &str = "myapp_processed_ops_total";
const HELP: &str = "The total number of processed operations";

async fn binary() -> DemoBinary {
    support::init();
    tokio::task::spawn_blocking(DemoBinary::build)
        .await
        .expect("build the demo app")
}

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_counter_in_both_formats_and_counts_work() {
    let bin = binary().await;
    let mut app = DemoApp::start(&bin, local(), &["--ops-per-second", "50"], &[]).await;

    // Prometheus text 0.0.4 by default.
    let (ct, text) = app.scrape(None).await.expect("/metrics");
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], format!("# HELP {SAMPLE} {HELP}"));
    assert_eq!(lines[1], format!("# TYPE {SAMPLE} counter"));
    assert!(lines[2].starts_with(&format!("{SAMPLE} ")), "{text}");

    // OpenMetrics when asked, as Prometheus asks.
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3";
    let (ct, om) = app.scrape(Some(accept)).await.expect("/metrics");
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.starts_with(&format!(
        "# HELP myapp_processed_ops {HELP}\n# TYPE myapp_processed_ops counter\n{SAMPLE} "
    )));
    assert!(om.ends_with("# EOF\n"), "{om}");

    // The work goes on: the counter grows.
    let first = metric_value(&text, SAMPLE, &[]);
    let mut later = first;
    for _ in 0..100 {
        let (_, t) = app.scrape(None).await.expect("/metrics");
        later = metric_value(&t, SAMPLE, &[]);
        if later > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(later > first, "{first} -> {later}");

    // Unknown paths are 404; the index names the endpoint.
    let other = reqwest::get(format!("http://{}/nope", app.listen))
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let index = reqwest::get(format!("http://{}/", app.listen))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("/metrics"));

    let st = app.terminate().await;
    assert!(st.success(), "exit {st}:\n{}", app.stderr());
    assert!(app.stderr().contains("SIGTERM"), "{}", app.stderr());
}

/// The total the app logged when it stopped (`stopped total=N`).
fn stopped_total(log: &str) -> f64 {
    log.lines()
        .find(|l| l.contains("stopped"))
        .and_then(|l| l.split("total=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no `stopped total=` line:\n{log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_over_grpc_and_http_and_flushes_on_sigterm() {
    let bin = binary().await;
    let sink = Sink::start().await;
    let grpc = format!("http://{}", sink.grpc_addr);
    let http = format!("http://{}", sink.http_addr);

    // gRPC, exporting every 300 ms, named by OTEL_SERVICE_NAME, with extra attributes.
    let mut pusher = DemoApp::start(
        &bin,
        local(),
        &[],
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "300"),
            ("OTEL_SERVICE_NAME", "checkout"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
        ],
    )
    .await;
    // HTTP/protobuf to the base URL (the exporter appends /v1/metrics), exporting only at
    // shutdown (the interval is ten minutes), with the default service name.
    let mut flusher = DemoApp::start(
        &bin,
        local(),
        &[],
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", http.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ],
    )
    .await;

    let service = |name: &'static str| {
        let sink = &sink;
        move || {
            let p: Vec<_> = points(&sink.rec().metrics)
                .into_iter()
                .filter(|p| p.res("service.name") == name && p.metric == SAMPLE)
                .collect();
            p
        }
    };
    let pushed = wait_for(Duration::from_secs(15), || {
        let p = service("checkout")();
        (p.len() >= 2).then_some(p)
    })
    .await
    .unwrap_or_else(|| panic!("no gRPC pushes:\n{}", pusher.stderr()));
    for p in &pushed {
        assert_eq!(p.monotonic, Some(true), "a cumulative counter: {p:?}");
        assert_eq!(p.res("deployment.environment.name"), "test");
        assert_eq!(p.res("telemetry.sdk.language"), "rust");
    }
    assert!(
        pushed.windows(2).all(|w| w[0].value <= w[1].value),
        "{pushed:?}"
    );
    let desc = sink
        .rec()
        .metrics
        .iter()
        .flat_map(|r| r.resource_metrics.iter())
        .flat_map(|rm| rm.scope_metrics.iter())
        .flat_map(|sm| sm.metrics.iter())
        .find(|m| m.name == SAMPLE)
        .map(|m| m.description.clone());
    assert_eq!(desc.as_deref(), Some(HELP));
    // The pushed counter is the scraped one.
    let (_, text) = pusher.scrape(None).await.expect("/metrics");
    let scraped_now = metric_value(&text, SAMPLE, &[]);
    assert!(scraped_now >= pushed.last().unwrap().value);

    // Nothing from the ten-minute exporter yet; SIGTERM flushes it, with the final count.
    assert!(service("metrics-app")().is_empty());
    assert!(sink.rec().headers.is_empty(), "no HTTP export yet");
    let st = flusher.terminate().await;
    assert!(st.success(), "exit {st}:\n{}", flusher.stderr());
    let log = flusher.stderr();
    let flushed = service("metrics-app")();
    assert_eq!(flushed.len(), 1, "one export, at shutdown:\n{log}");
    assert_eq!(flushed[0].value, stopped_total(&log), "{log}");
    assert!(flushed[0].value > 0.0);
    assert!(log.contains("OTLP exporter flushed"), "{log}");
    let content_type = sink.rec().headers[0]
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(content_type.as_deref(), Some("application/x-protobuf"));

    // The gRPC pusher's final export also carries its final count.
    let st = pusher.terminate().await;
    assert!(st.success());
    let last = service("checkout")();
    assert_eq!(
        last.last().unwrap().value,
        stopped_total(&pusher.stderr()),
        "{}",
        pusher.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_is_logged_and_shutdown_stays_bounded() {
    let bin = binary().await;
    // Nothing listens there: exports fail, the app keeps serving, SIGTERM still exits 0.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut app = DemoApp::start(
        &bin,
        local(),
        &[],
        &[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    )
    .await;
    let logged = wait_for(Duration::from_secs(15), || {
        let log = app.stderr();
        (log.contains("ERROR") && log.contains("PeriodicReader.ExportError")).then_some(())
    })
    .await;
    assert!(
        logged.is_some(),
        "export failures are logged:\n{}",
        app.stderr()
    );
    assert!(app.scrape(None).await.is_some(), "still serving");
    let st = app.terminate().await;
    assert!(st.success(), "{}", app.stderr());
    assert!(
        app.stderr().contains("the final OTLP export failed"),
        "{}",
        app.stderr()
    );
}

fn run(bin: &DemoBinary, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = bin
        .command()
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the demo app");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn help_and_clear_errors() {
    let bin = binary().await;
    let (ok, help, _) = run(&bin, &["--help"], &[]);
    assert!(ok);
    for needle in [
        "--listen",
        "[default: 0.0.0.0:2112]",
        "--ops-per-second",
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }

    // (arguments, environment, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--listen", "nowhere"], &[], "invalid value 'nowhere' for '--listen"),
        (&["--ops-per-second", "0"], &[], "0 is not in 1..=10000"),
        (
            &["--listen", "127.0.0.1:0"],
            &[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": expected grpc or http/protobuf",
        ),
        (
            &["--listen", "127.0.0.1:0"],
            &[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://backend:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT=\"https://backend:4317\": expected a plaintext http:// URL",
        ),
        (
            &["--listen", "127.0.0.1:0"],
            &[("OTEL_METRICS_EXPORTER", "zipkin")],
            "OTEL_METRICS_EXPORTER=\"zipkin\"",
        ),
        (
            &["--listen", "127.0.0.1:0"],
            &[("OTEL_METRICS_EXPORTER", "otlp"), ("OTEL_METRIC_EXPORT_INTERVAL", "5s")],
            "OTEL_METRIC_EXPORT_INTERVAL=\"5s\": expected a positive number of milliseconds",
        ),
    ];
    for (args, env, expected) in cases {
        let (ok, _, err) = run(&bin, args, env);
        assert!(!ok, "{args:?} {env:?} must fail");
        assert!(err.contains(expected), "{args:?} {env:?}:\n{err}");
    }

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (ok, _, err) = run(&bin, &["--listen", &addr], &[]);
    assert!(!ok);
    assert!(err.contains(&format!("binding {addr}")), "{err}");
}
