//! "Send one request" for `otlp_http`: a reqwest client (rustls configured from `tls:` for
//! https URLs), one `POST` per batch with an OTLP protobuf or OTLP/JSON body compressed here
//! (gzip, zstd, zlib), and otelcol's response handling (`otlphttpexporter/otlp.go`): 2xx is
//! success (partial success is a warning; an unparsable body is a permanent error), only 429,
//! 502, 503 and 504 are retried, 429/503 `Retry-After` becomes a throttle delay.
//!
//! Not here: retries and queueing (the exporter helper), profiles (no profiles pipelines).

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use prost::Message;

use crate::component::factory::{BoxFuture, ExportError, Exporter};
use crate::data::{Batch, SignalData};
use crate::exporters::otlp::grpc_client::user_agent;
use crate::exporters::otlp::status::{log_partial_success, RpcStatus};
use crate::exporters::otlphttp::config::{Encoding, HttpCompression, OtlpHttpConfig};

/// Largest response body read for a non-2xx answer (as otelcol).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest response body read for a 2xx answer.
const MAX_SUCCESS_BODY: usize = 1024 * 1024;

/// Builds the HTTP client shared by one exporter instance's requests.
pub fn build_client(cfg: &OtlpHttpConfig, urls: &[&str]) -> Result<reqwest::Client, String> {
    crate::ensure_crypto_provider();
    let mut b = reqwest::Client::builder()
        .user_agent(user_agent())
        .redirect(reqwest::redirect::Policy::limited(10));
    if !cfg.timeout.is_zero() {
        b = b.timeout(cfg.timeout.0);
    }
    if urls.iter().any(|u| u.starts_with("https://")) {
        let material = cfg
            .tls
            .load()
            .map_err(|e| format!("failed to load TLS config: {e}"))?;
        let tls = material
            .rustls_config(&[b"h2", b"http/1.1"])
            .map_err(|e| format!("failed to load TLS config: {e}"))?;
        b = b.tls_backend_preconfigured(tls);
    }
    if !cfg.proxy_url.is_empty() {
        let proxy = reqwest::Proxy::all(cfg.proxy_url.as_str())
            .map_err(|_| format!("invalid proxy URL {:?}", redact(&cfg.proxy_url)))?;
        b = b.proxy(proxy);
    }
    if let Some(t) = cfg.idle_conn_timeout {
        b = b.pool_idle_timeout(Some(t.0).filter(|d| !d.is_zero()));
    }
    if cfg.disable_keep_alives {
        b = b.pool_max_idle_per_host(0);
    } else if let Some(n) = cfg.max_idle_conns_per_host.filter(|n| *n > 0) {
        b = b.pool_max_idle_per_host(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if !cfg.http2_read_idle_timeout.is_zero() {
        b = b.http2_keep_alive_interval(cfg.http2_read_idle_timeout.0);
    }
    if !cfg.http2_ping_timeout.is_zero() {
        b = b.http2_keep_alive_timeout(cfg.http2_ping_timeout.0);
    }
    b.build()
        .map_err(|e| format!("failed to build the HTTP client: {e}"))
}

/// The OTLP/HTTP exporter for one signal.
pub struct OtlpHttpExporter<S: SignalData> {
    exporter_id: String,
    client: reqwest::Client,
    url: reqwest::Url,
    /// The URL without credentials, for messages.
    url_text: String,
    headers: HeaderMap,
    encoding: Encoding,
    compression: HttpCompression,
    content_encoding: Option<HeaderValue>,
    level: i32,
    _signal: PhantomData<fn() -> S>,
}

impl<S: SignalData> OtlpHttpExporter<S> {
    pub fn new(
        exporter_id: &str,
        cfg: &OtlpHttpConfig,
        url: &str,
        client: reqwest::Client,
    ) -> Result<Self, String> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| format!("invalid URL {:?}: {e}", redact(url)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("invalid header name {k:?}"))?;
            let mut value =
                HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let compression = cfg.compression()?;
        let content_encoding = match compression {
            HttpCompression::None => None,
            _ => Some(
                HeaderValue::from_str(&cfg.compression)
                    .map_err(|_| format!("invalid compression {:?}", cfg.compression))?,
            ),
        };
        Ok(Self {
            exporter_id: exporter_id.to_string(),
            client,
            url_text: redact(url),
            url: parsed,
            headers,
            encoding: cfg.encoding()?,
            compression,
            content_encoding,
            level: cfg.compression_params.level,
            _signal: PhantomData,
        })
    }

    fn body(&self, batch: &Batch<S>) -> Result<(Vec<u8>, &'static str), ExportError> {
        let (raw, content_type) = match self.encoding {
            Encoding::Proto => {
                // About 100 bytes per item; growing costs less than sizing it exactly
                // (another pass over the whole batch).
                let mut raw = Vec::with_capacity(batch.items().saturating_mul(100));
                batch.encode_request(&mut raw);
                (raw, "application/x-protobuf")
            }
            Encoding::Json => (
                serde_json::to_vec(&batch.to_request()).map_err(|e| {
                    ExportError::permanent(format!("failed to marshal the request as JSON: {e}"))
                })?,
                "application/json",
            ),
        };
        let body = compress(self.compression, self.level, raw)
            .map_err(|e| ExportError::permanent(format!("failed to compress the request: {e}")))?;
        Ok((body, content_type))
    }

    async fn send(&self, batch: Arc<Batch<S>>) -> Result<(), ExportError> {
        let (body, content_type) = self.body(&batch)?;
        let mut req = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .build()
            .map_err(|e| {
                ExportError::permanent(format!(
                    "failed to create the HTTP request to {}: {}",
                    self.url_text,
                    e.without_url()
                ))
            })?;
        if let Some(ce) = &self.content_encoding {
            req.headers_mut().insert(CONTENT_ENCODING, ce.clone());
        }
        // Configured headers are applied last and win, as otelcol's header round tripper does.
        for (k, v) in &self.headers {
            req.headers_mut().insert(k.clone(), v.clone());
        }
        let resp = self.client.execute(req).await.map_err(|e| {
            ExportError::retryable(format!(
                "failed to make an HTTP request to {}: {}",
                self.url_text,
                error_chain(&e.without_url())
            ))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let limit = if status.is_success() {
            MAX_SUCCESS_BODY
        } else {
            MAX_ERROR_BODY
        };
        let body = read_body(resp, limit).await;
        if status.is_success() {
            let body = body.map_err(|e| {
                ExportError::retryable(format!(
                    "failed to read the response body from {}: {e}",
                    self.url_text
                ))
            })?;
            return self.handle_success(&headers, &body);
        }
        Err(classify_failure(
            &self.url_text,
            status,
            &headers,
            body.as_deref().unwrap_or_default(),
        ))
    }

    fn handle_success(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ExportError> {
        if body.is_empty() {
            return Ok(());
        }
        let rejected = if is_json(headers) {
            json_partial_success(body).map_err(|e| {
                ExportError::permanent(format!("failed to parse the export response: {e}"))
            })?
        } else {
            let resp = S::Response::decode(body).map_err(|e| {
                ExportError::permanent(format!("failed to parse the export response: {e}"))
            })?;
            S::rejected(&resp)
        };
        if let Some((n, msg)) = rejected {
            log_partial_success(&self.exporter_id, S::SIGNAL, n, &msg);
        }
        Ok(())
    }
}

impl<S: SignalData> Exporter<S> for OtlpHttpExporter<S> {
    fn export(&self, batch: Arc<Batch<S>>) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(self.send(batch))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// Reads at most `limit` bytes of the body.
async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(c)) => {
                let take = c.len().min(limit - out.len());
                out.extend_from_slice(&c[..take]);
            }
            Ok(None) => break,
            Err(e) => return Err(error_chain(&e.without_url())),
        }
    }
    Ok(out)
}

/// The `partialSuccess` of an OTLP/JSON export response (any signal's field names).
fn json_partial_success(body: &[u8]) -> Result<Option<(i64, String)>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("expected a JSON object".into());
    }
    let Some(ps) = v.get("partialSuccess").or_else(|| v.get("partial_success")) else {
        return Ok(None);
    };
    let count = [
        "rejectedSpans",
        "rejectedDataPoints",
        "rejectedLogRecords",
        "rejected_spans",
        "rejected_data_points",
        "rejected_log_records",
    ]
    .iter()
    .find_map(|k| ps.get(*k))
    .and_then(|n| match n {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    })
    .unwrap_or(0);
    let msg = ps
        .get("errorMessage")
        .or_else(|| ps.get("error_message"))
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    if count == 0 && msg.is_empty() {
        return Ok(None);
    }
    Ok(Some((count, msg)))
}

/// otelcol's handling of a non-2xx answer.
pub fn classify_failure(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ExportError {
    let mut message = format!(
        "error exporting items, request to {url} responded with HTTP Status Code {}",
        status.as_u16()
    );
    if status.is_client_error() || status.is_server_error() {
        if let Some(st) = response_status(headers, body) {
            message.push_str(&format!(
                ", Message={}, Details={}",
                st.message,
                st.details_text()
            ));
        }
    }
    let code = status.as_u16();
    if !matches!(code, 429 | 502 | 503 | 504) {
        return ExportError::permanent(message);
    }
    let throttle = if matches!(code, 429 | 503) {
        headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .filter(|d| !d.is_zero())
    } else {
        None
    };
    ExportError::retryable(message).with_throttle(throttle)
}

/// A `google.rpc.Status` from an error body (protobuf, or JSON when the server says so).
fn response_status(headers: &HeaderMap, body: &[u8]) -> Option<RpcStatus> {
    if is_json(headers) {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let message = v.get("message")?.as_str().unwrap_or_default().to_string();
        let details = v
            .get("details")
            .and_then(|d| d.as_array())
            .map(|a| {
                a.iter()
                    .map(|d| crate::exporters::otlp::status::ProtoAny {
                        type_url: d
                            .get("@type")
                            .and_then(|t| t.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        value: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let code = v
            .get("code")
            .and_then(|c| c.as_i64())
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(0);
        return Some(RpcStatus {
            code,
            message,
            details,
        });
    }
    RpcStatus::decode(body).ok()
}

/// `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate), relative to `now`.
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    if parts.len() != 5 || parts[4] != "GMT" {
        return None;
    }
    let day: u32 = parts[0].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[1])? as u32
        + 1;
    let year: i64 = parts[2].parse().ok()?;
    let hms: Vec<u64> = parts[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + (hms[0] * 3600 + hms[1] * 60 + hms[2]) as i64;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Compresses a request body. gzip and zlib use libdeflate (one shot over the whole body);
/// levels 1-9 as given, anything else is the default level 6 (Go's `DefaultCompression`).
pub fn compress(c: HttpCompression, level: i32, raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let deflate_level = || {
        Some(level)
            .filter(|l| (1..=9).contains(l))
            .and_then(|l| libdeflater::CompressionLvl::new(l).ok())
            .unwrap_or_default()
    };
    match c {
        HttpCompression::None => Ok(raw),
        HttpCompression::Gzip => deflate(&raw, deflate_level(), true),
        HttpCompression::Zlib => deflate(&raw, deflate_level(), false),
        HttpCompression::Zstd => zstd::bulk::compress(&raw, level),
    }
}

/// gzip (or zlib) with libdeflate, into a buffer of libdeflate's bound for the format.
fn deflate(raw: &[u8], level: libdeflater::CompressionLvl, gzip: bool) -> std::io::Result<Vec<u8>> {
    let mut e = libdeflater::Compressor::new(level);
    let bound = if gzip {
        e.gzip_compress_bound(raw.len())
    } else {
        e.zlib_compress_bound(raw.len())
    };
    let mut out = vec![0; bound];
    let n = if gzip {
        e.gzip_compress(raw, &mut out)
    } else {
        e.zlib_compress(raw, &mut out)
    }
    .map_err(|_| std::io::Error::other("compressed body larger than libdeflate's bound (a bug)"))?;
    out.truncate(n);
    Ok(out)
}

/// A URL with any user info replaced, for messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("redacted");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "<invalid URL>".to_string(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    let mut depth = 0;
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
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
