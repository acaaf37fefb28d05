//! `--set a.b.c=value` sources (otelcol's `core:otelcol/flags.go`).
//!
//! otelcol rewrites `--set=a.b.c=value` to the URI `yaml:a::b::c: value`: the text before the
//! first `=` is the key path with `.` as separator (so keys containing dots cannot be
//! addressed), the rest is YAML. We build exactly that YAML text and parse it the same way a
//! `yaml:` location is parsed, so `--set=processors.batch.send_batch_size=100` is an int and
//! `--set=x.list=[a, b]` a list.

use super::error::ConfigError;
use super::provider::{doc_from_yaml, ConfigSource};

/// Turns one `--set` argument into a config source named `--set <arg>`.
pub fn set_source(arg: &str) -> Result<ConfigSource, ConfigError> {
    let name = format!("--set {arg}");
    let Some((key, value)) = arg.split_once('=') else {
        return Err(ConfigError::new("", "missing equal sign").with_source(name));
    };
    let text = format!("{}: {}", key.trim().replace('.', "::"), value.trim());
    doc_from_yaml(name, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;

    fn y(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn nested_typed_values() {
        let s = set_source("processors.batch.send_batch_size=100").unwrap();
        assert_eq!(s.name, "--set processors.batch.send_batch_size=100");
        assert_eq!(s.doc, y("processors: {batch: {send_batch_size: 100}}"));
        assert!(matches!(
            &s.doc["processors"]["batch"]["send_batch_size"],
            Value::Number(n) if n.as_i64() == Some(100)
        ));
        assert_eq!(set_source("a.b=true").unwrap().doc, y("a: {b: true}"));
        assert_eq!(set_source("a.f=1.5").unwrap().doc, y("a: {f: 1.5}"));
        assert_eq!(
            set_source("service.pipelines.traces.receivers=[otlp, zipkin]")
                .unwrap()
                .doc,
            y("service: {pipelines: {traces: {receivers: [otlp, zipkin]}}}")
        );
        assert_eq!(set_source("a.m={x: 1}").unwrap().doc, y("a: {m: {x: 1}}"));
        assert_eq!(
            set_source("a.s=hello world").unwrap().doc,
            y("a: {s: hello world}")
        );
        assert_eq!(set_source("a.n=").unwrap().doc, y("a: {n: null}"));
    }

    #[test]
    fn splits_on_first_equal_and_trims() {
        assert_eq!(set_source(" a.b = c=d ").unwrap().doc, y("a: {b: c=d}"));
        assert_eq!(
            set_source("exporters.otlp.endpoint=http://h:4317")
                .unwrap()
                .doc,
            y("exporters: {otlp: {endpoint: 'http://h:4317'}}")
        );
    }

    #[test]
    fn missing_equal_sign() {
        let err = set_source("processors.batch").unwrap_err();
        assert_eq!(err.message, "missing equal sign");
        assert_eq!(err.source_name.as_deref(), Some("--set processors.batch"));
        assert_eq!(
            err.to_string(),
            "--set processors.batch: missing equal sign"
        );
    }

    #[test]
    fn invalid_yaml_value_is_an_error() {
        let err = set_source("a.b=x: y").unwrap_err();
        assert_eq!(err.source_name.as_deref(), Some("--set a.b=x: y"));
        assert!(err.message.contains("line 1"), "{err}");
    }
}
