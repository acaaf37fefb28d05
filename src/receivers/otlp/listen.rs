//! Listening sockets for the two OTLP servers: binding an otelcol endpoint (`host:port`, with
//! Go's wildcard and `localhost` rules) to a std listener at build time, and, once running,
//! accepting connections (with the TLS handshake done off the accept loop, bounded in count and
//! time) into a bounded queue that both tonic and axum read from.
//!
//! Unix sockets are not supported (validation rejects `transport: unix`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::config::{parse_endpoint, Host};
use crate::telemetry::events::RateLimit;

/// Accepted connections waiting for the server to pick them up.
const ACCEPT_QUEUE: usize = 64;
/// TLS handshakes running at once.
const MAX_HANDSHAKES: usize = 256;
/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `endpoint` (validated beforehand). `v4_only` is the `tcp4` transport. Wildcard hosts
/// bind `[::]` (dual-stack, as Go does) and fall back to `0.0.0.0` where IPv6 is unavailable.
pub fn bind(endpoint: &str, v4_only: bool) -> io::Result<StdListener> {
    let (host, port) =
        parse_endpoint(endpoint).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listener = match host {
        Host::Any => {
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
            if v4_only {
                StdListener::bind(v4)?
            } else {
                match StdListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
                    Ok(l) => l,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                        ) =>
                    {
                        return Err(e)
                    }
                    Err(_) => StdListener::bind(v4)?,
                }
            }
        }
        Host::Ip(ip) => StdListener::bind(SocketAddr::new(ip, port))?,
        Host::Name(name) => {
            let addrs: Vec<SocketAddr> = (name.as_str(), port).to_socket_addrs()?.collect();
            StdListener::bind(&addrs[..])?
        }
    };
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// An accepted connection, plain or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// What tonic learns about a connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The peer address (otelcol's `client.Info.Addr`), for future client-info propagation.
    #[allow(dead_code)]
    pub remote: Option<SocketAddr>,
}

impl Conn {
    fn remote(&self) -> Option<SocketAddr> {
        match self {
            Conn::Plain(s) => s.peer_addr().ok(),
            Conn::Tls(s) => s.get_ref().0.peer_addr().ok(),
        }
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            remote: self.remote(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The accepted connections of one listener. Dropping it stops accepting and closes the socket.
pub struct Incoming {
    rx: mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    _task: AbortOnDropHandle<()>,
}

impl Incoming {
    /// Starts accepting on `listener` (must be called inside the runtime) until `stop` is
    /// cancelled; the connections accepted before that are still handed out, then the stream
    /// ends.
    pub fn start(
        listener: StdListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        server: &'static str,
        stop: CancellationToken,
    ) -> io::Result<Self> {
        let listener = TcpListener::from_std(listener)?;
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = accept_loop(listener, tls.map(TlsAcceptor::from), tx, server) => {}
            }
        });
        Ok(Self {
            rx,
            local,
            _task: AbortOnDropHandle::new(task),
        })
    }

    pub async fn next(&mut self) -> Option<(Conn, SocketAddr)> {
        self.rx.recv().await
    }

    /// The connections as a stream, for tonic.
    pub fn into_stream(self) -> impl futures::Stream<Item = io::Result<Conn>> + Send + 'static {
        futures::stream::unfold(self, |mut inc| async move {
            inc.next().await.map(|(c, _)| (Ok(c), inc))
        })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.next().await {
            Some(c) => c,
            // The accept loop only ends when the listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<(Conn, SocketAddr)>,
    server: &'static str,
) {
    static ACCEPT_RL: RateLimit = RateLimit::new();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                if let Some(suppressed) = ACCEPT_RL.allow() {
                    tracing::warn!(server, error = %e, suppressed_similar = suppressed, "Failed to accept a connection.");
                }
                // Out of file descriptors and similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match &tls {
            None => {
                if tx.send((Conn::Plain(stream), addr)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((Conn::Tls(Box::new(s)), addr)).await;
                        }
                        Ok(Err(e)) => {
                            static RL: RateLimit = RateLimit::new();
                            if let Some(suppressed) = RL.allow() {
                                tracing::debug!(server, peer = %addr, error = %e, suppressed_similar = suppressed, "TLS handshake failed.");
                            }
                        }
                        Err(_) => {
                            tracing::debug!(server, peer = %addr, "TLS handshake timed out.");
                        }
                    }
                });
            }
        }
    }
}
