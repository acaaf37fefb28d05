//! Turning a validated config into running async stages: the instance graph (`graph`), the
//! receiver-side fan-out into pipelines (`fanout`), the per-pipeline task running the
//! processor chain (`pipeline_task`), the tail fan-out into exporters (`exporter_input`), and
//! the running topology with its ordered shutdown (`running`).

pub mod build;
pub mod exporter_input;
pub mod fanout;
pub mod graph;
pub mod pipeline_task;
pub mod running;

/// Capacity, in batches, of each pipeline's input channel (receiver -> pipeline boundary).
pub const PIPELINE_INPUT_CAPACITY: usize = 16;

#[cfg(test)]
mod tests;
