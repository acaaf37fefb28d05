//! Config sources (otelcol's confmap providers) and the resolver that merges them.
//!
//! * `retrieve` turns one `--config` location URI into a YAML document: `file:<path>` (also
//!   the default for a value without `:` or starting with a drive letter), `env:VAR` (the
//!   variable's content is the document) and `yaml:<inline>`. `http(s):` is recognised but not
//!   supported by ferrocol. Keys containing `::` are split into nested maps, as koanf does.
//! * `merge` is koanf's merge: maps deep-merge, anything else (lists included) replaces.
//! * `resolve` retrieves every `--config` and `--set`, merges them left to right and expands
//!   `${...}` references (see `expand.rs`), collecting every problem in one pass.

use std::collections::HashMap;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, ConfigErrors};
use super::expand::{self, EnvResult};
use super::set;

/// Looks up environment variables; tests pass a HashMap instead of touching the process env.
pub trait EnvLookup: Send + Sync {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment (read-only).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvLookup for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // `var_os` may panic on such names; they can never be set anyway.
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return None;
        }
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl EnvLookup for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// One retrieved config document.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The file path for files, `env:VAR`, `yaml:<text>` or `--set <arg>`.
    pub name: String,
    /// The document as retrieved (always a map), before merging and expansion.
    pub doc: Value,
}

/// The merged and expanded configuration.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub doc: Value,
    pub sources: Vec<ConfigSource>,
    /// Non-fatal problems, e.g. references to unset environment variables.
    pub warnings: Vec<String>,
}

impl Resolved {
    /// Name of the last source whose raw document contains the longest prefix of `path`
    /// (keys; list indices as numbers), for error messages. None if no source has even the
    /// first key, except that a single source is always returned.
    pub fn source_of(&self, path: &[&str]) -> Option<&str> {
        let mut best: Option<(usize, usize)> = None;
        for (i, src) in self.sources.iter().enumerate() {
            let n = prefix_len(&src.doc, path);
            if n > 0 && best.is_none_or(|(bn, _)| n >= bn) {
                best = Some((n, i));
            }
        }
        match best {
            Some((_, i)) => self.sources.get(i).map(|s| s.name.as_str()),
            None if self.sources.len() == 1 => self.sources.first().map(|s| s.name.as_str()),
            None => None,
        }
    }
}

/// How many leading elements of `path` exist in `doc`.
fn prefix_len(doc: &Value, path: &[&str]) -> usize {
    let mut cur = doc;
    let mut n = 0;
    for seg in path {
        let next = match cur {
            Value::Mapping(m) => m.get(*seg),
            Value::Sequence(s) => seg.parse::<usize>().ok().and_then(|i| s.get(i)),
            Value::Tagged(t) => match &t.value {
                Value::Mapping(m) => m.get(*seg),
                _ => None,
            },
            _ => None,
        };
        match next {
            Some(v) => {
                cur = v;
                n += 1;
            }
            None => break,
        }
    }
    n
}

/// The file path of a `--config` location URI when it names a file (`file:` or no scheme).
pub fn file_path_of(uri: &str) -> Option<&str> {
    if is_drive_letter(uri) || !uri.contains(':') {
        return Some(uri);
    }
    match parse_location(uri) {
        Some(("file", path)) => Some(path),
        _ => None,
    }
}

/// Retrieves one `--config` location URI.
pub fn retrieve(uri: &str, env: &dyn EnvLookup) -> Result<ConfigSource, ConfigError> {
    retrieve_with_warnings(uri, env, &mut Vec::new())
}

/// `retrieve`, also reporting warnings (an `env:` location naming an unset variable).
pub(crate) fn retrieve_with_warnings(
    uri: &str,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<ConfigSource, ConfigError> {
    let (scheme, opaque) = if is_drive_letter(uri) || !uri.contains(':') {
        ("file", uri)
    } else {
        parse_location(uri)
            .ok_or_else(|| ConfigError::new("", format!("invalid uri: {}", go_quote(uri))))?
    };
    match scheme {
        "file" => {
            let text = std::fs::read_to_string(opaque).map_err(|e| {
                ConfigError::new("", format!("unable to read the file file:{opaque}: {e}"))
            })?;
            doc_from_yaml(opaque.to_string(), &text)
        }
        "env" => {
            let name = format!("env:{opaque}");
            match expand::lookup_env(opaque, env, warnings) {
                Err(msg) => Err(ConfigError::new("", msg).with_source(name)),
                Ok(EnvResult::Unset) => Ok(ConfigSource {
                    name,
                    doc: Value::Mapping(Mapping::new()),
                }),
                Ok(EnvResult::Text(text)) => doc_from_yaml(name, &text),
            }
        }
        "yaml" => doc_from_yaml(inline_name(opaque), opaque),
        "http" | "https" => Err(ConfigError::new(
            "",
            format!(
                "scheme {} is not supported by ferrocol for uri {}",
                go_quote(scheme),
                go_quote(uri)
            ),
        )),
        _ => Err(ConfigError::new(
            "",
            format!("unsupported scheme on URI {}", go_quote(uri)),
        )),
    }
}

/// A readable source name for inline YAML: the text itself when short and on one line,
/// otherwise its first line, shortened.
fn inline_name(opaque: &str) -> String {
    let first = opaque.lines().next().unwrap_or("");
    if first.len() == opaque.len() && opaque.chars().count() <= 80 {
        return format!("yaml:{opaque}");
    }
    let short: String = first.chars().take(60).collect();
    format!("yaml:{short}...")
}

/// Go's `^[A-z]:` check (the range deliberately includes `[\]^_` and backtick, as in Go).
fn is_drive_letter(uri: &str) -> bool {
    let b = uri.as_bytes();
    b.len() >= 2 && (b'A'..=b'z').contains(&b[0]) && b[1] == b':'
}

/// Splits `scheme:opaque` when the scheme matches `[A-Za-z][A-Za-z0-9+.-]+`.
pub(crate) fn parse_location(uri: &str) -> Option<(&str, &str)> {
    let (scheme, opaque) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    (scheme.len() >= 2 && first_ok && rest_ok).then_some((scheme, opaque))
}

/// Quotes like Go's `%q` for the ASCII texts that appear in config error messages.
pub(crate) fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Parses the first YAML document of `text` (like yaml.v3's `Unmarshal`); an empty text is null.
pub(crate) fn parse_yaml(text: &str) -> Result<Value, serde_yaml::Error> {
    let Some(doc) = serde_yaml::Deserializer::from_str(text).next() else {
        return Ok(Value::Null);
    };
    let mut value = Value::deserialize(doc)?;
    value.apply_merge()?;
    Ok(value)
}

/// Builds a source from YAML text: must be a map (null/empty counts as an empty map).
pub(crate) fn doc_from_yaml(name: String, text: &str) -> Result<ConfigSource, ConfigError> {
    let value = match parse_yaml(text) {
        Ok(v) => v,
        Err(e) => {
            return Err(
                ConfigError::new("", format!("cannot parse the YAML: {e}")).with_source(name)
            )
        }
    };
    let doc = match normalize(value, true) {
        Value::Null => Value::Mapping(Mapping::new()),
        m @ Value::Mapping(_) => m,
        other => {
            return Err(ConfigError::new(
                "",
                format!(
                    "retrieved value (type={}) cannot be used as a Conf",
                    go_type_name(&other)
                ),
            )
            .with_source(name))
        }
    };
    Ok(ConfigSource { name, doc })
}

/// The Go type name yaml.v3 would have produced, for error messages.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => "uint64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Sequence(_) => "[]interface {}",
        Value::Mapping(_) => "map[string]interface {}",
        Value::Tagged(t) => go_type_name(&t.value),
    }
}

/// A map key as text (koanf stringifies non-string keys with `%v`).
pub(crate) fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

/// Stringifies map keys and, outside lists, splits keys on `::` into nested maps.
pub(crate) fn normalize(value: Value, unflatten: bool) -> Value {
    match value {
        Value::Mapping(m) => {
            let mut out = Value::Mapping(Mapping::new());
            for (k, v) in m {
                let key = key_string(&k);
                let child = normalize(v, unflatten);
                let parts: Vec<&str> = if unflatten {
                    key.split("::").collect()
                } else {
                    vec![key.as_str()]
                };
                let mut nested = child;
                for part in parts.iter().skip(1).rev() {
                    let mut m = Mapping::new();
                    m.insert(Value::String((*part).to_string()), nested);
                    nested = Value::Mapping(m);
                }
                let mut wrapper = Mapping::new();
                let first = parts.first().copied().unwrap_or("");
                wrapper.insert(Value::String(first.to_string()), nested);
                merge(&mut out, Value::Mapping(wrapper));
            }
            out
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(|v| normalize(v, false)).collect()),
        Value::Tagged(mut t) => {
            t.value = normalize(t.value, unflatten);
            Value::Tagged(t)
        }
        other => other,
    }
}

/// Deep merge: maps merge recursively; a later scalar/list/null replaces (lists are replaced,
/// never concatenated). A later explicit null for a key keeps the key with null value.
pub fn merge(base: &mut Value, overlay: Value) {
    match overlay {
        Value::Mapping(o) => {
            if let Value::Mapping(b) = base {
                for (k, v) in o {
                    match b.get_mut(&k) {
                        Some(bv) => merge(bv, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            } else {
                *base = Value::Mapping(o);
            }
        }
        other => *base = other,
    }
}

/// Retrieves every uri in order, then every `--set`, deep-merges left to right, then expands
/// `${...}` references, collecting all errors in one pass.
pub fn resolve(
    uris: &[String],
    sets: &[String],
    env: &dyn EnvLookup,
) -> Result<Resolved, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    if uris.is_empty() {
        errors.add("", "at least one config flag must be provided");
        return Err(errors);
    }
    let mut warnings = Vec::new();
    let mut sources = Vec::new();
    for uri in uris {
        match retrieve_with_warnings(uri, env, &mut warnings) {
            Ok(src) => sources.push(src),
            Err(e) => errors.push(e),
        }
    }
    for arg in sets {
        match set::set_source(arg) {
            Ok(src) => sources.push(src),
            Err(e) => errors.push(e),
        }
    }
    let mut doc = Value::Mapping(Mapping::new());
    for src in &sources {
        merge(&mut doc, src.doc.clone());
    }
    let mut resolved = Resolved {
        doc: Value::Null,
        sources,
        warnings: Vec::new(),
    };
    if let Err(expand_errors) = expand::expand_document(&mut doc, env, &mut warnings) {
        for mut e in expand_errors.0 {
            if e.source_name.is_none() {
                let path: Vec<&str> = e.key_path.split("::").filter(|k| !k.is_empty()).collect();
                e.source_name = resolved.source_of(&path).map(str::to_string);
            }
            errors.push(e);
        }
    }
    for w in warnings {
        if !resolved.warnings.contains(&w) {
            resolved.warnings.push(w);
        }
    }
    resolved.doc = doc;
    errors.into_result().map(|()| resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn y(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn temp_yaml(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn file_scheme_default_and_explicit() {
        let f = temp_yaml("receivers:\n  otlp:\n    protocols:\n      grpc:\n");
        let path = f.path().to_str().unwrap().to_string();
        let e = env(&[]);
        let a = retrieve(&path, &e).unwrap();
        let b = retrieve(&format!("file:{path}"), &e).unwrap();
        assert_eq!(a.name, path);
        assert_eq!(b.name, path);
        assert_eq!(a.doc, y("receivers: {otlp: {protocols: {grpc: null}}}"));
        assert_eq!(a.doc, b.doc);
    }

    #[test]
    fn empty_file_is_empty_map() {
        let f = temp_yaml("");
        let src = retrieve(f.path().to_str().unwrap(), &env(&[])).unwrap();
        assert_eq!(src.doc, Value::Mapping(Mapping::new()));
        let f = temp_yaml("# only a comment\n");
        let src = retrieve(f.path().to_str().unwrap(), &env(&[])).unwrap();
        assert_eq!(src.doc, Value::Mapping(Mapping::new()));
    }

    #[test]
    fn missing_file_error_text() {
        let err = retrieve("file:/nonexistent/ferrocol.yaml", &env(&[])).unwrap_err();
        assert!(
            err.message
                .starts_with("unable to read the file file:/nonexistent/ferrocol.yaml: "),
            "{err}"
        );
        let err = retrieve("/nonexistent/x.yaml", &env(&[])).unwrap_err();
        assert!(err
            .message
            .starts_with("unable to read the file file:/nonexistent/x.yaml: "));
    }

    #[test]
    fn yaml_syntax_error_has_line_and_source() {
        let f = temp_yaml("receivers:\n  otlp: [\n  bad: x: y\n");
        let path = f.path().to_str().unwrap().to_string();
        let err = retrieve(&path, &env(&[])).unwrap_err();
        assert_eq!(err.source_name.as_deref(), Some(path.as_str()));
        assert!(err.message.contains("line"), "{err}");
        assert!(err.message.contains("column"), "{err}");
        assert!(err.to_string().starts_with(&path));
    }

    #[test]
    fn non_map_document_rejected() {
        let err = retrieve("yaml:[a, b]", &env(&[])).unwrap_err();
        assert_eq!(
            err.message,
            "retrieved value (type=[]interface {}) cannot be used as a Conf"
        );
        assert_eq!(err.source_name.as_deref(), Some("yaml:[a, b]"));
    }

    #[test]
    fn env_scheme_document() {
        let e = env(&[("CFG", "exporters:\n  otlp:\n    endpoint: localhost:4317\n")]);
        let src = retrieve("env:CFG", &e).unwrap();
        assert_eq!(src.name, "env:CFG");
        assert_eq!(
            src.doc,
            y("exporters: {otlp: {endpoint: 'localhost:4317'}}")
        );
        let mut warnings = Vec::new();
        let src = retrieve_with_warnings("env:NOPE", &e, &mut warnings).unwrap();
        assert_eq!(src.doc, Value::Mapping(Mapping::new()));
        assert_eq!(
            warnings,
            vec![r#"Configuration references unset environment variable "NOPE""#]
        );
        let err = retrieve("env:BAD-NAME", &e).unwrap_err();
        assert_eq!(
            err.message,
            r#"environment variable "BAD-NAME" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$"#
        );
    }

    #[test]
    fn yaml_scheme_with_path_separator() {
        let src = retrieve("yaml:exporters::otlp::timeout: 2s", &env(&[])).unwrap();
        assert_eq!(src.name, "yaml:exporters::otlp::timeout: 2s");
        assert_eq!(src.doc, y("exporters: {otlp: {timeout: 2s}}"));
        let src = retrieve("yaml:a::b: 1\na::c: [x]\nd: {e::f: true}", &env(&[])).unwrap();
        assert_eq!(src.doc, y("a: {b: 1, c: [x]}\nd: {e: {f: true}}"));
    }

    #[test]
    fn scheme_errors() {
        let e = env(&[]);
        assert_eq!(
            retrieve("http://example.com/c.yaml", &e)
                .unwrap_err()
                .message,
            r#"scheme "http" is not supported by ferrocol for uri "http://example.com/c.yaml""#
        );
        assert_eq!(
            retrieve("https://example.com/c.yaml", &e)
                .unwrap_err()
                .message,
            r#"scheme "https" is not supported by ferrocol for uri "https://example.com/c.yaml""#
        );
        assert_eq!(
            retrieve("s3://bucket/c.yaml", &e).unwrap_err().message,
            r#"unsupported scheme on URI "s3://bucket/c.yaml""#
        );
        assert_eq!(
            retrieve("./dir:x.yaml", &e).unwrap_err().message,
            r#"invalid uri: "./dir:x.yaml""#
        );
        // Drive letters mean a file.
        let msg = retrieve(r"C:\nonexistent\c.yaml", &e).unwrap_err().message;
        assert!(
            msg.starts_with(r"unable to read the file file:C:\nonexistent\c.yaml: "),
            "{msg}"
        );
    }

    #[test]
    fn merge_maps_deep_lists_replaced_null_kept() {
        let mut base = y("a: {b: 1, c: {d: 2}}\nl: [1, 2]\nm: {x: 1}\ns: str");
        merge(
            &mut base,
            y("a: {c: {e: 3}}\nl: [3]\nm: null\ns: {now: map}\nnew: 4"),
        );
        assert_eq!(
            base,
            y("a: {b: 1, c: {d: 2, e: 3}}\nl: [3]\nm: null\ns: {now: map}\nnew: 4")
        );
        // An empty map merges into an existing map without change.
        let mut base = y("p: {batch: {timeout: 1s}}");
        merge(&mut base, y("p: {batch: {}}"));
        assert_eq!(base, y("p: {batch: {timeout: 1s}}"));
        // Pipeline lists are replaced, not concatenated.
        let mut base = y("service: {pipelines: {traces: {receivers: [otlp, jaeger]}}}");
        merge(
            &mut base,
            y("service: {pipelines: {traces: {receivers: [zipkin]}}}"),
        );
        assert_eq!(
            base,
            y("service: {pipelines: {traces: {receivers: [zipkin]}}}")
        );
    }

    #[test]
    fn resolve_merges_sets_and_expands() {
        let f1 = temp_yaml(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:HOST}:4317\n\
             processors:\n  batch:\n    send_batch_size: 10\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n",
        );
        let f2 = temp_yaml("processors:\n  batch:\n    timeout: 1s\n");
        let e = env(&[("HOST", "0.0.0.0")]);
        let r = resolve(
            &strings(&[f1.path().to_str().unwrap(), f2.path().to_str().unwrap()]),
            &strings(&[
                "processors.batch.send_batch_size=100",
                "service.pipelines.traces.receivers=[a, b]",
            ]),
            &e,
        )
        .unwrap();
        assert_eq!(
            r.doc,
            y(
                "receivers: {otlp: {protocols: {grpc: {endpoint: '0.0.0.0:4317'}}}}\n\
               processors: {batch: {send_batch_size: 100, timeout: 1s}}\n\
               service: {pipelines: {traces: {receivers: [a, b]}}}"
            )
        );
        assert_eq!(r.sources.len(), 4);
        assert_eq!(
            r.sources[2].name,
            "--set processors.batch.send_batch_size=100"
        );
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn resolve_collects_all_errors() {
        let f = temp_yaml("a: ${FOO:-x}\nb: ${env:1}\nc: [ok, '${file:/x}']\n");
        let path = f.path().to_str().unwrap().to_string();
        let err = resolve(
            &strings(&[&path, "file:/nonexistent/z.yaml", "gopher:x"]),
            &strings(&["nokey"]),
            &env(&[]),
        )
        .unwrap_err();
        let msgs: Vec<String> = err.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(err.len(), 6, "{msgs:#?}");
        assert!(msgs[0].starts_with("unable to read the file file:/nonexistent/z.yaml"));
        assert_eq!(msgs[1], r#"unsupported scheme on URI "gopher:x""#);
        assert_eq!(msgs[2], "--set nokey: missing equal sign");
        assert_eq!(
            msgs[3],
            format!(r#"{path}: a: scheme "FOO" is not supported for uri "FOO:-x""#)
        );
        assert_eq!(
            msgs[4],
            format!(
                r#"{path}: b: environment variable "1" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$"#
            )
        );
        assert_eq!(
            msgs[5],
            format!(r#"{path}: c::1: scheme "file" is not supported for uri "file:/x""#)
        );
    }

    #[test]
    fn resolve_requires_a_config() {
        let err = resolve(&[], &strings(&["a=1"]), &env(&[])).unwrap_err();
        assert_eq!(err.to_string(), "at least one config flag must be provided");
    }

    #[test]
    fn resolve_warns_on_unset() {
        let r = resolve(
            &strings(&["yaml:a: ${env:UNSET_ONE}\nb: x${UNSET_ONE}y\nc: ${env:UNSET_TWO}"]),
            &[],
            &env(&[]),
        )
        .unwrap();
        assert_eq!(r.doc, y("a: null\nb: xy\nc: null"));
        assert_eq!(
            r.warnings,
            vec![
                r#"Configuration references unset environment variable "UNSET_ONE""#,
                r#"Configuration references unset environment variable "UNSET_TWO""#,
            ]
        );
    }

    #[test]
    fn source_of_longest_prefix_last_wins() {
        let r = Resolved {
            doc: Value::Null,
            sources: vec![
                ConfigSource {
                    name: "base.yaml".into(),
                    doc: y("receivers: {otlp: {protocols: {grpc: {}}}}\nlist: [{a: 1}]"),
                },
                ConfigSource {
                    name: "override.yaml".into(),
                    doc: y("receivers: {otlp: {}}"),
                },
                ConfigSource {
                    name: "--set x=1".into(),
                    doc: y("receivers: {prometheus: {}}"),
                },
            ],
            warnings: vec![],
        };
        assert_eq!(
            r.source_of(&["receivers", "otlp", "protocols", "grpc"]),
            Some("base.yaml")
        );
        assert_eq!(
            r.source_of(&["receivers", "otlp", "endpoint"]),
            Some("override.yaml")
        );
        assert_eq!(r.source_of(&["receivers", "zipkin"]), Some("--set x=1"));
        assert_eq!(r.source_of(&["list", "0", "a"]), Some("base.yaml"));
        assert_eq!(r.source_of(&["exporters"]), None);
        let single = Resolved {
            doc: Value::Null,
            sources: vec![r.sources[1].clone()],
            warnings: vec![],
        };
        assert_eq!(single.source_of(&["exporters"]), Some("override.yaml"));
    }

    #[test]
    fn process_env_rejects_bad_names() {
        assert_eq!(ProcessEnv.var(""), None);
        assert_eq!(ProcessEnv.var("A=B"), None);
        assert_eq!(ProcessEnv.var("FERROCOL_SURELY_UNSET_VAR_12345"), None);
    }
}
