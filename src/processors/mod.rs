//! Processors: synchronous stages run inside a pipeline's task.

pub mod batch;
pub mod memory_limiter;
