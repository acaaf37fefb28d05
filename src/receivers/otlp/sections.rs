//! Serde helpers for otelcol-style config sections that decode *in place*, so that
//! `serde_path_to_error` keeps full key paths in errors (`protocols::grpc::keepalive` rather
//! than `protocols`): optional sections with `configoptional` semantics, and null-tolerant
//! fields.
//!
//! `optional_section` here behaves like `crate::config::types::optional_section` (which
//! re-parses the section from a `serde_yaml::Value` and so loses the inner path); it could
//! replace that helper crate-wide.

use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::config::types::lenient_string_map;

/// Deserializes `T`, treating an explicit null as `T::default()` (decoded in place, so error
/// paths stay complete).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string map that may be written as null.
pub fn null_or_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, String>, D::Error> {
    let v = serde_yaml::Value::deserialize(d)?;
    if v.is_null() {
        return Ok(IndexMap::new());
    }
    lenient_string_map(v).map_err(serde::de::Error::custom)
}

/// An optional section where null means absent (tls, cors, keepalive), but which otherwise
/// follows `optional_section` (`enabled: false` disables it).
pub fn optional_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    d.deserialize_any(SectionVisitor::<T> {
        null_is_default: false,
        marker: PhantomData,
    })
}

/// otelcol's `configoptional` semantics (the same as `config::types::optional_section`): key
/// present with null = enabled with defaults, `enabled: false` = disabled. Unlike that helper it
/// decodes the section in place, so errors keep their full key path (`protocols::grpc` rather
/// than `protocols`) under `serde_path_to_error`.
pub fn optional_section<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    d.deserialize_any(SectionVisitor::<T> {
        null_is_default: true,
        marker: PhantomData,
    })
}

struct SectionVisitor<T> {
    null_is_default: bool,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for SectionVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map or nothing")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(self.null_is_default.then(T::default))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        let mut enabled = true;
        let filtered = WithoutEnabled {
            inner: map,
            enabled: &mut enabled,
        };
        let t = T::deserialize(serde::de::value::MapAccessDeserializer::new(filtered))?;
        Ok(enabled.then_some(t))
    }
}

/// A map minus its `enabled` key, whose bool value is recorded.
struct WithoutEnabled<'a, A> {
    inner: A,
    enabled: &'a mut bool,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutEnabled<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key::<String>()? else {
                return Ok(None);
            };
            if key != "enabled" {
                let de: serde::de::value::StringDeserializer<A::Error> = key.into_deserializer();
                return seed.deserialize(de).map(Some);
            }
            match self.inner.next_value::<serde_yaml::Value>()? {
                serde_yaml::Value::Bool(b) => *self.enabled = b,
                other => {
                    let (kind, text) = match &other {
                        serde_yaml::Value::Number(n) => ("a number", n.to_string()),
                        serde_yaml::Value::String(s) => ("a string", s.clone()),
                        serde_yaml::Value::Null => ("null", String::new()),
                        _ => ("a collection", String::new()),
                    };
                    return Err(serde::de::Error::custom(format!(
                        "unexpected type {kind} for 'enabled': got '{text}' value expected 'true' or 'false'"
                    )));
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}
