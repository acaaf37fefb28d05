//! The admin endpoint (`--admin-endpoint host:port`, off by default): `POST` or `PUT
//! /-/reload` reloads the config as Prometheus's lifecycle API does, answering 200 with what
//! changed, or 500 `failed to reload config: <reason>` while the running config is kept.
//! Other methods get 405. It is a ferrocol command-line setting, not a config key, so configs
//! stay loadable by otelcol.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{ReloadRequest, Trigger};

/// How long a request waits for its reload to finish.
const REPLY_WAIT: Duration = Duration::from_secs(120);

/// Parses `host:port` (`localhost` and an empty host as `resolve_endpoint` does).
pub fn parse_endpoint(ep: &str) -> Result<SocketAddr, String> {
    let (host, port) = ep
        .rsplit_once(':')
        .ok_or_else(|| format!("admin endpoint {ep:?}: expected host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("admin endpoint {ep:?}: invalid port {port:?}"))?;
    crate::telemetry::server::resolve_endpoint(host, port)
        .map_err(|e| format!("admin endpoint {ep:?}: {e}"))
}

async fn reload(State(tx): State<mpsc::Sender<ReloadRequest>>) -> (StatusCode, String) {
    let (reply_tx, reply_rx) = oneshot::channel();
    let req = ReloadRequest {
        trigger: Trigger::Http,
        reply: Some(reply_tx),
    };
    if tx.send(req).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the collector is shutting down\n".to_string(),
        );
    }
    match tokio::time::timeout(REPLY_WAIT, reply_rx).await {
        Ok(Ok(Ok(summary))) => (StatusCode::OK, format!("config reloaded: {summary}\n")),
        Ok(Ok(Err(e))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        ),
        Ok(Err(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the collector is shutting down\n".to_string(),
        ),
        Err(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "the reload is taking longer than expected; see the logs\n".to_string(),
        ),
    }
}

/// Binds `addr` now (a clash fails the start) and returns the serving task.
pub fn bind(
    addr: SocketAddr,
    tx: mpsc::Sender<ReloadRequest>,
    stop: CancellationToken,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = ()> + Send + 'static,
)> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    Ok((local, async move {
        let listener = match tokio::net::TcpListener::from_std(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "Cannot serve the admin endpoint.");
                return;
            }
        };
        let app = Router::new()
            .route("/-/reload", post(reload).put(reload))
            .with_state(tx);
        tracing::info!(endpoint = %local, "Admin endpoint serving POST /-/reload.");
        let res = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "Admin endpoint failed.");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn post_reloads_get_is_refused() {
        crate::ensure_crypto_provider();
        let (tx, mut rx) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let (addr, task) = bind(parse_endpoint("127.0.0.1:0").unwrap(), tx, stop.clone()).unwrap();
        tokio::spawn(task);
        // Answer the first request with success and the second with a failure.
        tokio::spawn(async move {
            let mut n = 0;
            while let Some(req) = rx.recv().await {
                assert_eq!(req.trigger, Trigger::Http);
                let reply = if n == 0 {
                    Ok("added: none".to_string())
                } else {
                    Err("receivers::otlp: bad".to_string())
                };
                n += 1;
                let _ = req.reply.unwrap().send(reply);
            }
        });
        let url = format!("http://{addr}/-/reload");
        let c = reqwest::Client::new();
        let r = c.post(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "config reloaded: added: none\n");
        let r = c.put(&url).send().await.unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.text().await.unwrap(),
            "failed to reload config: receivers::otlp: bad\n"
        );
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 405);
        stop.cancel();
        assert!(parse_endpoint("nope").is_err());
    }
}
