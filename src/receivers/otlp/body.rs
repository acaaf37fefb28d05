//! Reading an OTLP/HTTP request body safely: the raw body is capped at the configured limit
//! while it streams in, decompression (gzip, zstd, zlib/deflate) streams into a buffer capped
//! at the same limit (so a compression bomb never allocates more than the limit), and the
//! payload is decoded as protobuf or OTLP/JSON. JSON with snake_case field names (which
//! otelcol's decoder accepts) is rewritten to lowerCamelCase before decoding.
//!
//! Not supported: snappy, lz4 and x-snappy-framed bodies (answered as unsupported encodings),
//! and enum values written as names in JSON (`"kind": "SPAN_KIND_SERVER"`).

use std::io::Read;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::data::SignalData;

/// How much of an oversized body is read and discarded so that the client sees the 400.
const DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long an oversized body is drained at most.
const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);
/// zstd window limit (2^25 = 32 MiB): bounds the decoder's memory for hostile frames.
const ZSTD_WINDOW_LOG_MAX: u32 = 25;

/// A request's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
    Zlib,
}

/// The payload format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// Parses a Content-Type, ignoring parameters (`; charset=utf-8`) and case.
    pub fn from_content_type(ct: Option<&str>) -> Option<Self> {
        let ct = ct?;
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" => Some(Format::Protobuf),
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Maps a `Content-Encoding` value to a supported decoder, if it is enabled in `allowed`.
/// The error is the header value, for `unsupported Content-Encoding: <enc>`.
pub fn parse_encoding(value: Option<&str>, allowed: &[String]) -> Result<Encoding, String> {
    let raw = value.unwrap_or("");
    let name = raw.trim().to_ascii_lowercase();
    let enabled = |n: &str| allowed.iter().any(|a| a == n);
    let enc = match name.as_str() {
        "" | "identity" => return Ok(Encoding::Identity),
        "gzip" | "x-gzip" if enabled("gzip") => Encoding::Gzip,
        "zstd" if enabled("zstd") => Encoding::Zstd,
        "zlib" if enabled("zlib") => Encoding::Zlib,
        "deflate" if enabled("deflate") => Encoding::Zlib,
        _ => return Err(raw.to_string()),
    };
    Ok(enc)
}

/// Why a body could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("http: request body too large")]
    TooLarge,
    /// Reading from the client failed (disconnect, protocol error).
    #[error("{0}")]
    Read(String),
    /// The compressed stream is corrupt.
    #[error("{0}")]
    Corrupt(String),
    /// The payload is not a valid OTLP message.
    #[error("{0}")]
    Decode(String),
}

/// Reads the whole body, failing once more than `limit` bytes arrive (or the declared
/// `Content-Length` is larger). An oversized body is drained (bounded) so the client can read
/// the response instead of seeing a reset connection.
pub async fn read_limited(
    body: axum::body::Body,
    limit: usize,
    content_length: Option<u64>,
) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let too_large_declared = content_length.is_some_and(|n| n > limit as u64);
    if too_large_declared {
        drain(&mut stream).await;
        return Err(BodyError::TooLarge);
    }
    // Trust the declared length for preallocation only up to 1 MiB.
    let cap = content_length
        .map_or(8 * 1024, |n| n as usize)
        .min(limit)
        .min(1 << 20);
    let mut buf = BytesMut::with_capacity(cap);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        if buf.len() + chunk.len() > limit {
            drain(&mut stream).await;
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

async fn drain(stream: &mut axum::body::BodyDataStream) {
    let start = Instant::now();
    let mut seen = 0usize;
    while seen < DRAIN_MAX_BYTES {
        let left = DRAIN_MAX_TIME.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.len(),
            _ => return,
        }
    }
}

/// Decompresses `raw` into at most `limit` bytes.
pub fn decompress(enc: Encoding, raw: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    match enc {
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => {
            // Report a wrong magic number the way Go does, before flate2 wants 10 header bytes.
            if !raw.is_empty() && !raw.starts_with(&[0x1f, 0x8b][..raw.len().min(2)]) {
                return Err(BodyError::Corrupt("gzip: invalid header".into()));
            }
            read_capped(flate2::read::MultiGzDecoder::new(&raw[..]), limit, "gzip")
        }
        Encoding::Zlib => read_capped(flate2::read::ZlibDecoder::new(&raw[..]), limit, "zlib"),
        Encoding::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(&raw[..])
                .map_err(|e| BodyError::Corrupt(format!("zstd: {e}")))?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|e| BodyError::Corrupt(format!("zstd: {e}")))?;
            read_capped(d, limit, "zstd")
        }
    }
}

fn read_capped(r: impl Read, limit: usize, what: &str) -> Result<Bytes, BodyError> {
    let mut out = Vec::with_capacity(limit.min(64 * 1024));
    let mut r = r.take(limit as u64 + 1);
    match r.read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(BodyError::TooLarge),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => {
            let msg = e.to_string();
            let msg = if what == "gzip" && msg.contains("header") {
                "gzip: invalid header".to_string()
            } else {
                format!("{what}: {msg}")
            };
            Err(BodyError::Corrupt(msg))
        }
    }
}

/// Decodes an OTLP export request of signal `S`.
pub fn decode<S: SignalData>(format: Format, payload: &[u8]) -> Result<S::Request, BodyError> {
    match format {
        Format::Protobuf => <S::Request as prost::Message>::decode(payload)
            .map_err(|e| BodyError::Decode(e.to_string())),
        Format::Json => {
            if has_snake_case_key(payload) {
                let mut v: serde_json::Value = serde_json::from_slice(payload)
                    .map_err(|e| BodyError::Decode(e.to_string()))?;
                camelize_keys(&mut v);
                serde_json::from_value(v).map_err(|e| BodyError::Decode(e.to_string()))
            } else {
                serde_json::from_slice(payload).map_err(|e| BodyError::Decode(e.to_string()))
            }
        }
    }
}

/// Decompresses and decodes in one step (the part worth moving off the async workers).
pub fn decompress_and_decode<S: SignalData>(
    enc: Encoding,
    format: Format,
    raw: Bytes,
    limit: usize,
) -> Result<S::Request, BodyError> {
    let payload = decompress(enc, raw, limit)?;
    decode::<S>(format, &payload)
}

/// Whether a JSON document has an object key containing `_` (a string followed by `:`).
/// A linear scan without allocation; false positives only cost a slower decode.
fn has_snake_case_key(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'"' {
            i += 1;
            continue;
        }
        // Scan one string.
        let mut j = i + 1;
        let mut underscore = false;
        while j < json.len() && json[j] != b'"' {
            if json[j] == b'\\' {
                j += 1;
            } else if json[j] == b'_' {
                underscore = true;
            }
            j += 1;
        }
        let mut k = j + 1;
        while k < json.len() && json[k].is_ascii_whitespace() {
            k += 1;
        }
        if underscore && k < json.len() && json[k] == b':' {
            return true;
        }
        i = k;
    }
    false
}

/// Renames every object key from snake_case to lowerCamelCase. OTLP/JSON has no user-defined
/// object keys (attributes are `{"key": .., "value": ..}` lists), so this is safe. Recursion is
/// bounded by serde_json's nesting limit on the parse that produced `v`.
fn camelize_keys(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut val) in old {
                camelize_keys(&mut val);
                let key = if k.contains('_') { to_camel(&k) } else { k };
                map.insert(key, val);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(camelize_keys),
        _ => {}
    }
}

fn to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn snake_key_detection_and_renaming() {
        assert!(has_snake_case_key(br#"{"resource_metrics": []}"#));
        assert!(!has_snake_case_key(
            br#"{"resourceMetrics": [{"key": "a_b"}]}"#
        ));
        assert!(!has_snake_case_key(br#"{"k": "x\"_y", "v": 1}"#));
        assert_eq!(to_camel("time_unix_nano"), "timeUnixNano");
        assert_eq!(to_camel("as_double"), "asDouble");
        let mut v = serde_json::json!({"scope_metrics": [{"data_points": [{"as_int": "1"}]}]});
        camelize_keys(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"scopeMetrics": [{"dataPoints": [{"asInt": "1"}]}]})
        );
    }

    #[test]
    fn encodings_and_formats() {
        let all: Vec<String> = super::super::config::DEFAULT_COMPRESSION_ALGORITHMS
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(parse_encoding(None, &all), Ok(Encoding::Identity));
        assert_eq!(parse_encoding(Some("GZIP"), &all), Ok(Encoding::Gzip));
        assert_eq!(parse_encoding(Some("deflate"), &all), Ok(Encoding::Zlib));
        assert_eq!(parse_encoding(Some("br"), &all), Err("br".to_string()));
        assert_eq!(
            parse_encoding(Some("snappy"), &all),
            Err("snappy".to_string())
        );
        assert_eq!(
            parse_encoding(Some("zstd"), &["gzip".to_string()]),
            Err("zstd".to_string())
        );
        assert_eq!(
            Format::from_content_type(Some("application/json; charset=utf-8")),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
        assert_eq!(Format::from_content_type(None), None);
    }

    #[test]
    fn decompression_is_capped() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![0u8; 1024 * 1024]).unwrap();
        let gz = Bytes::from(enc.finish().unwrap());
        assert_eq!(
            decompress(Encoding::Gzip, gz.clone(), 1000),
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            decompress(Encoding::Gzip, gz, 1024 * 1024).map(|b| b.len()),
            Ok(1024 * 1024)
        );
        assert_eq!(
            decompress(Encoding::Gzip, Bytes::from_static(b"nope"), 1000),
            Err(BodyError::Corrupt("gzip: invalid header".into()))
        );
        assert!(matches!(
            decompress(Encoding::Zstd, Bytes::from_static(b"nope"), 1000),
            Err(BodyError::Corrupt(_))
        ));
    }
}
