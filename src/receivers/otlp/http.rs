//! The OTLP/HTTP server, answering exactly as otelcol's `otlphttp.go` and confighttp do:
//! POST-only signal paths for the served signals (404 `404 page not found` for the others),
//! protobuf or JSON bodies, gzip/zstd/zlib/deflate request compression with a body limit that
//! also applies after decompression, `google.rpc.Status` error bodies encoded like the request,
//! downstream errors mapped to 503/500/429/... with `Retry-After`, configured response
//! headers on every response, and CORS for browsers when `cors::allowed_origins` is set.
//!
//! Not implemented: `include_metadata` (there is no client metadata in batches), the HTTP
//! server timeouts (accepted only) and auth.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use super::body::{self, BodyError, Encoding, Format};
use super::config::HttpConfig;
use super::cors::Cors;
use super::listen::Incoming;
use super::rejects::{Reason, Rejects};
use super::status::Failure;
use crate::component::factory::ReceiverOutputs;
use crate::component::Signal;
use crate::data::{Batch, SignalData};
use crate::pipeline::fanout::Consumer;

/// Bodies up to this size (identity) or this compressed size are decoded on the async worker;
/// larger ones move to the blocking pool.
const INLINE_DECODE_MAX: usize = 256 * 1024;
const INLINE_DECOMPRESS_MAX: usize = 8 * 1024;

/// Everything a request handler needs.
pub struct HttpState {
    outputs: ReceiverOutputs,
    /// traces, metrics, logs.
    paths: [String; 3],
    max_body: usize,
    encodings: Vec<String>,
    response_headers: Vec<(HeaderName, HeaderValue)>,
    cors: Option<Cors>,
    rejects: Arc<Rejects>,
}

impl HttpState {
    pub fn new(cfg: &HttpConfig, outputs: ReceiverOutputs, rejects: Arc<Rejects>) -> Self {
        let response_headers = cfg
            .response_headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::from_bytes(k.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        Self {
            outputs,
            paths: cfg.url_paths(),
            max_body: cfg.max_body(),
            encodings: cfg.compression_algorithms(),
            response_headers,
            cors: cfg.cors.as_ref().and_then(Cors::new),
            rejects,
        }
    }

    /// The signal served at `path`, if this instance has an output for it.
    fn signal_at(&self, path: &str) -> Option<Signal> {
        let o = &self.outputs;
        if path == self.paths[0] && o.traces.is_some() {
            Some(Signal::Traces)
        } else if path == self.paths[1] && o.metrics.is_some() {
            Some(Signal::Metrics)
        } else if path == self.paths[2] && o.logs.is_some() {
            Some(Signal::Logs)
        } else {
            None
        }
    }
}

/// Serves HTTP on `incoming` until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(
    state: Arc<HttpState>,
    incoming: Incoming,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = axum::Router::new().fallback(handle).with_state(state);
    axum::serve(incoming, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn handle(State(st): State<Arc<HttpState>>, req: Request) -> Response {
    let origin = req.headers().get(http::header::ORIGIN).cloned();
    let mut resp = match st.cors.as_ref().and_then(|c| c.preflight(&req)) {
        Some(r) => r,
        None => {
            let mut r = dispatch(&st, req).await;
            if let (Some(cors), Some(origin)) = (&st.cors, &origin) {
                cors.decorate(origin, r.headers_mut());
            }
            r
        }
    };
    let h = resp.headers_mut();
    for (k, v) in &st.response_headers {
        h.insert(k.clone(), v.clone());
    }
    resp
}

async fn dispatch(st: &HttpState, req: Request) -> Response {
    let format = Format::from_content_type(
        req.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    // confighttp's decompressor runs before routing, so a bad encoding wins over 404/405/415.
    let enc_header = req
        .headers()
        .get(CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"));
    let encoding = match body::parse_encoding(enc_header, &st.encodings) {
        Ok(e) => e,
        Err(name) => {
            st.rejects.record(Reason::BadEncoding);
            let f = Failure::from_http(400, format!("unsupported Content-Encoding: {name}"));
            return status_response(format.unwrap_or(Format::Json), &f);
        }
    };
    let Some(signal) = st.signal_at(req.uri().path()) else {
        return not_found();
    };
    if req.method() != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "405 method not allowed, supported: [POST]",
        );
    }
    let Some(format) = format else {
        st.rejects.record(Reason::UnsupportedMediaType);
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "text/plain",
            "415 unsupported media type, supported: [application/json, application/x-protobuf]",
        );
    };
    let content_length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let raw = match body::read_limited(req.into_body(), st.max_body, content_length).await {
        Ok(b) => b,
        Err(e) => return body_error(st, format, e),
    };
    let o = &st.outputs;
    match signal {
        Signal::Traces => export(st, o.traces.as_ref(), encoding, format, raw).await,
        Signal::Metrics => export(st, o.metrics.as_ref(), encoding, format, raw).await,
        Signal::Logs => export(st, o.logs.as_ref(), encoding, format, raw).await,
    }
}

async fn export<S: SignalData>(
    st: &HttpState,
    consumer: Option<&Consumer<S>>,
    encoding: Encoding,
    format: Format,
    raw: Bytes,
) -> Response {
    let Some(consumer) = consumer else {
        return not_found();
    };
    let limit = st.max_body;
    let inline = match encoding {
        Encoding::Identity => raw.len() <= INLINE_DECODE_MAX,
        _ => raw.len() <= INLINE_DECOMPRESS_MAX,
    };
    let decoded = if inline {
        body::decompress_and_decode::<S>(encoding, format, raw, limit)
    } else {
        match tokio::task::spawn_blocking(move || {
            body::decompress_and_decode::<S>(encoding, format, raw, limit)
        })
        .await
        {
            Ok(r) => r,
            Err(_) => {
                let f = Failure::from_http(500, "internal error while decoding the request");
                return status_response(format, &f);
            }
        }
    };
    let request = match decoded {
        Ok(r) => r,
        Err(e) => return body_error(st, format, e),
    };
    match consumer
        .consume("http", Batch::<S>::from_request(request))
        .await
    {
        Ok(()) => success(format),
        Err(e) => status_response(format, &Failure::from_consume_error(&e)),
    }
}

fn body_error(st: &HttpState, format: Format, e: BodyError) -> Response {
    match &e {
        BodyError::TooLarge => st.rejects.record(Reason::TooLarge),
        BodyError::Corrupt(_) => st.rejects.record(Reason::BadEncoding),
        BodyError::Decode(_) => st.rejects.record(Reason::Decode),
        BodyError::Read(_) => {}
    }
    status_response(format, &Failure::from_http(400, e.to_string()))
}

/// The empty `Export*ServiceResponse` (no `partial_success`) in the request's format.
fn success(format: Format) -> Response {
    let body: &'static [u8] = match format {
        Format::Protobuf => b"",
        Format::Json => b"{}",
    };
    bytes_response(
        StatusCode::OK,
        format.content_type(),
        Bytes::from_static(body),
    )
}

/// A `google.rpc.Status` body in `format`, with `Retry-After` for 429/503 when advertised.
fn status_response(format: Format, f: &Failure) -> Response {
    let body = match format {
        Format::Protobuf => f.to_protobuf(),
        Format::Json => f.to_json(),
    };
    let status = StatusCode::from_u16(f.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = bytes_response(status, format.content_type(), Bytes::from(body));
    if let Some(v) = f
        .retry_after_header()
        .and_then(|s| HeaderValue::from_str(&s).ok())
    {
        resp.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    resp
}

/// Go's `http.NotFound`.
fn not_found() -> Response {
    let mut r = text(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "404 page not found\n",
    );
    r.headers_mut().insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    bytes_response(status, content_type, Bytes::from_static(body.as_bytes()))
}

fn bytes_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
