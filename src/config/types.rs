//! Value types shared by component configs: Go-style durations (`200ms`, `1m30s`, integers are
//! nanoseconds), and strings that also accept YAML scalars (a whole-value `${env:X}` whose
//! text looks like a number must still fill a string field, as in otelcol).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written the Go way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    pub fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }
    pub fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Parses a Go duration string (`300ms`, `1.5h`, `2h45m`, `-1s` is rejected, `0` is zero).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("time: invalid duration \"\"".into());
    }
    if s.starts_with('-') {
        return Err(format!("time: negative duration {s:?} is not allowed"));
    }
    let s2 = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    let mut rest = s2;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        if num_end == 0 {
            return Err(format!("time: invalid duration {s:?}"));
        }
        let num: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("time: invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("time: unknown unit {u:?} in duration {s:?}")),
        };
        total += num * mult;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        match v {
            serde_yaml::Value::String(s) => parse_go_duration(&s)
                .map(GoDuration)
                .map_err(serde::de::Error::custom),
            serde_yaml::Value::Number(n) => match n.as_u64() {
                Some(ns) => Ok(GoDuration(Duration::from_nanos(ns))),
                None => Err(serde::de::Error::custom(format!(
                    "invalid duration {n}: integers are nanoseconds and must be non-negative"
                ))),
            },
            other => Err(serde::de::Error::custom(format!(
                "expected a duration such as \"5s\", got {}",
                describe(&other)
            ))),
        }
    }
}

fn describe(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a bool",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a map",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// Deserializes a string field that also accepts a number or bool (its YAML text).
pub fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar_text(serde_yaml::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Like `lenient_string` for an optional field (null = None).
pub fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => Ok(None),
        v => scalar_text(v).map(Some).map_err(serde::de::Error::custom),
    }
}

/// A string-to-string map (headers) whose values may be any scalar.
pub fn lenient_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<indexmap::IndexMap<String, String>, D::Error> {
    let m = indexmap::IndexMap::<String, serde_yaml::Value>::deserialize(d)?;
    m.into_iter()
        .map(|(k, v)| scalar_text(v).map(|s| (k, s)))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

fn scalar_text(v: serde_yaml::Value) -> Result<String, String> {
    match v {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Null => Ok(String::new()),
        other => Err(format!("expected a string, got {}", describe(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_go_duration("200ms").unwrap(),
            Duration::from_millis(200)
        );
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5h").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5").unwrap_err().contains("missing unit"));
        assert!(parse_go_duration("5x")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_go_duration("-1s").is_err());
        let d: GoDuration = serde_yaml::from_str("1000000").unwrap();
        assert_eq!(d.0, Duration::from_millis(1));
    }

    #[test]
    fn lenient_strings_take_scalars() {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "lenient_string")]
            a: String,
            #[serde(deserialize_with = "lenient_string_map")]
            h: indexmap::IndexMap<String, String>,
        }
        let s: S = serde_yaml::from_str("a: 123\nh: {k: true, j: x}").unwrap();
        assert_eq!(s.a, "123");
        assert_eq!(s.h["k"], "true");
        assert_eq!(s.h["j"], "x");
    }
}

/// An optional sub-section where presence matters (otelcol's `configoptional`): the key
/// present with a null value means "enabled with defaults", `enabled: false` inside it means
/// disabled, and an absent key means disabled. Use with `#[serde(default, deserialize_with =
/// "optional_section")]` on an `Option<T>` field.
pub fn optional_section<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let v = serde_yaml::Value::deserialize(d)?;
    match v {
        serde_yaml::Value::Null => Ok(Some(T::default())),
        serde_yaml::Value::Mapping(mut m) => {
            let key = serde_yaml::Value::String("enabled".into());
            if let Some(en) = m.remove(&key) {
                match en {
                    serde_yaml::Value::Bool(false) => return Ok(None),
                    serde_yaml::Value::Bool(true) => {}
                    other => {
                        return Err(serde::de::Error::custom(format!(
                            "unexpected type {} for 'enabled': got '{}' value expected 'true' or 'false'",
                            describe(&other),
                            scalar_text(other.clone()).unwrap_or_default()
                        )))
                    }
                }
            }
            if m.is_empty() {
                return Ok(Some(T::default()));
            }
            serde_yaml::from_value(serde_yaml::Value::Mapping(m))
                .map(Some)
                .map_err(serde::de::Error::custom)
        }
        other => Err(serde::de::Error::custom(format!(
            "expected a map or nothing, got {}",
            describe(&other)
        ))),
    }
}

#[cfg(test)]
mod optional_tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        endpoint: String,
    }
    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Outer {
        #[serde(deserialize_with = "optional_section")]
        grpc: Option<Inner>,
        #[serde(deserialize_with = "optional_section")]
        http: Option<Inner>,
    }

    #[test]
    fn presence_decides() {
        let o: Outer = serde_yaml::from_str("grpc:\n").unwrap();
        assert_eq!(o.grpc, Some(Inner::default()));
        assert_eq!(o.http, None);
        let o: Outer = serde_yaml::from_str("grpc: {enabled: false}\nhttp: {endpoint: x}").unwrap();
        assert_eq!(o.grpc, None);
        assert_eq!(o.http.unwrap().endpoint, "x");
        let e = serde_yaml::from_str::<Outer>("grpc: {enabled: 3}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("for 'enabled'"), "{e}");
        assert!(serde_yaml::from_str::<Outer>("grpc: {bogus: 1}").is_err());
    }
}
