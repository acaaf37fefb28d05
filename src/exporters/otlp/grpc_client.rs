//! "Send one request" for `otlp_grpc`: a lazily connected tonic `Channel`, created at the
//! first export (so building never blocks, spawns, or fails on an unreachable backend), TLS
//! through rustls with our own verifier (`exporters::tls`), headers as gRPC metadata,
//! gzip/zstd send compression, one unary `Export` call per batch, and otelcol's error
//! classification (`otlp.go` `shouldRetry` / `processError`): retryable codes, RetryInfo
//! throttling, partial success as a warning.
//!
//! Not here: retries, queueing and the attempt deadline (the exporter helper does those; the
//! deadline is also sent as `grpc-timeout`), load balancing across resolved addresses.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataValue, BinaryMetadataValue, MetadataKey, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use crate::component::factory::{BoxFuture, ExportError, Exporter};
use crate::component::Signal;
use crate::data::{Batch, SignalData};
use crate::exporters::otlp::config::{dial_target, GrpcCompression, OtlpGrpcConfig};
use crate::exporters::otlp::status::{grpc_retry_info, log_partial_success};

/// The user agent sent with every request.
pub fn user_agent() -> String {
    format!("ferrocol/{}", env!("CARGO_PKG_VERSION"))
}

/// Builds the endpoint (TLS material loaded, nothing dialled, no task spawned).
pub fn build_endpoint(cfg: &OtlpGrpcConfig) -> Result<Endpoint, String> {
    let target = dial_target(&cfg.endpoint)?;
    let tls = cfg.tls.grpc_uses_tls();
    let scheme = if tls { "https" } else { "http" };
    let mut ep = Endpoint::from_shared(format!("{scheme}://{target}"))
        .map_err(|e| format!("invalid endpoint {:?}: {e}", cfg.endpoint))?
        .user_agent(user_agent())
        .map_err(|e| format!("invalid user agent: {e}"))?
        .tcp_nodelay(true);
    if let Some(ka) = &cfg.keepalive {
        if !ka.time.is_zero() {
            ep = ep.http2_keep_alive_interval(ka.time.0);
        }
        if !ka.timeout.is_zero() {
            ep = ep.keep_alive_timeout(ka.timeout.0);
        }
        ep = ep.keep_alive_while_idle(ka.permit_without_stream);
    }
    if !cfg.authority.is_empty() {
        let origin: http::Uri = format!("{scheme}://{}", cfg.authority)
            .parse()
            .map_err(|e| format!("invalid authority {:?}: {e}", cfg.authority))?;
        ep = ep.origin(origin);
    }
    if tls {
        let material = cfg
            .tls
            .load()
            .map_err(|e| format!("failed to load TLS config: {e}"))?;
        let mut tc = ClientTlsConfig::new();
        if !cfg.tls.server_name_override.is_empty() {
            tc = tc.domain_name(cfg.tls.server_name_override.clone());
        }
        if let Some(id) = &material.identity {
            tc = tc.identity(Identity::from_pem(&id.cert_pem, &id.key_pem));
        }
        ep = ep
            .tls_config_with_verifier(tc, Arc::clone(&material.verifier))
            .map_err(|e| format!("failed to configure TLS: {e}"))?;
    }
    Ok(ep)
}

/// Converts the configured headers into gRPC metadata (`-bin` keys carry raw bytes).
pub fn build_metadata(cfg: &OtlpGrpcConfig) -> Result<MetadataMap, String> {
    let mut md = MetadataMap::new();
    for (k, v) in &cfg.headers {
        let lower = k.to_ascii_lowercase();
        if lower.ends_with("-bin") {
            let key = MetadataKey::from_bytes(lower.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            md.insert_bin(key, BinaryMetadataValue::from_bytes(v.as_bytes()));
        } else {
            let key = MetadataKey::from_bytes(lower.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let val = AsciiMetadataValue::try_from(v.as_str())
                .map_err(|_| format!("invalid value for header {k:?}"))?;
            md.insert(key, val);
        }
    }
    Ok(md)
}

/// The OTLP/gRPC exporter for one signal.
pub struct OtlpGrpcExporter<S: SignalData> {
    exporter_id: String,
    endpoint: Endpoint,
    /// Created on first use (`connect_lazy` spawns the channel's worker task, which building
    /// must not do); it then reconnects by itself.
    channel: OnceLock<Channel>,
    metadata: MetadataMap,
    compression: Option<CompressionEncoding>,
    timeout: Duration,
    _signal: PhantomData<fn() -> S>,
}

impl<S: SignalData> OtlpGrpcExporter<S> {
    pub fn new(exporter_id: &str, cfg: &OtlpGrpcConfig) -> Result<Self, String> {
        let compression = match cfg.compression()? {
            GrpcCompression::None => None,
            GrpcCompression::Gzip => Some(CompressionEncoding::Gzip),
            GrpcCompression::Zstd => Some(CompressionEncoding::Zstd),
        };
        Ok(Self {
            exporter_id: exporter_id.to_string(),
            endpoint: build_endpoint(cfg)?,
            channel: OnceLock::new(),
            metadata: build_metadata(cfg)?,
            compression,
            timeout: cfg.timeout.0,
            _signal: PhantomData,
        })
    }

    async fn send(&self, batch: Arc<Batch<S>>) -> Result<(), ExportError> {
        let mut req = tonic::Request::new(batch);
        *req.metadata_mut() = self.metadata.clone();
        if !self.timeout.is_zero() {
            req.set_timeout(self.timeout);
        }
        let channel = self
            .channel
            .get_or_init(|| self.endpoint.connect_lazy())
            .clone();
        let mut grpc = tonic::client::Grpc::new(channel)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        if let Some(c) = self.compression {
            grpc = grpc.send_compressed(c);
        }
        grpc.ready().await.map_err(|e| {
            ExportError::retryable(format!(
                "rpc error: code = Unavailable desc = {}",
                with_sources(String::new(), Some(&e))
            ))
        })?;
        let path = http::uri::PathAndQuery::from_static(export_path(S::SIGNAL));
        let codec = BatchCodec::<S>(PhantomData);
        match grpc.unary(req, path, codec).await {
            Ok(resp) => {
                if let Some((rejected, message)) = S::rejected(resp.get_ref()) {
                    log_partial_success(&self.exporter_id, S::SIGNAL, rejected, &message);
                }
                Ok(())
            }
            Err(status) => Err(classify(&status)),
        }
    }
}

impl<S: SignalData> Exporter<S> for OtlpGrpcExporter<S> {
    fn export(&self, batch: Arc<Batch<S>>) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(self.send(batch))
    }
}

/// The export codec: requests are encoded straight from the shared batch (no copy of the data
/// into a request message), responses decoded with prost.
struct BatchCodec<S>(PhantomData<fn() -> S>);

struct BatchEncoder<S>(PhantomData<fn() -> S>);

impl<S: SignalData> tonic::codec::Encoder for BatchEncoder<S> {
    type Item = Arc<Batch<S>>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Self::Item,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        item.encode_request(buf);
        Ok(())
    }
}

impl<S: SignalData> tonic::codec::Codec for BatchCodec<S> {
    type Encode = Arc<Batch<S>>;
    type Decode = S::Response;
    type Encoder = BatchEncoder<S>;
    type Decoder = tonic_prost::ProstDecoder<S::Response>;

    fn encoder(&mut self) -> Self::Encoder {
        BatchEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic_prost::ProstDecoder::default()
    }
}

fn export_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// grpc-go's names for status codes (as in its error strings).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// `head` followed by each error in the source chain of `e` not already in the text.
fn with_sources(head: String, e: Option<&(dyn std::error::Error + 'static)>) -> String {
    let mut s = head;
    let mut cur = e;
    let mut depth = 0;
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&t);
        }
        cur = c.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    s
}

/// otelcol's classification of a failed export call.
pub fn classify(status: &Status) -> ExportError {
    let desc = with_sources(
        status.message().to_string(),
        std::error::Error::source(status),
    );
    let message = format!(
        "rpc error: code = {} desc = {}",
        code_name(status.code()),
        desc
    );
    let retry_info = grpc_retry_info(status.details());
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    if !retryable {
        return ExportError::permanent(message);
    }
    ExportError::retryable(message).with_throttle(retry_info.filter(|d| !d.is_zero()))
}
