//! `${...}` expansion and `$$` unescaping, mirroring otelcol's `confmap` resolver
//! (`core:confmap/expand.go`, `resolver.go`, `provider/envprovider`).
//!
//! Every string value (keys are never expanded) is expanded in rounds, at most 1000:
//!
//! * A round finds the first `}`, then the last `${` before it. If that `${` is preceded by an
//!   odd number of `$` it is escaped and the **whole string** is left alone for this round
//!   (as in otelcol, a later reference in the same string is then not expanded either). If no
//!   `${` precedes the `}`, the search restarts after it. This makes nested references
//!   (`${env:${X}}`) resolve inside-out.
//! * A reference without `:` uses the default scheme `env`. `scheme:opaque` needs a scheme
//!   matching `[A-Za-z][A-Za-z0-9+.-]+`; only `env` is supported here. A `$` in the opaque part
//!   is rejected. `env:NAME:-default` uses the default only when NAME is unset.
//! * When the reference is the whole value, the variable text is parsed as YAML and the typed
//!   value substituted (the verbatim text if it is not valid YAML or is a YAML string, which
//!   is what otelcol decodes into string fields); an unset variable gives null. Otherwise the
//!   verbatim text replaces every occurrence of the reference in the string.
//! * After expansion, every `$$` in every string (expanded text included) becomes `$`.
//!   A bare `$VAR` is never expanded.

use serde_yaml::Value;

use super::error::{join_path, ConfigError, ConfigErrors};
use super::provider::{go_quote, key_string, normalize, parse_location, parse_yaml, EnvLookup};

/// otelcol's recursion limit.
const MAX_ROUNDS: usize = 1000;
/// Guard against self-referencing variables that double in size every round.
const MAX_EXPANDED_LEN: usize = 16 << 20;

/// What the env provider returned for `NAME[:-default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvResult {
    /// Unset and no default (a warning has been recorded).
    Unset,
    /// The variable's value (possibly empty) or the default.
    Text(String),
}

/// The env provider: splits at the first `:-`, validates the name, looks the variable up.
pub(crate) fn lookup_env(
    opaque: &str,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<EnvResult, String> {
    let (name, default) = match opaque.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (opaque, None),
    };
    if !valid_env_name(name) {
        return Err(format!(
            "environment variable {} has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$",
            go_quote(name)
        ));
    }
    match (env.var(name), default) {
        (Some(v), _) => Ok(EnvResult::Text(v)),
        (None, Some(d)) => Ok(EnvResult::Text(d.to_string())),
        (None, None) => {
            let w = format!(
                "Configuration references unset environment variable {}",
                go_quote(name)
            );
            if !warnings.contains(&w) {
                warnings.push(w);
            }
            Ok(EnvResult::Unset)
        }
    }
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Expands every string value of `doc` in place, then unescapes `$$`. All errors are
/// collected (at most one per string value), each with its `::`-joined key path.
pub fn expand_document(
    doc: &mut Value,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut path = Vec::new();
    walk(doc, &mut path, env, warnings, &mut errors);
    errors.into_result()
}

fn walk(
    v: &mut Value,
    path: &mut Vec<String>,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
    errors: &mut ConfigErrors,
) {
    match v {
        Value::String(s) => {
            if !may_contain_uri(s) {
                *s = unescape(s);
                return;
            }
            match expand_leaf(Value::String(s.clone()), path, env, warnings) {
                Ok(mut expanded) => {
                    unescape_tree(&mut expanded);
                    *v = expanded;
                }
                Err(e) => errors.push(e),
            }
        }
        Value::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, path, env, warnings, errors);
                path.pop();
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                path.push(key_string(k));
                walk(item, path, env, warnings, errors);
                path.pop();
            }
        }
        Value::Tagged(t) => walk(&mut t.value, path, env, warnings, errors),
        _ => {}
    }
}

fn may_contain_uri(s: &str) -> bool {
    s.contains("${") && s.contains('}')
}

fn join(path: &[String]) -> String {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    join_path(&parts)
}

/// Runs expansion rounds on one value until nothing changes.
fn expand_leaf(
    mut value: Value,
    path: &[String],
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    for _ in 0..MAX_ROUNDS {
        let mut round_path = path.to_vec();
        let changed = expand_round(&mut value, &mut round_path, env, warnings)?;
        if !changed {
            return Ok(value);
        }
    }
    Err(ConfigError::new(
        join(path),
        "too many recursive expansions",
    ))
}

/// One round over a (possibly already expanded, structured) value. Returns whether it changed.
fn expand_round(
    v: &mut Value,
    path: &mut Vec<String>,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<bool, ConfigError> {
    match v {
        Value::String(s) => {
            if !may_contain_uri(s) {
                return Ok(false);
            }
            match find_and_expand(s, env, warnings) {
                Ok(Some(new)) => {
                    *v = new;
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(msg) => Err(ConfigError::new(join(path), msg)),
            }
        }
        Value::Sequence(seq) => {
            let mut changed = false;
            for (i, item) in seq.iter_mut().enumerate() {
                path.push(i.to_string());
                changed |= expand_round(item, path, env, warnings)?;
                path.pop();
            }
            Ok(changed)
        }
        Value::Mapping(m) => {
            let mut changed = false;
            for (k, item) in m.iter_mut() {
                path.push(key_string(k));
                changed |= expand_round(item, path, env, warnings)?;
                path.pop();
            }
            Ok(changed)
        }
        Value::Tagged(t) => expand_round(&mut t.value, path, env, warnings),
        _ => Ok(false),
    }
}

/// otelcol's `findURI`: byte range of the first expandable `${...}`, or None.
fn find_uri(input: &str) -> Option<(usize, usize)> {
    let mut base = 0;
    loop {
        let rest = input.get(base..)?;
        let close = rest.find('}')?;
        let head = &rest[..=close];
        match head.rfind("${") {
            Some(open) => {
                let dollars = head[..open]
                    .bytes()
                    .rev()
                    .take_while(|&b| b == b'$')
                    .count();
                if dollars % 2 == 1 {
                    return None;
                }
                return Some((base + open, base + close + 1));
            }
            None => {
                base += close + 1;
                if !input.get(base..).is_some_and(|r| r.contains('}')) {
                    return None;
                }
            }
        }
    }
}

/// Expands the first reference found in `input`; None when there is nothing to expand.
fn find_and_expand(
    input: &str,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<Option<Value>, String> {
    let Some((start, end)) = find_uri(input) else {
        return Ok(None);
    };
    let uri = &input[start..end];
    let result = expand_uri(uri, env, warnings)?;
    if uri.len() == input.len() {
        // Whole value: typed.
        return Ok(Some(match result {
            EnvResult::Unset => Value::Null,
            EnvResult::Text(t) if t.is_empty() => Value::String(String::new()),
            EnvResult::Text(t) => match parse_yaml(&t) {
                // A YAML string can only go to a string field, where otelcol uses the
                // original text (quotes, comments and surrounding spaces kept).
                Ok(Value::String(_)) | Err(_) => Value::String(t),
                Ok(v) => normalize(v, false),
            },
        }));
    }
    let text = match result {
        EnvResult::Unset => String::new(),
        EnvResult::Text(t) => t,
    };
    let out = input.replace(uri, &text);
    if out.len() > MAX_EXPANDED_LEN {
        return Err(format!(
            "expanding {uri}: expanded value is larger than {MAX_EXPANDED_LEN} bytes"
        ));
    }
    Ok(Some(Value::String(out)))
}

/// otelcol's `expandURI` + provider dispatch for one `${...}` (braces included).
fn expand_uri(
    uri: &str,
    env: &dyn EnvLookup,
    warnings: &mut Vec<String>,
) -> Result<EnvResult, String> {
    let inner = uri.get(2..uri.len().saturating_sub(1)).unwrap_or_default();
    let full = if inner.contains(':') {
        inner.to_string()
    } else {
        format!("env:{inner}")
    };
    let (scheme, opaque) =
        parse_location(&full).ok_or_else(|| format!("invalid uri: {}", go_quote(&full)))?;
    let location = format!("{scheme}:{opaque}");
    if opaque.contains('$') {
        return Err(format!(
            "the uri {} contains unsupported characters ('$')",
            go_quote(&location)
        ));
    }
    if scheme != "env" {
        return Err(format!(
            "scheme {} is not supported for uri {}",
            go_quote(scheme),
            go_quote(&location)
        ));
    }
    lookup_env(opaque, env, warnings)
}

/// Every `$$` becomes `$` (non-overlapping, left to right).
fn unescape(s: &str) -> String {
    s.replace("$$", "$")
}

fn unescape_tree(v: &mut Value) {
    match v {
        Value::String(s) => *s = unescape(s),
        Value::Sequence(seq) => seq.iter_mut().for_each(unescape_tree),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, item)| unescape_tree(item)),
        Value::Tagged(t) => unescape_tree(&mut t.value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const INVALID_1: &str =
        r#"environment variable "1" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$"#;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn y(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    /// Expands `{v: <input>}` and returns v.
    fn expand_one(input: &str, e: &HashMap<String, String>) -> Result<Value, ConfigErrors> {
        let mut doc = Value::Mapping(Default::default());
        if let Value::Mapping(m) = &mut doc {
            m.insert(Value::String("v".into()), Value::String(input.into()));
        }
        expand_document(&mut doc, e, &mut Vec::new())?;
        Ok(doc["v"].clone())
    }

    fn s(input: &str, e: &HashMap<String, String>) -> String {
        match expand_one(input, e) {
            Ok(Value::String(s)) => s,
            other => panic!("{input:?} gave {other:?}"),
        }
    }

    fn err(input: &str, e: &HashMap<String, String>) -> String {
        match expand_one(input, e) {
            Err(errs) => {
                assert_eq!(errs.len(), 1);
                assert_eq!(errs.0[0].key_path, "v");
                errs.0[0].message.clone()
            }
            Ok(v) => panic!("{input:?} expanded to {v:?}"),
        }
    }

    /// Checks `written => expected` lines (expected `ERR: msg` for an error).
    fn check_table(table: &str, e: &HashMap<String, String>) {
        for line in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (written, want) = line.split_once(" => ").unwrap();
            match want.strip_prefix("ERR: ") {
                Some(msg) => assert_eq!(err(written, e), msg, "written: {written}"),
                None => assert_eq!(s(written, e), want, "written: {written}"),
            }
        }
    }

    #[test]
    fn spec_2_6_escaping_table() {
        let table = r#"
            $$ENV_VALUE => $ENV_VALUE
            $$$$ENV_VALUE => $$ENV_VALUE
            $$${ENV_VALUE} => $v
            some$${ENV_VALUE}text => some${ENV_VALUE}text
            $${1}$${env:2} => ${1}${env:2}
            text$$ => text$
            $$ => $
            $ENV_VALUE => $ENV_VALUE
        "#;
        check_table(table, &env(&[("ENV_VALUE", "v")]));
    }

    #[test]
    fn spec_2_6_escaped_default_follows_otelcol_algorithm() {
        // The spec table lists `${env:UNDEFINED}` for this row, but otelcol's findURI sees the
        // inner `${` preceded by one `$`, treats it as escaped and expands nothing, so the only
        // change is the final `$$` -> `$` (see the report / module docs).
        let e = env(&[]);
        assert_eq!(
            s("${env:UNDEFINED:-$${env:UNDEFINED}}", &e),
            "${env:UNDEFINED:-${env:UNDEFINED}}"
        );
    }

    #[test]
    fn spec_2_6_escaping_applies_to_expanded_text() {
        let table = r#"
            ${env:NESTED} => here is 1 $
            ${env:NESTED_ESCAPED} => here are 2 $$
            x ${env:NESTED} => x here is 1 $
            ${env:EXPAND_NESTED} => v came from nested expansion
        "#;
        let e = env(&[
            ("NESTED", "here is 1 $$"),
            ("NESTED_ESCAPED", "here are 2 $$$"),
            ("ENV_VALUE", "v"),
            (
                "EXPAND_NESTED",
                "${env:ENV_VALUE} came from nested expansion",
            ),
            (
                "LIST",
                "['$$ESCAPE_ME','$${ESCAPE_ME}','$${env:ESCAPE_ME}']",
            ),
            ("MAP", "{'key1':'$$ESCAPE_ME','key2':'$${ESCAPE_ME}'}"),
        ]);
        check_table(table, &e);
        let list = expand_one("${env:LIST}", &e).unwrap();
        assert_eq!(
            list,
            y("['$ESCAPE_ME', '${ESCAPE_ME}', '${env:ESCAPE_ME}']")
        );
        let map = expand_one("${env:MAP}", &e).unwrap();
        assert_eq!(map, y("{key1: '$ESCAPE_ME', key2: '${ESCAPE_ME}'}"));
    }

    #[test]
    fn otelcol_escaped_env_e2e_rows() {
        // core:confmap/internal/e2e/testdata/expand-escaped-env.yaml with default scheme env.
        let table = r#"
            some${ENV_VALUE}text => somevtext
            $${ONE}$${TWO} => ${ONE}${TWO}
            some$${env:ENV_VALUE}text => some${env:ENV_VALUE}text
            $${env:${ENV_VALUE}} => ${env:v}
            $${env:$${ENV_VALUE}} => ${env:${ENV_VALUE}}
            env:MAP_VALUE_2}$${ENV_VALUE}{ => env:MAP_VALUE_2}${ENV_VALUE}{
            $$${env:ENV_VALUE} => $v
        "#;
        check_table(table, &env(&[("ENV_VALUE", "v")]));
    }

    #[test]
    fn spec_2_8_prometheus_replacements() {
        let table = r#"
            $1 => $1
            $$1 => $1
            ${1} => ERR: environment variable "1" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$
            $${1} => ${1}
            $$1:$$2 => $1:$2
            __param_$$1 => __param_$1
            ${env:K8S_NODE_NAME} => node-1
            spec.nodeName=${env:K8S_NODE_NAME} => spec.nodeName=node-1
        "#;
        check_table(table, &env(&[("K8S_NODE_NAME", "node-1")]));
    }

    #[test]
    fn error_path_in_prometheus_config() {
        let mut doc = y(r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: a
          relabel_configs:
            - replacement: $$1
            - replacement: ${1}
"#);
        let errs = expand_document(&mut doc, &env(&[]), &mut Vec::new()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs.0[0].key_path,
            "receivers::prometheus::config::scrape_configs::0::relabel_configs::1::replacement"
        );
        assert_eq!(errs.0[0].message, INVALID_1);
    }

    #[test]
    fn default_scheme_and_defaults() {
        let table = r#"
            ${A} => a
            ${env:A} => a
            ${env:A:-d} => a
            ${env:UNSET:-d} => d
            x${env:EMPTY:-d}y => xy
            ${env:UNSET:-a:-b} => a:-b
            ${env:UNSET:-http://h:1} => http://h:1
        "#;
        let e = env(&[("A", "a"), ("EMPTY", "")]);
        check_table(table, &e);
        // Empty default and set-but-empty both give "" (the default is only for unset).
        assert_eq!(s("${env:UNSET:-}", &e), "");
        assert_eq!(s("${env:EMPTY:-d}", &e), "");
        let typed = expand_one("${env:UNSET:-8080}", &e).unwrap();
        assert_eq!(typed, Value::Number(8080.into()));
    }

    #[test]
    fn typed_whole_value() {
        let vars = [
            ("PORT", "8080"),
            ("T", "true"),
            ("F", "1.5"),
            ("L", "[a, b]"),
            ("M", "{a: 1}"),
        ];
        let mut e = env(&vars);
        e.insert("BAD".into(), "[invalid,".into());
        e.insert("ZERO".into(), "0123".into());
        e.insert("Q".into(), "'quoted' # not a comment ".into());
        assert_eq!(
            expand_one("${env:PORT}", &e).unwrap(),
            Value::Number(8080.into())
        );
        assert_eq!(expand_one("${env:T}", &e).unwrap(), Value::Bool(true));
        assert_eq!(expand_one("${env:F}", &e).unwrap(), y("1.5"));
        assert_eq!(expand_one("${env:L}", &e).unwrap(), y("[a, b]"));
        assert_eq!(expand_one("${env:M}", &e).unwrap(), y("{a: 1}"));
        // Not valid YAML, or not a YAML 1.2 number: the verbatim string.
        assert_eq!(expand_one("${env:BAD}", &e).unwrap(), y("'[invalid,'"));
        assert_eq!(expand_one("${env:ZERO}", &e).unwrap(), y("'0123'"));
        let q = expand_one("${env:Q}", &e).unwrap();
        assert_eq!(q, Value::String("'quoted' # not a comment ".into()));
        // Inline stays text.
        assert_eq!(s("port ${env:PORT}", &e), "port 8080");
        assert_eq!(s("${env:T}-${env:L}", &e), "true-[a, b]");
        // SigNoz-style `tls: {insecure: ${env:INSECURE}}`.
        let mut doc = y("tls: {insecure: '${env:T}'}\nendpoint: 'http://${env:T}:4318'");
        expand_document(&mut doc, &e, &mut Vec::new()).unwrap();
        assert_eq!(
            doc,
            y("tls: {insecure: true}\nendpoint: 'http://true:4318'")
        );
    }

    #[test]
    fn unset_and_empty() {
        let e = env(&[("EMPTY", "")]);
        let mut warnings = Vec::new();
        let mut doc = y("a: ${env:UNSET}\nb: 'x${UNSET}y'\nc: ${env:EMPTY}\nd: ${env:UNSET}");
        expand_document(&mut doc, &e, &mut warnings).unwrap();
        assert_eq!(doc, y("a: null\nb: xy\nc: ''\nd: null"));
        assert_eq!(
            warnings,
            vec![r#"Configuration references unset environment variable "UNSET""#]
        );
    }

    #[test]
    fn error_texts() {
        let table = r#"
            ${FOO:-x} => ERR: scheme "FOO" is not supported for uri "FOO:-x"
            ${env:bad-name} => ERR: environment variable "bad-name" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$
            ${} => ERR: environment variable "" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$
            ${env:$X} => ERR: the uri "env:$X" contains unsupported characters ('$')
            ${env:A:-$$} => ERR: the uri "env:A:-$$" contains unsupported characters ('$')
            ${file:/x} => ERR: scheme "file" is not supported for uri "file:/x"
            a ${yaml:b: c} d => ERR: scheme "yaml" is not supported for uri "yaml:b: c"
            ${https://h/x.yaml} => ERR: scheme "https" is not supported for uri "https://h/x.yaml"
            ${g_c_s:VALUE} => ERR: invalid uri: "g_c_s:VALUE"
        "#;
        check_table(table, &env(&[("X", "v")]));
    }

    #[test]
    fn nested_and_recursive() {
        let e = env(&[
            ("X", "A"),
            ("A", "inner"),
            ("B", "${env:C}"),
            ("C", "${env:D}"),
            ("D", "42"),
            ("LOOP", "${env:LOOP}"),
            ("GROW", "x${env:GROW}"),
            ("DOUBLE", "${env:DOUBLE}${env:DOUBLE}"),
        ]);
        assert_eq!(s("${env:${X}}", &e), "inner");
        assert_eq!(s("pre-${env:${env:X}}-post", &e), "pre-inner-post");
        assert_eq!(
            expand_one("${env:B}", &e).unwrap(),
            Value::Number(42.into())
        );
        assert_eq!(s("n=${env:B}", &e), "n=42");
        assert_eq!(err("${env:LOOP}", &e), "too many recursive expansions");
        assert_eq!(err("${env:GROW}", &e), "too many recursive expansions");
        assert!(err("${env:DOUBLE}", &e).contains("larger than"));
    }

    #[test]
    fn otelcol_partial_matches() {
        // core:confmap/expand_test.go TestResolverExpandStringValues (env provider only).
        let table = r#"
            ${env:HOST}:${env:PORT} => localhost:3044
            test_${env:PORT}_test_${env:PORT} => test_3044_test_3044
            env:HOST} => env:HOST}
            ${HOST => ${HOST
            HO{ST} => HO{ST}
            ${env:HOST${env:PORT?os=${env:OS => ${env:HOST${env:PORT?os=${env:OS
            env:HOST}${env:PORT => env:HOST}${env:PORT
            env:HOST}${env:PORT} => env:HOST}3044
            ${env:HOST}env:PORT} => localhostenv:PORT}
            ${env:HOST${env:PORT} => ${env:HOST3044
            ${env:HOST}}}}}}${env:PORT?os=${env:OS} => localhost}}}}}${env:PORT?os=ubuntu
            ${env:HOST}${${${${${env:PORT}?os=${env:OS} => localhost${${${${3044?os=ubuntu
            env:HOST}${env:PORT}?os=env:OS}&pr=${env:PR} => env:HOST}3044?os=env:OS}&pr=amd
        "#;
        let vars = [
            ("HOST", "localhost"),
            ("PORT", "3044"),
            ("OS", "ubuntu"),
            ("PR", "amd"),
        ];
        check_table(table, &env(&vars));
    }

    #[test]
    fn keys_are_not_expanded_and_non_strings_untouched() {
        let e = env(&[("A", "a")]);
        let mut doc = y("'${env:A}': '$$x'\nn: 5\nb: true\nl: ['${env:A}', 1]");
        expand_document(&mut doc, &e, &mut Vec::new()).unwrap();
        assert_eq!(doc, y("'${env:A}': '$x'\nn: 5\nb: true\nl: [a, 1]"));
    }

    #[test]
    fn collects_multiple_errors_with_paths() {
        let e = env(&[]);
        let mut doc = y(
            "exporters:\n  otlp:\n    endpoint: ${FOO:-x}\n    headers: {a: '${env:1}'}\nlist: [ok, '${file:/f}', '${env:$x}']",
        );
        let errs = expand_document(&mut doc, &e, &mut Vec::new()).unwrap_err();
        let got: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                r#"exporters::otlp::endpoint: scheme "FOO" is not supported for uri "FOO:-x""#
                    .to_string(),
                format!("exporters::otlp::headers::a: {INVALID_1}"),
                r#"list::1: scheme "file" is not supported for uri "file:/f""#.to_string(),
                r#"list::2: the uri "env:$x" contains unsupported characters ('$')"#.to_string(),
            ]
        );
    }

    #[test]
    fn error_inside_expanded_structure_has_inner_path() {
        let e = env(&[("M", "{inner: [ok, '${env:bad-x}']}")]);
        let mut doc = y("a: ${env:M}");
        let errs = expand_document(&mut doc, &e, &mut Vec::new()).unwrap_err();
        assert_eq!(errs.0[0].key_path, "a::inner::1");
    }
}
