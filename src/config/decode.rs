//! Strict decoding of one component's raw YAML into its typed config, and the `Validate` trait.
//!
//! `null` (the key present with no value) means "all defaults", exactly as otelcol overlays
//! the user map on the factory's default config. Unknown keys fail (structs use
//! `deny_unknown_fields`), and the error names the key path inside the component.

use serde::de::DeserializeOwned;

use super::error::{ConfigError, ConfigErrors};

/// Semantic checks on a decoded config, reporting every problem under `path`.
pub trait Validate {
    fn validate(&self, _path: &str, _errs: &mut ConfigErrors) {}
}

/// Decodes `raw` into `C` (null = `C::default()`), then validates it.
pub fn decode<C>(raw: &serde_yaml::Value, key_path: &str) -> Result<C, ConfigErrors>
where
    C: DeserializeOwned + Default + Validate,
{
    let cfg: C = if raw.is_null() {
        C::default()
    } else {
        serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
            let inner = e.path().to_string();
            let inner = if inner == "." {
                String::new()
            } else {
                inner.replace('.', "::")
            };
            let path = if inner.is_empty() {
                key_path.to_string()
            } else {
                format!("{key_path}::{inner}")
            };
            ConfigErrors::from(ConfigError::new(
                path,
                format!("error decoding configuration: {}", e.inner()),
            ))
        })?
    };
    let mut errs = ConfigErrors::default();
    cfg.validate(key_path, &mut errs);
    errs.into_result().map(|_| cfg)
}

/// Decode-and-validate for factories' `validate`: returns only the errors.
pub fn check<C>(raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors
where
    C: DeserializeOwned + Default + Validate,
{
    decode::<C>(raw, key_path).err().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        size: u32,
    }
    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Outer {
        inner: Inner,
        name: String,
    }
    impl Validate for Outer {
        fn validate(&self, path: &str, errs: &mut ConfigErrors) {
            if self.inner.size > 10 {
                errs.add(format!("{path}::inner::size"), "must be at most 10");
            }
        }
    }

    #[test]
    fn null_is_default_and_unknown_keys_name_the_path() {
        let v: Outer = decode(&serde_yaml::Value::Null, "receivers::x").unwrap();
        assert_eq!(v, Outer::default());
        let raw: serde_yaml::Value = serde_yaml::from_str("inner: {sise: 3}").unwrap();
        let e = decode::<Outer>(&raw, "receivers::x").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("receivers::x::inner"), "{text}");
        assert!(text.contains("unknown field `sise`"), "{text}");
        let raw: serde_yaml::Value = serde_yaml::from_str("inner: {size: 11}").unwrap();
        let e = decode::<Outer>(&raw, "receivers::x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "receivers::x::inner::size: must be at most 10"
        );
    }
}
