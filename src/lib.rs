//! ferrocol: a Rust collector that runs OpenTelemetry Collector (otelcol) configs as a
//! Kubernetes node agent.
//!
//! The crate is organised one module per responsibility (see `docs/ARCHITECTURE.md`):
//! `config` parses and validates otelcol YAML, `component` holds the factory traits and the
//! single registry of built-in components, `pipeline` wires built components into running
//! async stages, and `receivers`, `processors`, `exporters`, `extensions` hold the
//! components themselves. `telemetry` is the collector's own logs and metrics; `reload` applies
//! config changes to the running collector.

pub mod app;
pub mod cli;
pub mod component;
pub mod config;
pub mod data;
pub mod discovery;
pub mod exporters;
pub mod exposition;
pub mod extensions;
pub mod pipeline;
pub mod processors;
pub mod receivers;
pub mod relabel;
pub mod reload;
pub mod rpc_status;
pub mod shutdown;
pub mod telemetry;

/// Installs ring as the process-wide rustls crypto provider (idempotent). Every component that
/// builds a TLS-capable client calls it, so no caller (binary, test, library user) has to.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
