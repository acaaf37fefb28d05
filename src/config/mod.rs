//! Reading an otelcol config the way otelcol does: retrieve each `--config` source and the
//! `--set` overlays (`provider`, `set`), deep-merge them, expand `${...}` and unescape `$$`
//! (`expand`), parse the top-level shell (`model`), then decode and validate every component
//! and the pipeline graph (`validate`). Errors name the source, the key path and the reason.

pub mod decode;
pub mod error;
pub mod expand;
pub mod id;
pub mod load;
pub mod model;
pub mod provider;
pub mod set;
pub mod types;
pub mod validate;
