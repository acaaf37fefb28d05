//! Pieces both OTLP exporters share about server answers: the `google.rpc.Status` /
//! `google.rpc.RetryInfo` messages (hand-declared prost types, as the OTLP crate does not ship
//! them), reading a RetryInfo delay out of gRPC status details, and the rate-limited
//! "Partial success response" warning.

use std::time::Duration;

use prost::Message;

use crate::component::Signal;
use crate::telemetry::events::RateLimit;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// The RetryInfo detail, if any: `Some(delay)` where the delay may be zero.
    pub fn retry_info(&self) -> Option<Duration> {
        self.details
            .iter()
            .find(|d| {
                d.type_url == RETRY_INFO_TYPE || d.type_url.ends_with("/google.rpc.RetryInfo")
            })
            .and_then(|d| RetryInfo::decode(d.value.as_slice()).ok())
            .map(|ri| {
                ri.retry_delay
                    .map(|d| {
                        let secs = u64::try_from(d.seconds).unwrap_or(0);
                        let nanos = u32::try_from(d.nanos).unwrap_or(0).min(999_999_999);
                        Duration::new(secs, nanos)
                    })
                    .unwrap_or_default()
            })
    }

    /// Go's `%v` of the details list, reduced to the type URLs (values are opaque bytes).
    pub fn details_text(&self) -> String {
        let urls: Vec<&str> = self.details.iter().map(|d| d.type_url.as_str()).collect();
        format!("[{}]", urls.join(" "))
    }

    /// Builds a status whose details carry a RetryInfo (used by tests and servers).
    pub fn with_retry_delay(code: i32, message: &str, delay: Duration) -> Self {
        let ri = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        RpcStatus {
            code,
            message: message.to_string(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE.into(),
                value: ri.encode_to_vec(),
            }],
        }
    }
}

/// Reads the RetryInfo delay from gRPC status details (`grpc-status-details-bin`):
/// `None` when there is no RetryInfo, `Some(delay)` (possibly zero) when there is.
pub fn grpc_retry_info(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    RpcStatus::decode(details).ok()?.retry_info()
}

/// Logs a partial-success answer as otelcol does (a warning, not an error), rate-limited.
pub fn log_partial_success(exporter: &str, signal: Signal, rejected: i64, message: &str) {
    static RL: RateLimit = RateLimit::new();
    let Some(suppressed) = RL.allow() else {
        return;
    };
    match signal {
        Signal::Traces => tracing::warn!(
            exporter,
            message,
            dropped_spans = rejected,
            suppressed_similar = suppressed,
            "Partial success response"
        ),
        Signal::Metrics => tracing::warn!(
            exporter,
            message,
            dropped_data_points = rejected,
            suppressed_similar = suppressed,
            "Partial success response"
        ),
        Signal::Logs => tracing::warn!(
            exporter,
            message,
            dropped_log_records = rejected,
            suppressed_similar = suppressed,
            "Partial success response"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trip() {
        let st = RpcStatus::with_retry_delay(8, "slow down", Duration::from_millis(1500));
        let bytes = st.encode_to_vec();
        assert_eq!(grpc_retry_info(&bytes), Some(Duration::from_millis(1500)));
        let plain = RpcStatus {
            code: 14,
            message: "x".into(),
            details: vec![],
        };
        assert_eq!(grpc_retry_info(&plain.encode_to_vec()), None);
        assert_eq!(grpc_retry_info(b""), None);
        assert_eq!(grpc_retry_info(b"\xff\xff garbage"), None);
        assert_eq!(
            st.details_text(),
            "[type.googleapis.com/google.rpc.RetryInfo]"
        );
    }
}
