//! An OTLP backend for tests: a tonic gRPC server and an HTTP server (`/v1/{traces,metrics,
//! logs}`, protobuf or JSON, gzip or zstd bodies) on loopback, recording every request that it
//! accepts and counting every attempt. `Behaviour` scripts failures: fail the next N attempts
//! with a status, always fail, or delay each answer.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tokio_util::sync::CancellationToken;

/// How the sink answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Fail this many attempts (then succeed), with `fail_http` / `fail_grpc`.
    pub fail_next: usize,
    /// Fail every attempt.
    pub always_fail: bool,
    pub fail_http: u16,
    pub fail_grpc: Option<tonic::Code>,
    /// `Retry-After` seconds on HTTP failures.
    pub retry_after: Option<u64>,
    /// Delay before answering.
    pub delay: Duration,
}

#[derive(Default)]
pub struct Recorded {
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub traces: Vec<ExportTraceServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    pub attempts: usize,
    pub failures: usize,
    pub headers: Vec<HeaderMap>,
    pub grpc_metadata: Vec<tonic::metadata::MetadataMap>,
}

#[derive(Clone, Default)]
pub struct State {
    pub rec: Arc<Mutex<Recorded>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
}

impl State {
    /// Counts an attempt; Some(failure) if this attempt must fail.
    fn attempt(&self) -> (Option<Behaviour>, Duration) {
        let mut b = self.behaviour.lock().unwrap();
        let mut r = self.rec.lock().unwrap();
        r.attempts += 1;
        let delay = b.delay;
        if b.always_fail || b.fail_next > 0 {
            b.fail_next = b.fail_next.saturating_sub(1);
            r.failures += 1;
            return (Some(b.clone()), delay);
        }
        (None, delay)
    }
}

pub struct Sink {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub state: State,
    stop: CancellationToken,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Sink {
    pub async fn start() -> Sink {
        Self::start_with(Behaviour::default()).await
    }

    pub async fn start_with(b: Behaviour) -> Sink {
        super::init();
        let state = State::default();
        *state.behaviour.lock().unwrap() = b;
        let stop = CancellationToken::new();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_addr = grpc.local_addr().unwrap();
        let g = GrpcSink(state.clone());
        let s1 = stop.clone();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(
                    MetricsServiceServer::new(g.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .add_service(
                    TraceServiceServer::new(g.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .add_service(
                    LogsServiceServer::new(g)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .serve_with_incoming_shutdown(tokio_stream_from(grpc), s1.cancelled())
                .await;
        });
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let st = state.clone();
        let app = Router::new()
            .route(
                "/v1/metrics",
                post({
                    let s = st.clone();
                    move |h: HeaderMap, b: Bytes| http_export(s, "metrics", h, b)
                }),
            )
            .route(
                "/v1/traces",
                post({
                    let s = st.clone();
                    move |h: HeaderMap, b: Bytes| http_export(s, "traces", h, b)
                }),
            )
            .route(
                "/v1/logs",
                post({
                    let s = st.clone();
                    move |h: HeaderMap, b: Bytes| http_export(s, "logs", h, b)
                }),
            );
        let s2 = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(http, app)
                .with_graceful_shutdown(async move { s2.cancelled().await })
                .await;
        });
        Sink {
            grpc_addr,
            http_addr,
            state,
            stop,
        }
    }

    pub fn set(&self, b: Behaviour) {
        *self.state.behaviour.lock().unwrap() = b;
    }

    pub fn rec(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.rec.lock().unwrap()
    }
}

fn tokio_stream_from(
    l: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(l, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}

#[derive(Clone)]
struct GrpcSink(State);

impl GrpcSink {
    async fn gate(&self, md: &tonic::metadata::MetadataMap) -> Result<(), tonic::Status> {
        let (fail, delay) = self.0.attempt();
        tokio::time::sleep(delay).await;
        if let Some(b) = fail {
            return Err(tonic::Status::new(
                b.fail_grpc.unwrap_or(tonic::Code::Unavailable),
                "scripted failure",
            ));
        }
        self.0.rec.lock().unwrap().grpc_metadata.push(md.clone());
        Ok(())
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSink {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.gate(req.metadata()).await?;
        self.0.rec.lock().unwrap().metrics.push(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.gate(req.metadata()).await?;
        self.0.rec.lock().unwrap().traces.push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSink {
    async fn export(
        &self,
        req: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.gate(req.metadata()).await?;
        self.0.rec.lock().unwrap().logs.push(req.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

fn decompress(h: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    match h
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
    {
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            Ok(out)
        }
        "zstd" => zstd::decode_all(body).map_err(|e| e.to_string()),
        "" | "identity" => Ok(body.to_vec()),
        other => Err(format!("unknown encoding {other}")),
    }
}

async fn http_export(s: State, signal: &'static str, h: HeaderMap, body: Bytes) -> Response {
    let (fail, delay) = s.attempt();
    tokio::time::sleep(delay).await;
    if let Some(b) = fail {
        let mut resp = (
            StatusCode::from_u16(b.fail_http).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "scripted failure",
        )
            .into_response();
        if let Some(ra) = b.retry_after {
            resp.headers_mut()
                .insert("retry-after", ra.to_string().parse().unwrap());
        }
        return resp;
    }
    let raw = match decompress(&h, &body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let json = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .starts_with("application/json");
    let mut rec = s.rec.lock().unwrap();
    rec.headers.push(h.clone());
    let ok = match signal {
        "metrics" => decode::<ExportMetricsServiceRequest>(&raw, json).map(|r| rec.metrics.push(r)),
        "traces" => decode::<ExportTraceServiceRequest>(&raw, json).map(|r| rec.traces.push(r)),
        _ => decode::<ExportLogsServiceRequest>(&raw, json).map(|r| rec.logs.push(r)),
    };
    match ok {
        Ok(()) => {
            let ct = if json {
                "application/json"
            } else {
                "application/x-protobuf"
            };
            (
                StatusCode::OK,
                [("content-type", ct)],
                if json { b"{}".to_vec() } else { Vec::new() },
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

fn decode<T: Message + Default + serde::de::DeserializeOwned>(
    raw: &[u8],
    json: bool,
) -> Result<T, String> {
    if json {
        serde_json::from_slice(raw).map_err(|e| e.to_string())
    } else {
        T::decode(raw).map_err(|e| e.to_string())
    }
}
