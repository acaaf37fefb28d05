//! Component and pipeline identifiers: `type[/name]` and `signal[/name]`, with otelcol's
//! validation rules and error texts (spec 1.2, 1.3).

use std::fmt;

use crate::component::Signal;

/// A component ID `type[/name]`. The type selects the factory; the whole ID is the identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

impl ComponentId {
    /// Parses `type[/name]`, splitting on the first `/` and trimming whitespace around each part.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("id must not be empty".to_string());
        }
        let (ty, name) = match s.split_once('/') {
            Some((t, n)) => (t.trim(), Some(n.trim())),
            None => (s.trim(), None),
        };
        if ty.is_empty() {
            return Err(format!(
                "in {s:?} id: the part before / should not be empty"
            ));
        }
        if !valid_type(ty) {
            return Err(format!("in {s:?} id: invalid character(s) in type {ty:?}"));
        }
        let name = match name {
            Some("") => return Err(format!("in {s:?} id: the part after / should not be empty")),
            Some(n) if !valid_name(n) => {
                return Err(format!("in {n:?} id: invalid character(s) in name {n:?}"))
            }
            Some(n) => Some(n.to_string()),
            None => None,
        };
        Ok(Self {
            type_name: ty.to_string(),
            name,
        })
    }

    pub fn new(type_name: &str, name: Option<&str>) -> Self {
        Self {
            type_name: type_name.to_string(),
            name: name.map(str::to_string),
        }
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.type_name, n),
            None => f.write_str(&self.type_name),
        }
    }
}

/// `^[a-zA-Z][0-9a-zA-Z_]{0,62}$`
fn valid_type(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && t.len() <= 63
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Non-empty, at most 1024 chars, no whitespace, control or symbol characters.
fn valid_name(n: &str) -> bool {
    n.len() <= 1024
        && n.chars().all(|c| {
            !(c.is_whitespace()
                || c.is_control()
                || matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~'))
        })
}

/// A pipeline ID `signal[/name]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    pub signal: Signal,
    pub name: Option<String>,
}

impl PipelineId {
    /// Parses a pipeline key. `profiles` is recognised so that its error can name the gate.
    pub fn parse(s: &str) -> Result<Self, String> {
        let id = ComponentId::parse(s)?;
        let signal = match id.type_name() {
            "traces" => Signal::Traces,
            "metrics" => Signal::Metrics,
            "logs" => Signal::Logs,
            "profiles" => {
                return Err(format!(
                    "pipeline {s:?}: profiling signal support is at alpha level, gated under the \"service.profilesSupport\" feature gate"
                ))
            }
            other => return Err(format!("in {s:?} id: unknown pipeline signal: {other:?}")),
        };
        Ok(Self {
            signal,
            name: id.name().map(str::to_string),
        })
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{}/{}", self.signal, n),
            None => write!(f, "{}", self.signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_name() {
        let id = ComponentId::parse("otlp/self-metrics").unwrap();
        assert_eq!(id.type_name(), "otlp");
        assert_eq!(id.name(), Some("self-metrics"));
        assert_eq!(id.to_string(), "otlp/self-metrics");
        let id = ComponentId::parse("receiver_creator/a/b.c").unwrap();
        assert_eq!(id.name(), Some("a/b.c"));
        assert_eq!(
            ComponentId::parse(" otlp / x ").unwrap().to_string(),
            "otlp/x"
        );
    }

    #[test]
    fn error_texts_match_otelcol() {
        assert_eq!(ComponentId::parse("").unwrap_err(), "id must not be empty");
        assert_eq!(
            ComponentId::parse("/x").unwrap_err(),
            "in \"/x\" id: the part before / should not be empty"
        );
        assert_eq!(
            ComponentId::parse("x/").unwrap_err(),
            "in \"x/\" id: the part after / should not be empty"
        );
        assert_eq!(
            ComponentId::parse("1abc").unwrap_err(),
            "in \"1abc\" id: invalid character(s) in type \"1abc\""
        );
        assert!(ComponentId::parse("a/b c").is_err());
    }

    #[test]
    fn pipeline_ids() {
        let p = PipelineId::parse("metrics/self").unwrap();
        assert_eq!(p.signal, Signal::Metrics);
        assert_eq!(p.to_string(), "metrics/self");
        assert!(PipelineId::parse("profiles")
            .unwrap_err()
            .contains("service.profilesSupport"));
        assert_eq!(
            PipelineId::parse("spans").unwrap_err(),
            "in \"spans\" id: unknown pipeline signal: \"spans\""
        );
    }
}
