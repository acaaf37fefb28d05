//! PLACEHOLDER: replaced by the real component.
use crate::component::factory::*;
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;
pub struct OtlpReceiverFactory;
impl Factory for OtlpReceiverFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }
    fn stability(&self) -> Vec<(Signal, Stability)> {
        vec![]
    }
    fn validate(&self, _raw: &serde_yaml::Value, _p: &str) -> ConfigErrors {
        ConfigErrors::default()
    }
}
impl ReceiverFactory for OtlpReceiverFactory {
    fn build(
        &self,
        _r: &serde_yaml::Value,
        _c: crate::component::context::BuildContext,
        _o: ReceiverOutputs,
    ) -> Result<BuiltComponent, BuildError> {
        Err(BuildError::new("receiver", "otlp", "placeholder"))
    }
}
