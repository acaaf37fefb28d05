//! The collector's own telemetry: logs through `tracing` (`logging`), self-metrics with
//! otelcol-compatible names (`metrics`), the Prometheus endpoint serving them (`server`), and
//! typed events that log and count in one call (`events`).

pub mod config;
pub mod events;
pub mod logging;
pub mod metrics;
pub mod server;
