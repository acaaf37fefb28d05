//! HTTPS targets: the job's `tls_config` (CA file, server name, skip-verify) reaches the
//! client `build_client` makes, and a certificate that does not verify fails the scrape with
//! the reason.

use std::io;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::*;

/// A TLS listener for axum (handshakes inline; failed ones are skipped).
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(s) = self.acceptor.accept(tcp).await {
                return (s, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves `m 1` over HTTPS with a self-signed certificate for `scrape.test`; returns the
/// address and the certificate's PEM.
async fn serve_tls() -> (SocketAddr, String) {
    crate::ensure_crypto_provider();
    let ck = rcgen::generate_simple_self_signed(vec!["scrape.test".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let certs = vec![ck.cert.der().clone()];
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (app, _) = router(|_, _| ok("m 1\n"));
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(cfg)),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, cert_pem)
}

#[tokio::test]
async fn https_targets_use_the_jobs_tls_config() {
    let (addr, cert) = serve_tls().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert).unwrap();
    let cases = [
        (
            format!(
                "  scheme: https\n  tls_config: {{ca_file: {ca:?}, server_name: scrape.test}}\n"
            ),
            true,
        ),
        (
            "  scheme: https\n  tls_config: {insecure_skip_verify: true}\n".to_string(),
            true,
        ),
        (
            format!("  scheme: https\n  tls_config: {{ca_file: {ca:?}}}\n"),
            false,
        ),
    ];
    for (job, verifies) in cases {
        let sink = sink(false);
        let r = start(addr, "", &job, &sink);
        let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
        let h = health(&r);
        if verifies {
            assert_eq!((up(&b[0]), h.last_error.as_str()), (Some(1.0), ""), "{job}");
            assert_eq!(value(&b[0], "m"), Some(1.0));
        } else {
            assert_eq!(up(&b[0]), Some(0.0), "{job}");
            assert!(
                h.last_error
                    .starts_with(&format!("Get \"https://{addr}/metrics\": "))
                    && h.last_error.contains("certificate"),
                "{}",
                h.last_error
            );
        }
        stop(r).await;
    }
}
