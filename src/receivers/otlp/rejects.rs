//! Counting requests the receiver rejects before they reach a pipeline (malformed, oversized,
//! badly encoded): `ferrocol_receiver_rejected_requests{receiver, transport, reason}` plus a
//! rate-limited `RequestRejected` warning. Refusals by the pipeline are counted by
//! `pipeline::fanout::Consumer`, not here.

use crate::telemetry::events::RequestRejected;
use crate::telemetry::metrics::{Counter, MetricsRegistry};

/// The metric name.
pub const REJECTED_REQUESTS: &str = "ferrocol_receiver_rejected_requests";

/// Why a request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The payload is not a valid OTLP message.
    Decode,
    /// The body (before or after decompression) or message exceeds the limit.
    TooLarge,
    /// Unsupported `Content-Encoding`, or a corrupt compressed body.
    BadEncoding,
    /// `Content-Type` is neither protobuf nor JSON.
    UnsupportedMediaType,
}

impl Reason {
    const ALL: [Reason; 4] = [
        Reason::Decode,
        Reason::TooLarge,
        Reason::BadEncoding,
        Reason::UnsupportedMediaType,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Decode => "decode",
            Reason::TooLarge => "too_large",
            Reason::BadEncoding => "bad_encoding",
            Reason::UnsupportedMediaType => "unsupported_media_type",
        }
    }

    fn index(self) -> usize {
        match self {
            Reason::Decode => 0,
            Reason::TooLarge => 1,
            Reason::BadEncoding => 2,
            Reason::UnsupportedMediaType => 3,
        }
    }
}

/// The rejection counters of one receiver and transport.
pub struct Rejects {
    receiver: String,
    transport: &'static str,
    counters: Vec<Counter>,
}

impl Rejects {
    pub fn new(metrics: &MetricsRegistry, receiver: &str, transport: &'static str) -> Self {
        let counters = Reason::ALL
            .iter()
            .map(|r| {
                metrics.counter(
                    REJECTED_REQUESTS,
                    "Requests rejected by a receiver before reaching a pipeline (malformed, oversized or badly encoded).",
                    &[
                        ("receiver", receiver),
                        ("transport", transport),
                        ("reason", r.as_str()),
                    ],
                )
            })
            .collect();
        Self {
            receiver: receiver.to_string(),
            transport,
            counters,
        }
    }

    pub fn record(&self, reason: Reason) {
        if let Some(c) = self.counters.get(reason.index()) {
            c.inc();
        }
        RequestRejected {
            receiver: &self.receiver,
            transport: self.transport,
            reason: reason.as_str(),
        }
        .emit();
    }
}
