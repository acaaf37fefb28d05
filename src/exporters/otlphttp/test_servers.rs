//! Test servers for the `otlp_http` tests: an axum OTLP/HTTP backend on loopback that
//! records requests (Content-Encoding undone) and answers from a script, and a small
//! blocking rustls HTTPS/1.1 server thread (optionally requiring a client certificate).
//! Test-only; every server is bounded (the thread by connection count and time).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

use crate::exporters::otlp::test_support::install_provider;

pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    /// The body after undoing Content-Encoding.
    pub body: Vec<u8>,
}

pub type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

#[derive(Default)]
pub struct Rec {
    pub requests: Vec<Recorded>,
    pub script: VecDeque<Reply>,
}

#[derive(Clone, Default)]
pub struct Backend(Arc<Mutex<Rec>>);

impl Backend {
    pub fn rec(&self) -> std::sync::MutexGuard<'_, Rec> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn script(&self, status: u16, headers: &[(&'static str, &str)], body: Vec<u8>) {
        let h = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.rec().script.push_back((status, h, body));
    }
}

pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
    {
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("gzip");
        }
        Some("deflate") | Some("zlib") => {
            flate2::read::ZlibDecoder::new(body)
                .read_to_end(&mut out)
                .expect("zlib");
        }
        Some("zstd") => out = zstd::decode_all(body).expect("zstd"),
        _ => out = body.to_vec(),
    }
    out
}

async fn handler(
    State(backend): State<Backend>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut rec = backend.rec();
    rec.requests.push(Recorded {
        path: uri.path().to_string(),
        body: decode_body(&headers, &body),
        headers,
    });
    let (status, hs, body) = rec.script.pop_front().unwrap_or((200, vec![], vec![]));
    let mut resp_headers = HeaderMap::new();
    for (k, v) in hs {
        resp_headers.insert(k, v.parse().expect("header"));
    }
    (
        StatusCode::from_u16(status).expect("status"),
        resp_headers,
        body,
    )
        .into_response()
}

pub async fn serve(backend: Backend) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new().fallback(handler).with_state(backend);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

/// A minimal HTTPS/1.1 server on a thread: answers 200 to every request, for at most
/// `max_conns` connections or 20 seconds. Returns the port and the request count.
pub fn https_server(
    cert: &str,
    key: &str,
    client_ca: Option<&str>,
    max_conns: usize,
) -> (u16, Arc<Mutex<usize>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    install_provider();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(c.expect("client ca")).expect("add");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = Arc::new(builder.with_single_cert(certs, key).expect("server config"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut conns = 0;
        while conns < max_conns && Instant::now() < deadline {
            let Ok((sock, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            conns += 1;
            let _ = sock.set_nonblocking(false);
            let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, sock);
            // Serve keep-alive requests until the client goes away.
            for _ in 0..16 {
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while !buf.ends_with(b"\r\n\r\n") && buf.len() < 65536 {
                    match tls.read(&mut byte) {
                        Ok(1) => buf.push(byte[0]),
                        _ => break,
                    }
                }
                if !buf.ends_with(b"\r\n\r\n") {
                    break;
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if tls.read_exact(&mut body).is_err() {
                    break;
                }
                *seen.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                if tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .and_then(|_| tls.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
    });
    (port, count)
}
