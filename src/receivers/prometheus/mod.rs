//! The otelcol `prometheus` receiver (issue 3, in progress). So far: the conversion of one
//! scrape's samples to OTLP (`convert`). The receiver is not registered until its scrape
//! side lands; configs naming it are reported as using a component ferrocol lacks.

pub mod convert;
pub mod promconfig;
pub mod target;
pub mod yaml_reader;
