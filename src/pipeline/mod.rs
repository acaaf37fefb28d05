//! Turning a validated config into running async stages: the instance graph (`graph`), the
//! receiver-side fan-out into pipelines (`fanout`), the per-pipeline task running the
//! processor chain (`pipeline_task`), the tail fan-out into exporters (`exporter_input`),
//! per-instance building (`build`), what a reload changes (`diff`), sockets kept across
//! reloads (`listeners`), and the running topology that applies a config and shuts down in
//! order (`running`).

pub mod build;
pub mod diff;
pub mod exporter_input;
pub mod fanout;
pub mod graph;
pub mod listeners;
pub mod pipeline_task;
pub mod running;

/// Capacity, in batches, of each pipeline's input channel (receiver -> pipeline boundary).
pub const PIPELINE_INPUT_CAPACITY: usize = 16;

#[cfg(test)]
mod tests;
