//! Resources that arrive already encoded. A receiver that builds its data from scratch (the
//! prometheus receiver) can write each resource straight as protobuf, which costs a fraction
//! of building the OTLP structs and encoding them later: no allocation per attribute, no
//! second pass, nothing to free but one buffer. Such a resource travels through the
//! pipeline as these bytes; processors that only count, concatenate and split whole
//! resources never decode it, exporters copy it into the request, and whatever needs the
//! structs (the debug exporter, JSON encoding, a split inside the resource) decodes it then.

use prost::Message;

/// One `ResourceSpans`, `ResourceMetrics` or `ResourceLogs` message body (without its own
/// key and length prefix) and the number of items it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedResource {
    bytes: Vec<u8>,
    items: usize,
}

impl EncodedResource {
    /// `bytes` must be a valid encoding of the signal's resource message holding `items`
    /// items; the producer guarantees both.
    pub fn new(bytes: Vec<u8>, items: usize) -> Self {
        Self { bytes, items }
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The resource as OTLP structs. A producer bug (bytes that do not decode) is logged and
    /// yields `None` rather than taking the process down.
    pub fn decode<R: Message + Default>(&self) -> Option<R> {
        match R::decode(self.bytes.as_slice()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, items = self.items, "an encoded resource does not decode; dropped");
                None
            }
        }
    }
}
