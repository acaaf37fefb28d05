//! The self-metrics endpoint: `GET /metrics` in the Prometheus text format on each pull
//! reader's `host:port` (default `localhost:8888`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::telemetry::metrics::MetricsRegistry;

/// Resolves `host:port` (`localhost` -> 127.0.0.1, empty host -> all interfaces).
pub fn resolve_endpoint(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" => "0.0.0.0".to_string(),
        "localhost" => "127.0.0.1".to_string(),
        h => h.to_string(),
    };
    ip.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, port))
        .map_err(|_| {
            format!("cannot resolve host {host:?}: ferrocol binds IP addresses and localhost only")
        })
}

/// Binds the endpoint now (so a port clash fails at startup) and returns the serving task.
pub fn bind(
    addr: SocketAddr,
    registry: Arc<MetricsRegistry>,
    shutdown: CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    Ok(async move {
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "Cannot serve self-metrics.");
                return;
            }
        };
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let r = Arc::clone(&registry);
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        r.render(),
                    )
                        .into_response()
                }
            }),
        );
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "Self-metrics server failed.");
        }
    })
}

/// The self-metrics endpoints of a telemetry config, resolved.
pub fn pull_addrs(
    cfg: &crate::telemetry::config::MetricsConfig,
) -> Result<Vec<SocketAddr>, (String, String)> {
    cfg.pull_endpoints()
        .iter()
        .map(|ep| {
            resolve_endpoint(&ep.host, ep.port).map_err(|m| (format!("{}:{}", ep.host, ep.port), m))
        })
        .collect()
}

/// Self-metrics servers bound but not yet serving.
pub struct BoundServers {
    servers: Vec<(SocketAddr, CancellationToken)>,
    tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

/// Running self-metrics servers, one stop token per address.
#[derive(Default)]
pub struct Servers {
    servers: Vec<(SocketAddr, CancellationToken)>,
}

/// Binds every address (a clash fails with the address named).
pub fn bind_all(
    addrs: &[SocketAddr],
    registry: &Arc<MetricsRegistry>,
) -> Result<BoundServers, (String, String)> {
    let mut servers = Vec::new();
    let mut tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> =
        Vec::new();
    for a in addrs {
        let stop = CancellationToken::new();
        let t = bind(*a, Arc::clone(registry), stop.clone())
            .map_err(|e| (a.to_string(), e.to_string()))?;
        tasks.push(Box::pin(t));
        servers.push((*a, stop));
    }
    Ok(BoundServers { servers, tasks })
}

impl BoundServers {
    /// Starts serving, alongside `running` (which keeps its other servers).
    pub fn serve_into(self, running: &mut Servers) {
        for t in self.tasks {
            tokio::spawn(t);
        }
        running.servers.extend(self.servers);
    }
}

impl Servers {
    /// The addresses served.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|(a, _)| *a).collect()
    }

    /// Stops the servers whose address is not in `keep`.
    pub fn retain(&mut self, keep: &[SocketAddr]) {
        self.servers.retain(|(a, stop)| {
            let k = keep.contains(a);
            if !k {
                stop.cancel();
            }
            k
        });
    }

    /// Stops every server.
    pub fn stop(&mut self) {
        self.retain(&[]);
    }
}
