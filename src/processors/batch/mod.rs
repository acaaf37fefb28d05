//! PLACEHOLDER: replaced by the real component.
use crate::component::factory::*;
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;
pub struct BatchProcessorFactory;
impl Factory for BatchProcessorFactory {
    fn type_name(&self) -> &'static str {
        "batch"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![]
    }
    fn validate(&self, _raw: &serde_yaml::Value, _p: &str) -> ConfigErrors {
        ConfigErrors::default()
    }
}
impl ProcessorFactory for BatchProcessorFactory {
    fn build(
        &self,
        _r: &serde_yaml::Value,
        _c: &crate::component::context::BuildContext,
        _s: Signal,
    ) -> Result<AnyProcessor, BuildError> {
        Err(BuildError::new("processor", "x", "placeholder"))
    }
}
