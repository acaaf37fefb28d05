//! The `memory_limiter` processor's configuration, with otelcol's defaults and validation
//! messages (`core:internal/memorylimiter/config.go`).
//!
//! The four GC interval settings are accepted and checked for consistency exactly as otelcol
//! does, but have no effect: ferrocol has no garbage collector to force.

use serde::Deserialize;

use crate::config::decode::Validate;
use crate::config::error::ConfigErrors;
use crate::config::types::GoDuration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryLimiterConfig {
    /// Time between memory measurements; must be set.
    pub check_interval: GoDuration,
    /// Hard limit in MiB; takes precedence over `limit_percentage`.
    pub limit_mib: u32,
    /// Expected spike between measurements in MiB (0 = 20% of `limit_mib`).
    pub spike_limit_mib: u32,
    /// Hard limit in percent of the total memory (cgroup limit, else host memory).
    pub limit_percentage: u32,
    /// Expected spike in percent of the total memory (0 = 20% of the limit).
    pub spike_limit_percentage: u32,
    /// Go GC tuning (accepted, no effect).
    pub min_gc_interval_when_soft_limited: GoDuration,
    pub min_gc_interval_when_hard_limited: GoDuration,
    pub max_gc_interval_when_soft_limited: GoDuration,
    pub max_gc_interval_when_hard_limited: GoDuration,
}

impl Default for MemoryLimiterConfig {
    fn default() -> Self {
        Self {
            check_interval: GoDuration::default(),
            limit_mib: 0,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
            min_gc_interval_when_soft_limited: GoDuration::from_secs(10),
            min_gc_interval_when_hard_limited: GoDuration::default(),
            max_gc_interval_when_soft_limited: GoDuration::from_secs(30),
            max_gc_interval_when_hard_limited: GoDuration::from_secs(30),
        }
    }
}

impl Validate for MemoryLimiterConfig {
    fn validate(&self, path: &str, errs: &mut ConfigErrors) {
        if self.check_interval.is_zero() {
            errs.add(path, "'check_interval' must be greater than zero");
        }
        let (min_soft, min_hard) = (
            self.min_gc_interval_when_soft_limited,
            self.min_gc_interval_when_hard_limited,
        );
        let (max_soft, max_hard) = (
            self.max_gc_interval_when_soft_limited,
            self.max_gc_interval_when_hard_limited,
        );
        if min_soft < min_hard {
            errs.add(
                path,
                "'min_gc_interval_when_soft_limited' should be larger than 'min_gc_interval_when_hard_limited'",
            );
        }
        if !max_soft.is_zero() && max_soft < min_soft {
            errs.add(
                path,
                "'max_gc_interval_when_soft_limited' must be greater than or equal to 'min_gc_interval_when_soft_limited' (or 0 to disable)",
            );
        }
        if !max_hard.is_zero() && max_hard < min_hard {
            errs.add(
                path,
                "'max_gc_interval_when_hard_limited' must be greater than or equal to 'min_gc_interval_when_hard_limited' (or 0 to disable)",
            );
        }
        if !max_soft.is_zero() && !max_hard.is_zero() && max_soft < max_hard {
            errs.add(
                path,
                "'max_gc_interval_when_soft_limited' should be larger than or equal to 'max_gc_interval_when_hard_limited' (when both are set)",
            );
        }
        if self.limit_mib == 0 && self.limit_percentage == 0 {
            errs.add(
                path,
                "'limit_mib' or 'limit_percentage' must be greater than zero",
            );
        }
        if self.limit_percentage > 100 || self.spike_limit_percentage > 100 {
            errs.add(
                path,
                "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred",
            );
        }
        if self.limit_mib > 0 && self.limit_mib <= self.spike_limit_mib {
            errs.add(path, "'spike_limit_mib' must be smaller than 'limit_mib'");
        }
        if self.limit_percentage > 0 && self.limit_percentage <= self.spike_limit_percentage {
            errs.add(
                path,
                "'spike_limit_percentage' must be smaller than 'limit_percentage'",
            );
        }
    }
}
