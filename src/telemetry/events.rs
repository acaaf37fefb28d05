//! Typed events that log and count in one call (Vector's `InternalEvent`). Warnings that can
//! repeat per request are rate-limited: at most one line per `LOG_EVERY` per event kind, with
//! the number suppressed in between.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// A per-call-site rate limiter: `allow()` is true at most once per `LOG_EVERY`.
pub struct RateLimit {
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    pub const fn new() -> Self {
        Self {
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Some(suppressed count since the last allowed line) when a line may be logged now.
    pub fn allow(&self) -> Option<u64> {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        if due
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

/// An exporter gave up on a batch (permanent error, retries exhausted, shutdown deadline).
/// The counter (`otelcol_exporter_send_failed_*`) is bumped by the caller, which owns it.
pub struct ExportDropped<'a> {
    pub exporter: &'a str,
    pub items: u64,
    pub reason: &'a str,
    pub error: &'a str,
}

impl ExportDropped<'_> {
    pub fn emit(&self) {
        static RL: RateLimit = RateLimit::new();
        if let Some(suppressed) = RL.allow() {
            tracing::error!(
                exporter = self.exporter,
                dropped_items = self.items,
                reason = self.reason,
                error = self.error,
                suppressed_similar = suppressed,
                "Exporting failed. Dropping data."
            );
        }
    }
}

/// The sending queue was full and the batch was refused.
pub struct EnqueueFailed<'a> {
    pub exporter: &'a str,
    pub items: u64,
}

impl EnqueueFailed<'_> {
    pub fn emit(&self) {
        static RL: RateLimit = RateLimit::new();
        if let Some(suppressed) = RL.allow() {
            tracing::error!(
                exporter = self.exporter,
                dropped_items = self.items,
                suppressed_similar = suppressed,
                "Sending queue is full. Dropping data."
            );
        }
    }
}

/// Data still queued or in flight when the shutdown deadline passed.
pub struct QueueDropped<'a> {
    pub exporter: &'a str,
    pub items: u64,
    pub reason: &'a str,
}

impl QueueDropped<'_> {
    pub fn emit(&self) {
        tracing::error!(
            exporter = self.exporter,
            dropped_items = self.items,
            reason = self.reason,
            "Dropping data at shutdown."
        );
    }
}

/// A receiver rejected a malformed or oversized request.
pub struct RequestRejected<'a> {
    pub receiver: &'a str,
    pub transport: &'a str,
    pub reason: &'a str,
}

impl RequestRejected<'_> {
    pub fn emit(&self) {
        static RL: RateLimit = RateLimit::new();
        if let Some(suppressed) = RL.allow() {
            tracing::warn!(
                receiver = self.receiver,
                transport = self.transport,
                reason = self.reason,
                suppressed_similar = suppressed,
                "Rejected a malformed request."
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_first_then_suppresses() {
        let rl = RateLimit::new();
        assert_eq!(rl.allow(), Some(0));
        assert_eq!(rl.allow(), None);
        assert_eq!(rl.allow(), None);
        assert_eq!(rl.suppressed.load(Ordering::Relaxed), 2);
    }
}
