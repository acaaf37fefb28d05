//! Exporters: "send one request" implementations plus the shared exporter helper (`queue`).

pub mod debug;
pub mod otlp;
pub mod otlphttp;
pub mod queue;
pub mod tls;
