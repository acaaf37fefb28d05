//! PLACEHOLDER: replaced by the real component.
use crate::component::factory::*;
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;
pub struct HealthCheckFactory;
impl Factory for HealthCheckFactory {
    fn type_name(&self) -> &'static str {
        "health_check"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![]
    }
    fn validate(&self, _raw: &serde_yaml::Value, _p: &str) -> ConfigErrors {
        ConfigErrors::default()
    }
}
impl ExtensionFactory for HealthCheckFactory {
    fn build(
        &self,
        _r: &serde_yaml::Value,
        _c: crate::component::context::BuildContext,
    ) -> Result<BuiltComponent, BuildError> {
        Err(BuildError::new("extension", "x", "placeholder"))
    }
}
