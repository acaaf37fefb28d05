//! The OTLP/gRPC server: `opentelemetry.proto.collector.{trace,metrics,logs}.v1.*Service/Export`
//! for the signals this receiver instance has outputs for (the others answer UNIMPLEMENTED),
//! gzip and zstd request compression, the configured message size limit, and otelcol's mapping
//! of downstream errors to gRPC statuses (`RetryInfo` in the status details when the pipeline
//! advertised a delay). Requests tonic rejects before our handler runs (undecodable, too
//! large, unsupported compression) are counted as rejected.
//!
//! Not implemented: snappy compression, `max_connection_idle`, the keepalive enforcement
//! policy, buffer sizes and `include_metadata` (accepted in the config only).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;

use super::config::GrpcConfig;
use super::listen::Incoming;
use super::rejects::{Reason, Rejects};
use super::status::{to_tonic, Failure};
use crate::component::factory::ReceiverOutputs;
use crate::data::{Batch, Logs, Metrics, SignalData, Traces};
use crate::pipeline::fanout::Consumer;

/// Set by our handlers, so that the reject counter only sees failures raised before them.
#[derive(Clone)]
struct Handled(Arc<AtomicBool>);

/// One signal's Export handler.
struct Export<S: SignalData> {
    consumer: Consumer<S>,
}

impl<S: SignalData> Export<S> {
    async fn handle(&self, req: tonic::Request<S::Request>) -> Result<(), tonic::Status> {
        if let Some(h) = req.extensions().get::<Handled>() {
            h.0.store(true, Ordering::Relaxed);
        }
        let batch = Batch::<S>::from_request(req.into_inner());
        self.consumer
            .consume("grpc", batch)
            .await
            .map_err(|e| to_tonic(&Failure::from_consume_error(&e)))
    }
}

#[tonic::async_trait]
impl TraceService for Export<Traces> {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.handle(request).await?;
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Export<Metrics> {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.handle(request).await?;
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Export<Logs> {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.handle(request).await?;
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// Applies the per-service settings shared by the three generated servers.
macro_rules! configure {
    ($svc:expr, $max:expr) => {
        $svc.max_decoding_message_size($max)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Zstd)
    };
}

/// The gRPC routes for the served signals, wrapped in the reject counter.
fn routes(cfg: &GrpcConfig, outputs: &ReceiverOutputs, rejects: Arc<Rejects>) -> Routes {
    let max = cfg.max_recv_msg_size();
    let mut b = Routes::builder();
    if let Some(c) = &outputs.traces {
        b.add_service(configure!(
            TraceServiceServer::new(Export {
                consumer: c.clone()
            }),
            max
        ));
    }
    if let Some(c) = &outputs.metrics {
        b.add_service(configure!(
            MetricsServiceServer::new(Export {
                consumer: c.clone()
            }),
            max
        ));
    }
    if let Some(c) = &outputs.logs {
        b.add_service(configure!(
            LogsServiceServer::new(Export {
                consumer: c.clone()
            }),
            max
        ));
    }
    let router = b
        .routes()
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(rejects, count_rejects));
    Routes::from(router)
}

async fn count_rejects(
    axum::extract::State(rejects): axum::extract::State<Arc<Rejects>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let handled = Handled(Arc::new(AtomicBool::new(false)));
    req.extensions_mut().insert(handled.clone());
    let mut resp = next.run(req).await;
    if !handled.0.load(Ordering::Relaxed) {
        if let Some(status) = tonic::Status::from_header_map(resp.headers()) {
            if let Some(reason) = classify(&status) {
                rejects.record(reason);
            }
            // tonic reports an over-limit message as OutOfRange; grpc-go (and so otelcol)
            // answers ResourceExhausted, which is what clients expect.
            if status.code() == tonic::Code::OutOfRange {
                resp.headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("8"));
            }
        }
    }
    resp
}

/// Classifies a status tonic produced before the handler ran.
fn classify(s: &tonic::Status) -> Option<Reason> {
    match s.code() {
        tonic::Code::ResourceExhausted | tonic::Code::OutOfRange => Some(Reason::TooLarge),
        tonic::Code::Unimplemented if s.message().starts_with("Content is compressed") => {
            Some(Reason::BadEncoding)
        }
        tonic::Code::Internal if s.message().contains("decompress") => Some(Reason::BadEncoding),
        tonic::Code::Internal => Some(Reason::Decode),
        _ => None,
    }
}

/// Serves gRPC on `incoming` until `shutdown` is cancelled, then drains in-flight calls.
pub async fn serve(
    cfg: &GrpcConfig,
    incoming: Incoming,
    outputs: &ReceiverOutputs,
    rejects: Arc<Rejects>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let mut server = tonic::transport::Server::builder();
    if cfg.max_concurrent_streams > 0 {
        server = server.max_concurrent_streams(cfg.max_concurrent_streams);
    }
    if let Some(sp) = cfg
        .keepalive
        .as_ref()
        .and_then(|k| k.server_parameters.as_ref())
    {
        if !sp.time.is_zero() {
            server = server.http2_keepalive_interval(Some(sp.time.0));
        }
        if !sp.timeout.is_zero() {
            server = server.http2_keepalive_timeout(Some(sp.timeout.0));
        }
        if !sp.max_connection_age.is_zero() {
            server = server.max_connection_age(sp.max_connection_age.0);
        }
        if !sp.max_connection_age_grace.is_zero() {
            server = server.max_connection_age_grace(sp.max_connection_age_grace.0);
        }
    }
    server
        .add_routes(routes(cfg, outputs, rejects))
        .serve_with_incoming_shutdown(incoming.into_stream(), shutdown.cancelled_owned())
        .await
}
