//! Receivers: components that bring data into the collector.

pub mod otlp;
pub mod prometheus;
