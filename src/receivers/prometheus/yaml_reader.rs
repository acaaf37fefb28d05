//! A strict reader over a YAML map for the Prometheus config, which is decoded the way
//! Prometheus decodes it (its own duration and size syntax, its own defaults) rather than
//! through serde: each getter records the key as known, and `finish` reports unknown keys.
//! Errors are collected, each with its `::` key path.

use std::time::Duration;

use serde_yaml::{Mapping, Value};

/// Collected errors: (key path, message).
pub type Errors = Vec<(String, String)>;

pub struct Obj<'a> {
    map: Option<&'a Mapping>,
    pub path: String,
    known: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    /// Wraps `v` (a map, or null for an empty one); anything else is reported.
    pub fn new(v: &'a Value, path: String, errs: &mut Errors) -> Self {
        let map = match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                errs.push((path.clone(), "expected a map".into()));
                None
            }
        };
        Self {
            map,
            path,
            known: Vec::new(),
        }
    }

    pub fn child_path(&self, key: &str) -> String {
        format!("{}::{key}", self.path)
    }

    /// The raw value of `key` (marks it known); None if absent.
    pub fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.and_then(|m| m.get(key))
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.is_some_and(|m| m.contains_key(key))
    }

    pub fn string(&mut self, key: &'static str, errs: &mut Errors) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => {
                errs.push((self.child_path(key), "expected a string".into()));
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &'static str, errs: &mut Errors) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Null => None,
            other => {
                errs.push((
                    self.child_path(key),
                    format!("expected true or false, got {other:?}"),
                ));
                None
            }
        }
    }

    pub fn uint(&mut self, key: &'static str, errs: &mut Errors) -> Option<u64> {
        match self.get(key)? {
            Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
            Value::Null => None,
            other => {
                errs.push((
                    self.child_path(key),
                    format!("expected a non-negative integer, got {other:?}"),
                ));
                None
            }
        }
    }

    pub fn duration(&mut self, key: &'static str, errs: &mut Errors) -> Option<Duration> {
        let s = self.string(key, errs)?;
        match parse_prom_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                errs.push((self.child_path(key), e));
                None
            }
        }
    }

    pub fn size(&mut self, key: &'static str, errs: &mut Errors) -> Option<u64> {
        let s = self.string(key, errs)?;
        match parse_base2_bytes(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                errs.push((self.child_path(key), e));
                None
            }
        }
    }

    pub fn string_list(&mut self, key: &'static str, errs: &mut Errors) -> Option<Vec<String>> {
        match self.get(key)? {
            Value::Sequence(s) => Some(
                s.iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        Value::Bool(b) => Some(b.to_string()),
                        _ => {
                            errs.push((self.child_path(key), "expected a list of strings".into()));
                            None
                        }
                    })
                    .collect(),
            ),
            Value::Null => None,
            _ => {
                errs.push((self.child_path(key), "expected a list".into()));
                None
            }
        }
    }

    /// Reports keys that no getter asked for.
    pub fn finish(self, errs: &mut Errors) {
        if let Some(m) = self.map {
            for k in m.keys() {
                let name = k.as_str().unwrap_or("");
                if !self.known.contains(&name) {
                    errs.push((
                        self.path.clone(),
                        format!("field {name} not found in type config"),
                    ));
                }
            }
        }
    }
}

/// Prometheus `model.Duration`: `[0-9]+(y|w|d|h|m|s|ms)` units concatenated, largest first;
/// `0` alone is zero.
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let units: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut total_ms: u64 = 0;
    let mut rest = s;
    let mut last_unit = 0usize;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("not a valid duration string: {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let Some(idx) = units.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("not a valid duration string: {s:?}"));
        };
        if idx < last_unit {
            return Err(format!("not a valid duration string: {s:?}"));
        }
        last_unit = idx + 1;
        total_ms = n
            .checked_mul(units[idx].1)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way Prometheus prints `model.Duration` (`1m30s`, `15s`, `500ms`).
pub fn format_prom_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000u64),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// `units.Base2Bytes`: a number with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`
/// (all powers of 1024), or a plain number of bytes.
pub fn parse_base2_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..split]
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match t[split..].trim() {
        "" | "B" => 1,
        "KB" | "KiB" | "K" => 1 << 10,
        "MB" | "MiB" | "M" => 1 << 20,
        "GB" | "GiB" | "G" => 1 << 30,
        "TB" | "TiB" | "T" => 1 << 40,
        u => return Err(format!("invalid size {s:?}: unknown unit {u:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size out of range: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        assert_eq!(
            parse_prom_duration("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_prom_duration("1d").unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_prom_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert!(parse_prom_duration("1.5s").is_err());
        assert!(parse_prom_duration("30s1m").is_err());
        assert!(parse_prom_duration("2notseconds").is_err());
        assert_eq!(format_prom_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_prom_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn base2_sizes() {
        assert_eq!(parse_base2_bytes("20MB").unwrap(), 20 << 20);
        assert_eq!(parse_base2_bytes("1KiB").unwrap(), 1024);
        assert_eq!(parse_base2_bytes("100").unwrap(), 100);
        assert!(parse_base2_bytes("5XB").is_err());
    }
}
