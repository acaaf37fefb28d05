//! Config of the `debug` exporter: `verbosity` (basic | normal | detailed), the log sampling
//! (`sampling_initial` per second, then every `sampling_thereafter`-th), `use_internal_logger`
//! and an optional `sending_queue` (off by default, as in otelcol).

use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::lenient_string;
use crate::exporters::queue::QueueConfig;

/// How much is written per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Basic,
    Normal,
    Detailed,
}

/// The `debug` exporter config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    #[serde(deserialize_with = "lenient_string")]
    pub verbosity: String,
    pub sampling_initial: u64,
    pub sampling_thereafter: u64,
    pub use_internal_logger: bool,
    pub sending_queue: QueueConfig,
}

impl Default for DebugConfig {
    fn default() -> Self {
        Self {
            verbosity: "basic".into(),
            sampling_initial: 2,
            sampling_thereafter: 1,
            use_internal_logger: true,
            sending_queue: QueueConfig {
                enabled: false,
                ..QueueConfig::default()
            },
        }
    }
}

impl DebugConfig {
    pub fn verbosity(&self) -> Result<Verbosity, String> {
        match self.verbosity.to_ascii_lowercase().as_str() {
            "basic" => Ok(Verbosity::Basic),
            "normal" => Ok(Verbosity::Normal),
            "detailed" => Ok(Verbosity::Detailed),
            "none" => Err(format!(
                "verbosity level {:?} is not supported",
                self.verbosity
            )),
            _ => Err(format!("unknown metrics level {:?}", self.verbosity)),
        }
    }
}

impl Validate for DebugConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if let Err(e) = self.verbosity() {
            errs.add(format!("{path}::verbosity"), e);
        }
        self.sending_queue.validate(path, errs);
    }
}
