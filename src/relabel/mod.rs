//! Prometheus relabeling (`relabel_configs`, `metric_relabel_configs`), with Prometheus 3
//! semantics: fully anchored `^(?s:...)$` regexes compiled once at config load, Go's
//! replacement templates (`$1`, `${1}`, `$name`), every action, and Prometheus's validation
//! messages. `config` parses and validates a rule, `regex` adapts Go RE2 syntax to Rust's
//! regex engine, `labels` is the sorted label set rules operate on, `process` applies rules.

pub mod config;
pub mod labels;
pub mod process;
pub mod regex;

pub use config::{Action, NameScheme, RelabelConfig, Rule};
pub use labels::Labels;
pub use process::process;

#[cfg(test)]
mod tests;
