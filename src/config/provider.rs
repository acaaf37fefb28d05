//! TEMPORARY: replaced by the config-sources work in progress.
use super::error::{ConfigError, ConfigErrors};
pub trait EnvLookup: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;
}
pub struct ProcessEnv;
impl EnvLookup for ProcessEnv {
    fn var(&self, n: &str) -> Option<String> {
        std::env::var(n).ok()
    }
}
impl EnvLookup for std::collections::HashMap<String, String> {
    fn var(&self, n: &str) -> Option<String> {
        self.get(n).cloned()
    }
}
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub name: String,
    pub doc: serde_yaml::Value,
}
#[derive(Debug, Clone)]
pub struct Resolved {
    pub doc: serde_yaml::Value,
    pub sources: Vec<ConfigSource>,
    pub warnings: Vec<String>,
}
impl Resolved {
    pub fn source_of(&self, _p: &[&str]) -> Option<&str> {
        self.sources.first().map(|s| s.name.as_str())
    }
}
pub fn resolve(
    uris: &[String],
    _sets: &[String],
    _env: &dyn EnvLookup,
) -> Result<Resolved, ConfigErrors> {
    let mut sources = Vec::new();
    for u in uris {
        let p = u.strip_prefix("file:").unwrap_or(u);
        let t = std::fs::read_to_string(p).map_err(|e| ConfigError::new("", e.to_string()))?;
        sources.push(ConfigSource {
            name: p.into(),
            doc: serde_yaml::from_str(&t).map_err(|e| ConfigError::new("", e.to_string()))?,
        });
    }
    Ok(Resolved {
        doc: sources.first().map(|s| s.doc.clone()).unwrap_or_default(),
        sources,
        warnings: vec![],
    })
}
