//! Pieces both OTLP exporters share about server answers: the `google.rpc.Status` /
//! `google.rpc.RetryInfo` messages (hand-declared prost types, as the OTLP crate does not ship
//! them), reading a RetryInfo delay out of gRPC status details, and the rate-limited
//! "Partial success response" warning.

use std::time::Duration;

use prost::Message;

use crate::component::Signal;
use crate::telemetry::events::RateLimit;

pub use crate::rpc_status::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus, RETRY_INFO_TYPE_URL};

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
