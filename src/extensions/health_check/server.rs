//! The health endpoint's HTTP server: binds at build time (so a port clash fails startup with
//! the endpoint named), then serves `<path>` with 200 when the collector is ready and 503
//! otherwise, until the component's shutdown token is cancelled.
//!
//! Path matching follows Go's `http.ServeMux`, which otelcol uses: a path ending in `/`
//! (the default `/`) serves everything below it, and the same path without the trailing
//! slash is redirected to it; any other path is a 404 with Go's body. Every method is
//! answered, as in otelcol. No TLS (rejected by config validation).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::component::context::BuildContext;
use crate::component::factory::{BuildError, BuiltComponent};
use crate::component::status::{Health, StatusRegistry};
use crate::pipeline::listeners::ListenerLease;

use super::config::{HealthCheckConfig, ResponseBodyConfig};
use super::response::legacy_json;

/// How long in-flight requests may take to finish once shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves an endpoint the way Go's `net.Listen("tcp", ...)` would: empty host = all
/// interfaces, `localhost` = 127.0.0.1, IP literals (IPv6 in brackets), else a DNS lookup
/// preferring IPv4.
pub fn resolve_endpoint(endpoint: &str) -> Result<SocketAddr, String> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .ok_or_else(|| format!("address {endpoint}: missing port in address"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("address {endpoint}: invalid port {port:?}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match host {
        "" => return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        "localhost" => return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        _ => {}
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("address {endpoint}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("address {endpoint}: no addresses found"))
}

/// Everything a request needs to be answered.
struct Responder {
    path: String,
    body: Option<ResponseBodyConfig>,
    headers: HeaderMap,
    status: Arc<StatusRegistry>,
    started: SystemTime,
}

impl Responder {
    fn respond(&self, path: &str) -> Response {
        let mut resp = if self.matches(path) {
            self.health()
        } else if self.path.len() > 1 && self.path.strip_suffix('/') == Some(path) {
            plain(
                StatusCode::MOVED_PERMANENTLY,
                String::new(),
                Some(&self.path),
            )
        } else {
            plain(StatusCode::NOT_FOUND, "404 page not found\n".into(), None)
        };
        for (k, v) in &self.headers {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
        resp
    }

    fn matches(&self, path: &str) -> bool {
        if self.path.ends_with('/') {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }

    fn health(&self) -> Response {
        let ready = self.status.health() == Health::Ready;
        let code = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let mut builder = Response::builder().status(code);
        let body = match &self.body {
            Some(fixed) => {
                let text = if ready {
                    &fixed.healthy
                } else {
                    &fixed.unhealthy
                };
                if !text.is_empty() {
                    builder = builder.header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
                }
                text.clone()
            }
            None => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                let since = self.status.up_since().unwrap_or(self.started);
                legacy_json(ready, since, SystemTime::now())
            }
        };
        builder
            .body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}

fn plain(code: StatusCode, body: String, location: Option<&str>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    resp
}

/// A bound, not yet serving, health endpoint.
pub struct HealthCheckServer {
    id: String,
    listener: std::net::TcpListener,
    lease: ListenerLease,
    addr: SocketAddr,
    responder: Arc<Responder>,
    shutdown: CancellationToken,
}

impl HealthCheckServer {
    /// Binds the configured endpoint. Fails with the endpoint named if it cannot be bound.
    pub fn bind(cfg: &HealthCheckConfig, ctx: &BuildContext) -> Result<Self, BuildError> {
        let id = ctx.id.to_string();
        let err = |m: String| BuildError::new("extension", id.clone(), m);
        let addr = resolve_endpoint(&cfg.endpoint)
            .map_err(|e| err(format!("failed to bind to address {}: {e}", cfg.endpoint)))?;
        if addr.ip().is_unspecified() {
            tracing::warn!(
                extension = %id,
                endpoint = %cfg.endpoint,
                "Using the 0.0.0.0 address exposes this server to every network interface, which may facilitate Denial of Service attacks."
            );
        }
        let (listener, lease) = ctx
            .listeners
            .listen(&id, "http", &cfg.endpoint, || {
                std::net::TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|_| l))
            })
            .map_err(|e| err(format!("failed to bind to address {}: {e}", cfg.endpoint)))?;
        let addr = listener.local_addr().unwrap_or(addr);
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.response_headers {
            // Validation rejected invalid names and values already.
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.insert(k, v);
            }
        }
        Ok(Self {
            id,
            listener,
            lease,
            addr,
            responder: Arc::new(Responder {
                path: cfg.path.clone(),
                body: cfg.response_body.clone(),
                headers,
                status: Arc::clone(&ctx.status),
                started: SystemTime::now(),
            }),
            shutdown: ctx.shutdown.clone(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The serving task: returns within `SHUTDOWN_GRACE` after the shutdown token fires.
    pub fn into_component(self) -> BuiltComponent {
        BuiltComponent::new(self.serve())
    }

    async fn serve(self) {
        let Self {
            id,
            listener,
            lease,
            addr,
            responder,
            shutdown,
        } = self;
        let _lease = lease;
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(extension = %id, error = %e, "Cannot serve health checks.");
                return;
            }
        };
        tracing::info!(extension = %id, endpoint = %addr, path = %responder.path, "Starting health_check extension.");
        let app = Router::new().fallback(move |req: Request| {
            let r = Arc::clone(&responder);
            async move { r.respond(req.uri().path()) }
        });
        let token = shutdown.clone();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await });
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            res = server => {
                if let Err(e) = res {
                    tracing::error!(extension = %id, error = %e, "Health check server failed.");
                }
            }
            _ = deadline => {
                tracing::warn!(extension = %id, "Health check requests did not finish in time; closing.");
            }
        }
        tracing::debug!(extension = %id, "Health check server stopped.");
    }
}
