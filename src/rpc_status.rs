//! The `google.rpc.Status` and `google.rpc.RetryInfo` messages (with `google.protobuf.Any`
//! and `Duration`) that OTLP uses for errors, hand-declared as prost types because the OTLP
//! crate does not ship them. Shared by the OTLP receiver (which sends them) and the OTLP
//! exporters (which read them).

use std::time::Duration;

use prost::Message;

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

pub const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

impl RpcStatus {
    /// The RetryInfo detail, if any: `Some(delay)` where the delay may be zero.
    pub fn retry_info(&self) -> Option<Duration> {
        self.details
            .iter()
            .find(|d| {
                d.type_url == RETRY_INFO_TYPE_URL || d.type_url.ends_with("/google.rpc.RetryInfo")
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
                type_url: RETRY_INFO_TYPE_URL.into(),
                value: ri.encode_to_vec(),
            }],
        }
    }
}
