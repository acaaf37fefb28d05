//! The `otlp` receiver: one OTLP/gRPC server and one OTLP/HTTP server (each enabled by the
//! presence of its `protocols` key) shared by every signal the receiver is used with, as
//! otelcol's shared OTLP receiver does.
//!
//! `build` decodes the config, loads TLS material and binds both listeners (so a port in use
//! or an unreadable certificate fails the build and names the endpoint); the returned task
//! serves until the component's shutdown token is cancelled, lets in-flight requests finish
//! (bounded by `SHUTDOWN_GRACE`) and returns. Nothing is spawned before the task runs.
//!
//! Listeners come from the process's `ListenerRegistry`: rebuilt on reload with an unchanged
//! endpoint, the receiver takes over the running socket. On shutdown it stops accepting first
//! and lets the server pick up what was already accepted (`HANDOFF_DELAY`) before closing, so
//! during a reload no connection is dropped: the backlog goes to the successor.
//!
//! Layout: `config.rs` (strict config and validation), `listen.rs` (binding, accepting, TLS
//! handshakes), `tls.rs` (rustls server config, certificate reload), `grpc.rs` and `http.rs`
//! (the two servers), `body.rs` (HTTP body limits, decompression, decoding), `cors.rs`,
//! `status.rs` (error statuses), `rejects.rs` (rejected-request counters), `sections.rs`
//! (config section decoding helpers).
//!
//! Not implemented: unix-socket transport, authenticator/middleware extensions, client
//! metadata propagation (`include_metadata`), profiles.

pub mod config;

mod body;
mod cors;
mod grpc;
mod http;
mod listen;
mod rejects;
mod sections;
mod status;
mod tls;

#[cfg(test)]
mod tests;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use crate::component::context::BuildContext;
use crate::component::factory::{
    BuildError, BuiltComponent, Factory, ReceiverFactory, ReceiverOutputs,
};
use crate::component::{Signal, Stability};
use crate::config::decode::{check, decode};
use crate::config::error::ConfigErrors;
use crate::pipeline::listeners::{ListenerLease, ListenerRegistry};
use tokio_util::sync::CancellationToken;

use self::config::{GrpcConfig, HttpConfig, OtlpReceiverConfig};
use self::listen::Incoming;
use self::rejects::Rejects;

pub use self::rejects::REJECTED_REQUESTS;

/// How long in-flight requests may take to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// Between "stop accepting" and "stop serving": lets the server take the connections its
/// accept loop had already accepted.
const HANDOFF_DELAY: Duration = Duration::from_millis(100);

/// The `otlp` receiver factory.
pub struct OtlpReceiverFactory;

impl Factory for OtlpReceiverFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![
            (Signal::Traces, Stability::Stable),
            (Signal::Metrics, Stability::Stable),
            (Signal::Logs, Stability::Stable),
        ]
    }

    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors {
        check::<OtlpReceiverConfig>(raw, key_path)
    }
}

impl ReceiverFactory for OtlpReceiverFactory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: BuildContext,
        outputs: ReceiverOutputs,
    ) -> Result<BuiltComponent, BuildError> {
        let id = ctx.id.to_string();
        let cfg = decode::<OtlpReceiverConfig>(raw, &format!("receivers::{id}"))
            .map_err(|e| BuildError::new("receiver", id.as_str(), e.to_string()))?;
        let bound = BoundOtlp::bind_with(&cfg, &id, &ctx.listeners)?;
        Ok(bound.into_component(ctx, outputs))
    }
}

/// One server's bound socket and settings.
struct BoundServer<C> {
    cfg: C,
    listener: StdListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    addr: SocketAddr,
    lease: ListenerLease,
}

/// The receiver with its listeners bound, not yet serving.
pub struct BoundOtlp {
    grpc: Option<BoundServer<GrpcConfig>>,
    http: Option<BoundServer<HttpConfig>>,
}

impl BoundOtlp {
    /// Loads TLS material and binds the enabled protocols' endpoints (private sockets).
    pub fn bind(cfg: &OtlpReceiverConfig, id: &str) -> Result<Self, BuildError> {
        Self::bind_with(cfg, id, &ListenerRegistry::default())
    }

    /// As `bind`, taking over the sockets `id` already listens on in `listeners`.
    pub fn bind_with(
        cfg: &OtlpReceiverConfig,
        id: &str,
        listeners: &ListenerRegistry,
    ) -> Result<Self, BuildError> {
        let err = |m: String| BuildError::new("receiver", id, m);
        let grpc = match &cfg.protocols.grpc {
            None => None,
            Some(g) => {
                let tls = match &g.tls {
                    Some(t) => Some(
                        tls::server_config(t, tls::ALPN_GRPC)
                            .map_err(|e| err(format!("gRPC server TLS: {e}")))?,
                    ),
                    None => None,
                };
                let v4 = g.transport == "tcp4";
                let (listener, lease) = listeners
                    .listen(id, &format!("grpc-{}", g.transport), &g.endpoint, || {
                        listen::bind(&g.endpoint, v4)
                    })
                    .map_err(|e| {
                        err(format!(
                            "failed to listen on gRPC endpoint {:?}: {e}",
                            g.endpoint
                        ))
                    })?;
                let addr = listener.local_addr().map_err(|e| err(e.to_string()))?;
                Some(BoundServer {
                    cfg: g.clone(),
                    listener,
                    tls,
                    addr,
                    lease,
                })
            }
        };
        let http = match &cfg.protocols.http {
            None => None,
            Some(h) => {
                let tls = match &h.tls {
                    Some(t) => Some(
                        tls::server_config(t, tls::ALPN_HTTP)
                            .map_err(|e| err(format!("HTTP server TLS: {e}")))?,
                    ),
                    None => None,
                };
                let (listener, lease) = listeners
                    .listen(id, "http", &h.endpoint, || listen::bind(&h.endpoint, false))
                    .map_err(|e| {
                        err(format!(
                            "failed to listen on HTTP endpoint {:?}: {e}",
                            h.endpoint
                        ))
                    })?;
                let addr = listener.local_addr().map_err(|e| err(e.to_string()))?;
                Some(BoundServer {
                    cfg: h.clone(),
                    listener,
                    tls,
                    addr,
                    lease,
                })
            }
        };
        Ok(Self { grpc, http })
    }

    /// The bound gRPC address (useful with port 0).
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|s| s.addr)
    }

    /// The bound HTTP address (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|s| s.addr)
    }

    /// (gRPC, HTTP) bound addresses.
    pub fn local_addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.grpc_addr(), self.http_addr())
    }

    /// The task serving both protocols until `ctx.shutdown` is cancelled.
    pub fn into_component(self, ctx: BuildContext, outputs: ReceiverOutputs) -> BuiltComponent {
        let id = ctx.id.to_string();
        let shutdown = ctx.shutdown.clone();
        // Accepting stops at `shutdown`; serving stops `HANDOFF_DELAY` later.
        let serve_stop = CancellationToken::new();
        let grpc_rejects = Arc::new(Rejects::new(&ctx.metrics, &id, "grpc"));
        let http_rejects = Arc::new(Rejects::new(&ctx.metrics, &id, "http"));
        let BoundOtlp { grpc, http } = self;
        let grpc_outputs = outputs.clone();
        let grpc_shutdown = serve_stop.clone();
        let grpc_accept_stop = shutdown.clone();
        let grpc_task = async move {
            let Some(g) = grpc else { return };
            let _lease = g.lease;
            let incoming = match Incoming::start(g.listener, g.tls, "grpc", grpc_accept_stop) {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(endpoint = %g.addr, error = %e, "Failed to start the GRPC server.");
                    return;
                }
            };
            tracing::info!(endpoint = %g.addr, "Starting GRPC server");
            if let Err(e) =
                grpc::serve(&g.cfg, incoming, &grpc_outputs, grpc_rejects, grpc_shutdown).await
            {
                tracing::error!(endpoint = %g.addr, error = %e, "GRPC server failed.");
            }
        };
        let http_shutdown = serve_stop.clone();
        let http_accept_stop = shutdown.clone();
        let http_task = async move {
            let Some(h) = http else { return };
            let _lease = h.lease;
            let incoming = match Incoming::start(h.listener, h.tls, "http", http_accept_stop) {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!(endpoint = %h.addr, error = %e, "Failed to start the HTTP server.");
                    return;
                }
            };
            tracing::info!(endpoint = %h.addr, "Starting HTTP server");
            let state = Arc::new(http::HttpState::new(&h.cfg, outputs, http_rejects));
            if let Err(e) = http::serve(state, incoming, http_shutdown).await {
                tracing::error!(endpoint = %h.addr, error = %e, "HTTP server failed.");
            }
        };
        BuiltComponent::new(async move {
            let serving = futures::future::join(grpc_task, http_task);
            let handoff = shutdown.clone();
            tokio::spawn(async move {
                handoff.cancelled().await;
                tokio::time::sleep(HANDOFF_DELAY).await;
                serve_stop.cancel();
            });
            let deadline = async {
                shutdown.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            };
            tokio::select! {
                _ = serving => {}
                _ = deadline => {
                    tracing::warn!(receiver = id.as_str(), "In-flight requests did not finish in time; closing connections.");
                }
            }
        })
    }
}
