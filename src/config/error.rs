//! Configuration errors: every problem carries the source it came from, the `::`-joined key
//! path (otelcol's notation) and the reason. `ConfigErrors` collects all problems of one pass.

use std::fmt;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config source (file path, `env:VAR`, `yaml:...`, `--set`) the key came from, when known.
    pub source_name: Option<String>,
    /// The key path in otelcol's `::` notation, e.g. `service::pipelines::traces`; may be empty.
    pub key_path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub fn new(key_path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source_name: None,
            key_path: key_path.into(),
            message: message.into(),
        }
    }

    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source_name = Some(source.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(src) = &self.source_name {
            write!(f, "{src}: ")?;
        }
        if self.key_path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key_path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// All problems found in one pass, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }
    pub fn add(&mut self, key_path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(key_path, message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: ConfigErrors) {
        self.0.extend(other.0);
    }
    /// Ok when empty, otherwise the collected errors.
    pub fn into_result(self) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
    /// Fills in the source name of every error that has none.
    pub fn set_source_if_missing(&mut self, source: &str) {
        for e in &mut self.0 {
            if e.source_name.is_none() {
                e.source_name = Some(source.to_string());
            }
        }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Joins key path segments with `::`, skipping empty ones.
pub fn join_path(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("::")
}
