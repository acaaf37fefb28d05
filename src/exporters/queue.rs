//! The exporter helper shared by every exporter (otelcol's `exporterhelper`): the
//! `sending_queue` (bounded, `num_consumers` workers, drop-and-count or block on overflow),
//! `retry_on_failure` (jittered exponential backoff with otelcol's defaults, server throttle
//! delays honoured) and the per-attempt `timeout`. Exporter authors only write "send one
//! request" (`component::factory::Exporter`); this module adds everything else and counts
//! sent / send_failed / enqueue_failed items with otelcol's names.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde::Deserialize;

use crate::component::factory::{ConsumeError, ExportError, Exporter};
use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::GoDuration;
use crate::data::{Batch, SignalData};
use crate::telemetry::metrics::{Counter, MetricsRegistry};

/// `retry_on_failure`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub enabled: bool,
    pub initial_interval: GoDuration,
    pub randomization_factor: f64,
    pub multiplier: f64,
    pub max_interval: GoDuration,
    /// 0 = retry forever.
    pub max_elapsed_time: GoDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: GoDuration::from_secs(5),
            randomization_factor: 0.5,
            multiplier: 1.5,
            max_interval: GoDuration::from_secs(30),
            max_elapsed_time: GoDuration::from_secs(300),
        }
    }
}

impl Validate for RetryConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if !self.enabled {
            return;
        }
        let p = format!("{path}::retry_on_failure");
        if !(0.0..=1.0).contains(&self.randomization_factor) {
            errs.add(&p, "'randomization_factor' must be within [0, 1]");
        }
        if self.multiplier < 1.0 {
            errs.add(&p, "'multiplier' must be greater than or equal to 1");
        }
        if !self.max_elapsed_time.is_zero() {
            if self.max_elapsed_time < self.initial_interval {
                errs.add(
                    &p,
                    "'max_elapsed_time' must not be less than 'initial_interval'",
                );
            }
            if self.max_elapsed_time < self.max_interval {
                errs.add(
                    &p,
                    "'max_elapsed_time' must not be less than 'max_interval'",
                );
            }
        }
    }
}

/// What `queue_size` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sizer {
    #[default]
    Requests,
    Items,
    /// Size of the protobuf encoding.
    Bytes,
}

/// `sending_queue`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub enabled: bool,
    pub num_consumers: usize,
    pub queue_size: usize,
    pub sizer: Sizer,
    pub block_on_overflow: bool,
    pub wait_for_result: bool,
    /// Persistent queues need a storage extension, which ferrocol does not have yet.
    pub storage: Option<String>,
    /// otelcol's in-queue batching (`flush_timeout`, `min_size`, `max_size`, `sizer`,
    /// `partition`). Accepted; ferrocol sends each queued request as it is (batch with the
    /// `batch` processor), and says so at start.
    pub batch: Option<serde_yaml::Value>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            sizer: Sizer::Requests,
            block_on_overflow: false,
            wait_for_result: false,
            storage: None,
            batch: None,
        }
    }
}

impl Validate for QueueConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if !self.enabled {
            return;
        }
        let p = format!("{path}::sending_queue");
        if self.num_consumers == 0 {
            errs.add(&p, "'num_consumers' must be positive");
        }
        if self.queue_size == 0 {
            errs.add(&p, "'queue_size' must be positive");
        }
        if let Some(s) = &self.storage {
            errs.add(
                format!("{p}::storage"),
                format!("persistent queue storage {s:?} is not supported by ferrocol (no storage extensions)"),
            );
        }
    }
}

/// The helper settings an exporter factory hands back with its exporter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HelperSettings {
    pub retry: RetryConfig,
    pub queue: QueueConfig,
    /// Per-attempt deadline; None = no deadline from the helper (the client has its own).
    pub timeout: Option<Duration>,
}

/// Telemetry for one exporter instance (signal, id).
#[derive(Clone)]
pub struct ExporterCounters {
    pub sent: Counter,
    pub send_failed: Counter,
    pub enqueue_failed: Counter,
    pub retries: Counter,
}

impl ExporterCounters {
    pub fn new<S: SignalData>(metrics: &MetricsRegistry, exporter: &str) -> Self {
        let noun = S::SIGNAL.item_noun();
        let l = [("exporter", exporter)];
        Self {
            sent: metrics.counter(
                &format!("otelcol_exporter_sent_{noun}"),
                "Number of items successfully sent to destination.",
                &l,
            ),
            send_failed: metrics.counter(
                &format!("otelcol_exporter_send_failed_{noun}"),
                "Number of items in failed attempts to send to destination.",
                &l,
            ),
            enqueue_failed: metrics.counter(
                &format!("otelcol_exporter_enqueue_failed_{noun}"),
                "Number of items failed to be added to the sending queue.",
                &l,
            ),
            retries: metrics.counter(
                "ferrocol_exporter_retries",
                "Number of export attempts retried after a retryable failure.",
                &[("exporter", exporter), ("data_type", S::SIGNAL.as_str())],
            ),
        }
    }
}

/// Sends one batch with retries and timeouts; counts the outcome. Returns the final error
/// when the data was dropped (permanent error, retries exhausted or cancelled).
pub struct RetrySender<S: SignalData> {
    pub exporter_id: String,
    pub exporter: Arc<dyn Exporter<S>>,
    pub settings: HelperSettings,
    pub counters: ExporterCounters,
}

impl<S: SignalData> RetrySender<S> {
    /// Exports with retries until success, a permanent error, `max_elapsed_time`, or `deadline`
    /// (shutdown drain deadline).
    pub async fn send(
        &self,
        batch: Arc<Batch<S>>,
        deadline: Option<Instant>,
    ) -> Result<(), ConsumeError> {
        let items = batch.items() as u64;
        let started = Instant::now();
        let retry = &self.settings.retry;
        let mut interval = retry.initial_interval.0;
        loop {
            let attempt = self.exporter.export(Arc::clone(&batch));
            let result = match self.settings.timeout.filter(|t| !t.is_zero()) {
                Some(t) => match tokio::time::timeout(t, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(ExportError::retryable(format!(
                        "request timed out after {t:?}"
                    ))),
                },
                None => attempt.await,
            };
            let err = match result {
                Ok(()) => {
                    self.counters.sent.add(items);
                    return Ok(());
                }
                Err(e) => e,
            };
            let give_up = |why: &str, e: &ExportError| {
                self.counters.send_failed.add(items);
                crate::telemetry::events::ExportDropped {
                    exporter: &self.exporter_id,
                    items,
                    reason: why,
                    error: &e.message,
                }
                .emit();
            };
            if !err.retryable || !retry.enabled {
                give_up(
                    if err.retryable {
                        "retries disabled"
                    } else {
                        "permanent error"
                    },
                    &err,
                );
                return Err(ConsumeError::permanent(err.message));
            }
            let mut wait = jitter(interval, retry.randomization_factor);
            if let Some(t) = err.throttle {
                wait = t;
            }
            let elapsed = started.elapsed();
            let max = retry.max_elapsed_time.0;
            if !max.is_zero() && elapsed + wait > max {
                give_up("retries exhausted (max_elapsed_time)", &err);
                return Err(ConsumeError::permanent(err.message));
            }
            if let Some(d) = deadline {
                if Instant::now() + wait > d {
                    give_up("shutdown deadline reached", &err);
                    return Err(ConsumeError::permanent(err.message));
                }
            }
            self.counters.retries.inc();
            tracing::warn!(
                exporter = %self.exporter_id,
                error = %err.message,
                interval = ?wait,
                "Exporting failed. Will retry the request after interval."
            );
            tokio::time::sleep(wait).await;
            interval = Duration::from_secs_f64(
                (interval.as_secs_f64() * retry.multiplier).min(retry.max_interval.0.as_secs_f64()),
            );
        }
    }
}

fn jitter(d: Duration, factor: f64) -> Duration {
    if factor <= 0.0 || d.is_zero() {
        return d;
    }
    let delta = d.as_secs_f64() * factor;
    let lo = d.as_secs_f64() - delta;
    let hi = d.as_secs_f64() + delta;
    Duration::from_secs_f64(rand::rng().random_range(lo..=hi).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::decode::decode;

    #[test]
    fn defaults_match_otelcol() {
        let r = RetryConfig::default();
        assert_eq!(r.initial_interval.0, Duration::from_secs(5));
        assert_eq!(r.max_interval.0, Duration::from_secs(30));
        assert_eq!(r.max_elapsed_time.0, Duration::from_secs(300));
        let q = QueueConfig::default();
        assert_eq!(
            (q.num_consumers, q.queue_size, q.block_on_overflow),
            (10, 1000, false)
        );
    }

    #[test]
    fn validation_messages() {
        let raw: serde_yaml::Value = serde_yaml::from_str(
            "initial_interval: 10s\nmax_elapsed_time: 5s\nrandomization_factor: 2",
        )
        .unwrap();
        let e = decode::<RetryConfig>(&raw, "exporters::otlp")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'max_elapsed_time' must not be less than 'initial_interval'"),
            "{e}"
        );
        assert!(e.contains("randomization_factor"), "{e}");
        let raw: serde_yaml::Value = serde_yaml::from_str("blocking: true").unwrap();
        let e = decode::<QueueConfig>(&raw, "exporters::otlp::sending_queue")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `blocking`"), "{e}");
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(10), 0.5);
            assert!(j >= Duration::from_secs(5) && j <= Duration::from_secs(15));
        }
    }
}
