//! How the receiver reports failures to OTLP clients: the `google.rpc.Status` message (with an
//! optional `google.rpc.RetryInfo` detail), its protobuf and JSON encodings, and the mapping of a
//! downstream `ConsumeError` to a gRPC code and an HTTP status, as otelcol's
//! `receiver/otlpreceiver/internal/errors` does.
//!
//! This module only builds values; writing responses is left to `grpc.rs` and `http.rs`.

use std::time::Duration;

use prost::Message;

use crate::component::factory::ConsumeError;

/// gRPC status codes used by the receiver.
pub mod code {
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const ABORTED: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const DATA_LOSS: i32 = 15;
    pub const UNAUTHENTICATED: i32 = 16;
    pub const CANCELLED: i32 = 1;
}

pub use crate::rpc_status::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};

/// A failure ready to be written in either protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub grpc_code: i32,
    pub http_status: u16,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure raised by the receiver itself for an HTTP status (otelcol's
    /// `NewStatusFromMsgAndHTTPCode`).
    pub fn from_http(http_status: u16, message: impl Into<String>) -> Self {
        Self {
            grpc_code: grpc_code_for_http(http_status),
            http_status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Maps a downstream error: an explicit gRPC code passes through, otherwise permanent
    /// errors are INTERNAL (`Permanent error: <msg>`) and the rest UNAVAILABLE.
    pub fn from_consume_error(e: &ConsumeError) -> Self {
        let (grpc_code, message) = match e.grpc_code {
            Some(c) if c > 0 && c <= 16 => (c, e.message.clone()),
            Some(_) => (code::UNKNOWN, e.message.clone()),
            None if e.permanent => (code::INTERNAL, format!("Permanent error: {}", e.message)),
            None => (code::UNAVAILABLE, e.message.clone()),
        };
        Self {
            grpc_code,
            http_status: http_status_for(grpc_code),
            message,
            retry_after: e.retry_after,
        }
    }

    /// The `google.rpc.Status` for this failure, with `RetryInfo` when a delay is advertised.
    pub fn to_status(&self) -> RpcStatus {
        let details = match self.retry_after {
            Some(d) => vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.to_string(),
                value: RetryInfo {
                    retry_delay: Some(ProtoDuration {
                        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
                    }),
                }
                .encode_to_vec(),
            }],
            None => Vec::new(),
        };
        RpcStatus {
            code: self.grpc_code,
            message: self.message.clone(),
            details,
        }
    }

    /// The `Retry-After` header value (whole seconds, truncated as otelcol does), only for the
    /// statuses that tell clients to retry (429, 503).
    pub fn retry_after_header(&self) -> Option<String> {
        match (self.http_status, self.retry_after) {
            (429 | 503, Some(d)) => Some(d.as_secs().to_string()),
            _ => None,
        }
    }

    /// The protobuf encoding of the status.
    pub fn to_protobuf(&self) -> Vec<u8> {
        self.to_status().encode_to_vec()
    }

    /// The OTLP/JSON (protojson) encoding of the status.
    pub fn to_json(&self) -> Vec<u8> {
        let mut obj = serde_json::Map::new();
        obj.insert("code".into(), self.grpc_code.into());
        obj.insert("message".into(), self.message.clone().into());
        if let Some(d) = self.retry_after {
            let mut detail = serde_json::Map::new();
            detail.insert("@type".into(), RETRY_INFO_TYPE_URL.into());
            detail.insert("retryDelay".into(), json_duration(d).into());
            obj.insert(
                "details".into(),
                serde_json::Value::Array(vec![detail.into()]),
            );
        }
        serde_json::to_vec(&serde_json::Value::Object(obj))
            .unwrap_or_else(|_| FALLBACK_JSON.to_vec())
    }
}

/// What otelcol answers when an error status cannot be marshalled.
pub const FALLBACK_JSON: &[u8] = br#"{"code": 13, "message": "failed to marshal error message"}"#;

/// protojson's Duration format: seconds with 0, 3, 6 or 9 fractional digits and an `s`.
fn json_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    let secs = d.as_secs();
    if nanos == 0 {
        format!("{secs}s")
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{secs}.{:03}s", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{secs}.{:06}s", nanos / 1_000)
    } else {
        format!("{secs}.{nanos:09}s")
    }
}

/// otelcol's `GetHTTPStatusCodeFromStatus`.
pub fn http_status_for(grpc_code: i32) -> u16 {
    match grpc_code {
        code::CANCELLED
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::OUT_OF_RANGE
        | code::UNAVAILABLE
        | code::DATA_LOSS => 503,
        code::RESOURCE_EXHAUSTED => 429,
        code::INVALID_ARGUMENT => 400,
        code::UNAUTHENTICATED => 401,
        code::PERMISSION_DENIED => 403,
        code::UNIMPLEMENTED => 404,
        _ => 500,
    }
}

/// otelcol's `NewStatusFromMsgAndHTTPCode` (HTTP status -> gRPC code).
pub fn grpc_code_for_http(status: u16) -> i32 {
    match status {
        400 => code::INVALID_ARGUMENT,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 => code::UNIMPLEMENTED,
        429 => code::RESOURCE_EXHAUSTED,
        502..=504 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

/// The tonic status for a failure; `RetryInfo` travels in `grpc-status-details-bin`.
pub fn to_tonic(f: &Failure) -> tonic::Status {
    let c = tonic::Code::from(f.grpc_code);
    if f.retry_after.is_some() {
        tonic::Status::with_details(c, f.message.clone(), f.to_protobuf().into())
    } else {
        tonic::Status::new(c, f.message.clone())
    }
}
