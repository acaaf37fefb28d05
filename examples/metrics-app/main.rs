//! The demo app for the node agent: a small service that does simulated work and counts it in
//! `myapp_processed_ops_total` (a counter, help "The total number of processed operations").
//!
//! * **Pull**: the counter is served at `/metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0
//!   when the scraper asks for it) on `--listen` (default `0.0.0.0:2112`), for the node agent
//!   to scrape on the pod IP.
//! * **Push**: with `OTEL_METRICS_EXPORTER=otlp` the same counter is also sent over OTLP, to
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` with `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or
//!   `http/protobuf`), every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds, with the resource from
//!   `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (see `push.rs`).
//!
//! On SIGTERM or SIGINT it stops serving and working, flushes the last OTLP export, and exits
//! with status 0.
//!
//! ```sh
//! cargo run --release --example metrics-app -- --listen 0.0.0.0:2112
//! OTEL_METRICS_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \
//!   OTEL_EXPORTER_OTLP_PROTOCOL=grpc cargo run --release --example metrics-app
//! ```

mod exposition;
mod push;
mod work;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

/// The longest the final OTLP export may take at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// A demo service that counts simulated operations in `myapp_processed_ops_total`, served at
/// /metrics for scraping and, with OTEL_METRICS_EXPORTER=otlp, pushed over OTLP.
#[derive(Debug, Parser)]
#[command(
    name = "metrics-app",
    version,
    after_help = "OTLP push (standard OpenTelemetry SDK variables):\n  \
      OTEL_METRICS_EXPORTER          otlp to push, none (default) to only serve /metrics\n  \
      OTEL_EXPORTER_OTLP_ENDPOINT    e.g. http://$(HOST_IP):4317 (gRPC) or :4318 (HTTP);\n                                 \
      default http://localhost:4317 (grpc) or http://localhost:4318 (http/protobuf)\n  \
      OTEL_EXPORTER_OTLP_PROTOCOL    grpc or http/protobuf (default)\n  \
      OTEL_METRIC_EXPORT_INTERVAL    milliseconds between exports (default 60000)\n  \
      OTEL_SERVICE_NAME              service.name (default metrics-app)\n  \
      OTEL_RESOURCE_ATTRIBUTES       key=value,... added to the resource\n\
      The _METRICS_ variants of the endpoint and protocol variables take precedence.\n\
      Plaintext (http://) endpoints only: the app pushes to its node's agent.\n\n\
      Logs go to stderr; RUST_LOG sets the level (default info)."
)]
struct Cli {
    /// Address to serve /metrics on. Use 0.0.0.0 (or the pod IP) in a pod: the node agent
    /// connects to the pod IP, never to localhost.
    #[arg(long, default_value = "0.0.0.0:2112")]
    listen: SocketAddr,

    /// Simulated operations per second (1 to 10000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    ops_per_second: u32,

    /// CPU work per operation, in rounds of a small arithmetic loop (0 to 1000000).
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    work_rounds: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // The OTLP/HTTP client is built with rustls and no compiled-in crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let push_config = push::PushConfig::from_env(|k| std::env::var(k).ok())
        .context("the OpenTelemetry environment variables")?;
    let ops = exposition::OpsCounter::default();
    let otlp = match &push_config {
        Some(cfg) => Some(push::start(cfg).context("starting the OTLP exporter")?),
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    let stop = CancellationToken::new();
    tokio::spawn(shutdown_on_signal(stop.clone()));

    let worker = tokio::spawn(work::run(
        work::Work {
            ops_per_second: cli.ops_per_second,
            rounds: cli.work_rounds,
        },
        ops.clone(),
        otlp.as_ref().map(|p| p.counter.clone()),
        stop.clone(),
    ));
    tracing::info!(
        listen = %cli.listen,
        push = push_config.as_ref().map_or("off".to_string(), |c| c.to_string()),
        "serving myapp_processed_ops_total at /metrics"
    );
    let served = axum::serve(listener, exposition::router(ops.clone()))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await;
    stop.cancel();
    let _ = worker.await;
    if let Some(p) = otlp {
        tracing::info!(
            total = ops.get(),
            "flushing the last OTLP export before exiting"
        );
        p.shutdown(FLUSH_TIMEOUT).await;
    }
    served.context("serving /metrics")?;
    tracing::info!(total = ops.get(), "stopped");
    Ok(())
}

/// Cancels `stop` on the first SIGTERM or SIGINT.
async fn shutdown_on_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (term, int) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot listen for signals; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    stop.cancel();
}
