//! The `batch` processor's configuration, with otelcol's defaults and validation messages
//! (`core:processor/batchprocessor/config.go`).
//!
//! `metadata_keys` and `metadata_cardinality_limit` are accepted and validated but have no
//! effect yet: ferrocol carries no client metadata through its pipelines, so all data shares
//! one batcher (otelcol's behaviour when `metadata_keys` is empty).

use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::GoDuration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Items (spans, metric data points, log records) that trigger a send.
    pub send_batch_size: u32,
    /// Time after which pending data is sent regardless of size; zero sends at once.
    pub timeout: GoDuration,
    /// Upper bound on the items of one sent batch; zero means no limit.
    pub send_batch_max_size: u32,
    /// Client-metadata keys that would partition batchers (accepted; see the module doc).
    pub metadata_keys: Vec<String>,
    /// Limit on distinct metadata combinations (accepted; see the module doc).
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            send_batch_size: 8192,
            timeout: GoDuration::from_millis(200),
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: 1000,
        }
    }
}

impl Validate for BatchConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if self.send_batch_max_size > 0 && self.send_batch_max_size < self.send_batch_size {
            errs.add(
                path,
                "send_batch_max_size must be greater or equal to send_batch_size",
            );
        }
        let mut seen = std::collections::HashSet::new();
        let mut reported = std::collections::HashSet::new();
        for k in &self.metadata_keys {
            let lower = k.to_lowercase();
            if !seen.insert(lower.clone()) && reported.insert(lower.clone()) {
                errs.add(
                    path,
                    format!("duplicate entry in metadata_keys: {lower:?} (case-insensitive)"),
                );
            }
        }
    }
}
