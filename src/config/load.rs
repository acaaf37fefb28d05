//! Loading a config end to end: resolve sources, parse the shell, validate against the
//! registry; every error is tagged with the source it most likely came from.

use super::error::ConfigErrors;
use super::model::Config;
use super::provider::{resolve, EnvLookup};
use super::validate::{validate, UnsupportedMode, Validated};
use crate::component::registry::Registry;

/// What `--config`, `--set` and `--unsupported-components` asked for.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub uris: Vec<String>,
    pub sets: Vec<String>,
    pub unsupported: UnsupportedMode,
}

/// A loaded, validated config plus the warnings collected on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub validated: Validated,
    /// The resolved (merged and expanded) document, kept for diffing on reload.
    pub doc: serde_yaml::Value,
    pub warnings: Vec<String>,
}

/// Resolves, parses and validates; all problems of one pass are returned together.
pub fn load(
    opts: &LoadOptions,
    env: &dyn EnvLookup,
    registry: &Registry,
) -> Result<Loaded, ConfigErrors> {
    let resolved = resolve(&opts.uris, &opts.sets, env)?;
    let tag = |mut errs: ConfigErrors| {
        for e in &mut errs.0 {
            if e.source_name.is_none() {
                let keys: Vec<&str> = e.key_path.split("::").filter(|k| !k.is_empty()).collect();
                if let Some(s) = resolved.source_of(&keys) {
                    e.source_name = Some(s.to_string());
                }
            }
        }
        errs
    };
    let cfg = Config::from_value(&resolved.doc).map_err(tag)?;
    let validated = validate(cfg, registry, opts.unsupported).map_err(tag)?;
    let mut warnings = resolved.warnings.clone();
    warnings.extend(validated.warnings.iter().cloned());
    Ok(Loaded {
        validated,
        doc: resolved.doc,
        warnings,
    })
}
