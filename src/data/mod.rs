//! The data that flows through pipelines: `Batch<S>` over the OTLP protobuf types of one
//! signal, with a cached item count (spans, metric data points or log records) and
//! item-granular splitting, which the batch processor and the telemetry both need.
//!
//! `S` is a marker type (`Traces`, `Metrics`, `Logs`) so that the type system keeps signals
//! apart; matching on `Signal` happens only at the graph edges. A batch may also carry
//! resources that their receiver already encoded (`EncodedResource`); they are decoded only
//! where the structs are needed.

mod encode_metrics;
mod encoded;
mod split;
pub(crate) mod wire;

use std::borrow::Cow;

pub use encoded::EncodedResource;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::component::Signal;

/// A string attribute, the only kind the collector builds itself.
pub fn string_kv(key: &str, value: &str) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

/// Ties a marker type to its OTLP resource type, request/response messages and item counting.
pub trait SignalData: Send + Sync + 'static {
    /// `ResourceSpans`, `ResourceMetrics` or `ResourceLogs`.
    type Resource: prost::Message
        + Clone
        + Default
        + PartialEq
        + std::fmt::Debug
        + Send
        + Sync
        + 'static;
    /// The OTLP export request message.
    type Request: prost::Message
        + Default
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Send
        + 'static;
    /// The OTLP export response message.
    type Response: prost::Message + Default + serde::Serialize + Send + 'static;

    const SIGNAL: Signal;

    /// Items (spans / data points / log records) in one resource.
    fn count(resource: &Self::Resource) -> usize;
    fn into_request(resources: Vec<Self::Resource>) -> Self::Request;
    fn from_request(request: Self::Request) -> Vec<Self::Resource>;
    /// Moves up to `n` items from the front of `resource` into a new resource with the same
    /// resource and scope headers. Returns the new resource and how many items it holds.
    fn take_front(resource: &mut Self::Resource, n: usize) -> (Self::Resource, usize);
    /// Writes the export request holding `resources` (protobuf). The three requests hold
    /// their resources as repeated field 1 and nothing else.
    fn encode_request(resources: &[Self::Resource], buf: &mut impl bytes::BufMut) {
        for r in resources {
            prost::encoding::message::encode(1, r, buf);
        }
    }
    /// The `rejected_*` count of a partial-success response, if any.
    fn rejected(response: &Self::Response) -> Option<(i64, String)>;
}

/// Marker for traces.
#[derive(Debug, Clone, Copy)]
pub struct Traces;
/// Marker for metrics.
#[derive(Debug, Clone, Copy)]
pub struct Metrics;
/// Marker for logs.
#[derive(Debug, Clone, Copy)]
pub struct Logs;

impl SignalData for Traces {
    type Resource = ResourceSpans;
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    const SIGNAL: Signal = Signal::Traces;

    fn count(r: &ResourceSpans) -> usize {
        r.scope_spans.iter().map(|s| s.spans.len()).sum()
    }
    fn into_request(resources: Vec<ResourceSpans>) -> Self::Request {
        ExportTraceServiceRequest {
            resource_spans: resources,
        }
    }
    fn from_request(request: Self::Request) -> Vec<ResourceSpans> {
        request.resource_spans
    }
    fn take_front(r: &mut ResourceSpans, n: usize) -> (ResourceSpans, usize) {
        split::take_spans(r, n)
    }
    fn rejected(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .filter(|p| p.rejected_spans != 0 || !p.error_message.is_empty())
            .map(|p| (p.rejected_spans, p.error_message.clone()))
    }
}

impl SignalData for Metrics {
    type Resource = ResourceMetrics;
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    const SIGNAL: Signal = Signal::Metrics;

    fn count(r: &ResourceMetrics) -> usize {
        r.scope_metrics
            .iter()
            .flat_map(|s| s.metrics.iter())
            .map(|m| data_point_count(m.data.as_ref()))
            .sum()
    }
    fn into_request(resources: Vec<ResourceMetrics>) -> Self::Request {
        ExportMetricsServiceRequest {
            resource_metrics: resources,
        }
    }
    fn from_request(request: Self::Request) -> Vec<ResourceMetrics> {
        request.resource_metrics
    }
    fn take_front(r: &mut ResourceMetrics, n: usize) -> (ResourceMetrics, usize) {
        split::take_metric_points(r, n)
    }
    fn encode_request(resources: &[ResourceMetrics], buf: &mut impl bytes::BufMut) {
        encode_metrics::encode_request(resources, buf);
    }
    fn rejected(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .filter(|p| p.rejected_data_points != 0 || !p.error_message.is_empty())
            .map(|p| (p.rejected_data_points, p.error_message.clone()))
    }
}

impl SignalData for Logs {
    type Resource = ResourceLogs;
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    const SIGNAL: Signal = Signal::Logs;

    fn count(r: &ResourceLogs) -> usize {
        r.scope_logs.iter().map(|s| s.log_records.len()).sum()
    }
    fn into_request(resources: Vec<ResourceLogs>) -> Self::Request {
        ExportLogsServiceRequest {
            resource_logs: resources,
        }
    }
    fn from_request(request: Self::Request) -> Vec<ResourceLogs> {
        request.resource_logs
    }
    fn take_front(r: &mut ResourceLogs, n: usize) -> (ResourceLogs, usize) {
        split::take_log_records(r, n)
    }
    fn rejected(resp: &Self::Response) -> Option<(i64, String)> {
        resp.partial_success
            .as_ref()
            .filter(|p| p.rejected_log_records != 0 || !p.error_message.is_empty())
            .map(|p| (p.rejected_log_records, p.error_message.clone()))
    }
}

/// Number of data points in a metric's data (0 for a metric without data).
pub fn data_point_count(data: Option<&metric::Data>) -> usize {
    match data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// A batch of one signal's data plus its cached item count.
#[derive(Debug)]
pub struct Batch<S: SignalData> {
    resources: Vec<S::Resource>,
    /// Resources still encoded. They count, split and encode after `resources`; appending
    /// keeps each kind's order but not the order between the kinds (OTLP gives the order of
    /// resources in a request no meaning).
    encoded: Vec<EncodedResource>,
    items: usize,
}

impl<S: SignalData> Clone for Batch<S> {
    fn clone(&self) -> Self {
        Self {
            resources: self.resources.clone(),
            encoded: self.encoded.clone(),
            items: self.items,
        }
    }
}

impl<S: SignalData> PartialEq for Batch<S> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items && self.resources() == other.resources()
    }
}

impl<S: SignalData> Default for Batch<S> {
    fn default() -> Self {
        Self {
            resources: Vec::new(),
            encoded: Vec::new(),
            items: 0,
        }
    }
}

impl<S: SignalData> Batch<S> {
    pub fn new(resources: Vec<S::Resource>) -> Self {
        let items = resources.iter().map(S::count).sum();
        Self {
            resources,
            encoded: Vec::new(),
            items,
        }
    }

    /// A batch of resources their producer already encoded.
    pub fn from_encoded(encoded: Vec<EncodedResource>) -> Self {
        let items = encoded.iter().map(EncodedResource::items).sum();
        Self {
            resources: Vec::new(),
            encoded,
            items,
        }
    }

    pub fn from_request(request: S::Request) -> Self {
        Self::new(S::from_request(request))
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Whether the batch holds any resource (possibly without items).
    pub fn has_resources(&self) -> bool {
        !self.resources.is_empty() || !self.encoded.is_empty()
    }

    /// The resources as OTLP structs; encoded ones are decoded into a copy (use sparingly:
    /// debug output, JSON, tests).
    pub fn resources(&self) -> Cow<'_, [S::Resource]> {
        if self.encoded.is_empty() {
            return Cow::Borrowed(&self.resources);
        }
        let mut all = self.resources.clone();
        all.extend(
            self.encoded
                .iter()
                .filter_map(EncodedResource::decode::<S::Resource>),
        );
        Cow::Owned(all)
    }

    /// Mutable access for processors (decodes encoded resources first); the item count is
    /// recomputed by `recount`.
    pub fn resources_mut(&mut self) -> &mut Vec<S::Resource> {
        self.decode_all();
        &mut self.resources
    }

    /// Recomputes the cached item count after in-place mutation.
    pub fn recount(&mut self) {
        self.items = self.resources.iter().map(S::count).sum::<usize>()
            + self
                .encoded
                .iter()
                .map(EncodedResource::items)
                .sum::<usize>();
    }

    pub fn into_resources(mut self) -> Vec<S::Resource> {
        self.decode_all();
        self.resources
    }

    fn decode_all(&mut self) {
        for e in std::mem::take(&mut self.encoded) {
            self.push_decoded(e);
        }
    }

    /// Appends an encoded resource's structs; one that does not decode is uncounted.
    fn push_decoded(&mut self, e: EncodedResource) {
        match e.decode::<S::Resource>() {
            Some(r) => self.resources.push(r),
            None => self.items -= e.items(),
        }
    }

    /// The protobuf size of the resources (without their prefixes in a request).
    pub fn encoded_len(&self) -> usize {
        self.resources
            .iter()
            .map(prost::Message::encoded_len)
            .sum::<usize>()
            + self.encoded.iter().map(|e| e.bytes().len()).sum::<usize>()
    }

    /// Encodes the batch as its signal's export request (protobuf) without copying it: the
    /// three OTLP export requests hold their resources as repeated field 1 and nothing else,
    /// so this writes exactly what encoding `to_request()` would.
    pub fn encode_request(&self, buf: &mut impl bytes::BufMut) {
        S::encode_request(&self.resources, buf);
        for e in &self.encoded {
            wire::open(1, e.bytes().len(), buf);
            buf.put_slice(e.bytes());
        }
    }

    pub fn to_request(&self) -> S::Request {
        S::into_request(self.resources().into_owned())
    }

    pub fn into_request(self) -> S::Request {
        S::into_request(self.into_resources())
    }

    /// Appends another batch (moves its resources).
    pub fn append(&mut self, other: Batch<S>) {
        self.items += other.items;
        self.resources.extend(other.resources);
        self.encoded.extend(other.encoded);
    }

    /// Removes and returns the first `n` items (at item granularity, keeping resource and
    /// scope headers on both sides). If `n >= items`, takes everything.
    pub fn split_front(&mut self, n: usize) -> Batch<S> {
        if n >= self.items {
            return std::mem::take(self);
        }
        let mut taken = Vec::new();
        let mut remaining = n;
        let whole = whole_prefix(self.resources.iter().map(S::count), &mut remaining);
        taken.extend(self.resources.drain(..whole));
        let mut taken_encoded = Vec::new();
        if remaining > 0 && self.resources.is_empty() {
            let whole = whole_prefix(self.encoded.iter().map(|e| e.items()), &mut remaining);
            taken_encoded.extend(self.encoded.drain(..whole));
            // The cut falls inside an encoded resource: split its structs.
            if remaining > 0 && !self.encoded.is_empty() {
                let e = self.encoded.remove(0);
                self.push_decoded(e);
            }
        }
        if remaining > 0 {
            if let Some(first) = self.resources.first_mut() {
                let (part, _) = S::take_front(first, remaining);
                taken.push(part);
            }
        }
        self.items -= n;
        Batch {
            resources: taken,
            encoded: taken_encoded,
            items: n,
        }
    }
}

/// How many leading entries of `counts` fit whole into `remaining` (which is reduced by them).
fn whole_prefix(counts: impl Iterator<Item = usize>, remaining: &mut usize) -> usize {
    let mut whole = 0;
    for c in counts {
        if c > *remaining {
            break;
        }
        *remaining -= c;
        whole += 1;
    }
    whole
}

#[cfg(test)]
mod tests;
