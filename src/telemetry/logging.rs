//! The tracing subscriber, configured from `service::telemetry::logs` (level and console or
//! JSON encoding) and writing to stderr as otelcol does. The level can be changed later
//! (reload) through the returned handle.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload, Registry};

use crate::telemetry::config::{LogEncoding, LogsConfig};

/// Changes the log level of a running process.
pub struct LogHandle {
    handle: reload::Handle<LevelFilter, Registry>,
}

impl LogHandle {
    pub fn set_level(&self, level: &str) {
        let _ = self.handle.modify(|f| *f = parse_level(level));
    }
}

pub fn parse_level(level: &str) -> LevelFilter {
    match level.to_ascii_lowercase().as_str() {
        "debug" => LevelFilter::DEBUG,
        "warn" => LevelFilter::WARN,
        "error" | "dpanic" | "panic" | "fatal" => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// Installs the global subscriber. Returns None if one is already installed (tests).
pub fn init(cfg: &LogsConfig) -> Option<LogHandle> {
    let (filter, handle) = reload::Layer::new(parse_level(&cfg.level));
    let result = match cfg.encoding {
        LogEncoding::Json => tracing_subscriber::registry()
            .with(filter)
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(true),
            )
            .try_init(),
        LogEncoding::Console => tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
            .try_init(),
    };
    result.ok().map(|_| LogHandle { handle })
}
