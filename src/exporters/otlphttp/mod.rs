//! PLACEHOLDER: replaced by the real component.
use crate::component::factory::*;
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;
pub struct OtlpHttpExporterFactory;
impl Factory for OtlpHttpExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlp_http"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![]
    }
    fn validate(&self, _raw: &serde_yaml::Value, _p: &str) -> ConfigErrors {
        ConfigErrors::default()
    }
}
impl ExporterFactory for OtlpHttpExporterFactory {
    fn build(
        &self,
        _r: &serde_yaml::Value,
        _c: &crate::component::context::BuildContext,
        _s: Signal,
    ) -> Result<(AnyExporter, HelperSettings), BuildError> {
        Err(BuildError::new("exporter", "x", "placeholder"))
    }
}
