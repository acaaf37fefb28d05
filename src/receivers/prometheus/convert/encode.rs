//! Writes one scrape's converted metrics as an encoded `ResourceMetrics` (see
//! `crate::data::EncodedResource`). The data point structs are built without attributes;
//! each point's attributes are the series' pre-encoded field entries, appended after the
//! point's other fields (protobuf readers accept fields in any order). Lengths are computed
//! once per metric before writing, so nothing is encoded twice.

use bytes::BufMut;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::message;
use prost::Message;

use super::series::EncodedAttrs;
use crate::data::wire::{
    delimited_len, open, string_kv_len, string_len, write_string, write_string_kv, write_varint,
};
use crate::data::EncodedResource;

/// `AggregationTemporality::Cumulative`.
const CUMULATIVE: u64 = 2;

/// The points of one metric, each with its encoded attributes.
pub(super) enum DataOut {
    Gauge(Vec<(EncodedAttrs, NumberDataPoint)>),
    Sum {
        monotonic: bool,
        points: Vec<(EncodedAttrs, NumberDataPoint)>,
    },
    Histogram(Vec<(EncodedAttrs, HistogramDataPoint)>),
    Summary(Vec<(EncodedAttrs, SummaryDataPoint)>),
}

impl DataOut {
    pub(super) fn point_count(&self) -> usize {
        match self {
            DataOut::Gauge(p) | DataOut::Sum { points: p, .. } => p.len(),
            DataOut::Histogram(p) => p.len(),
            DataOut::Summary(p) => p.len(),
        }
    }

    /// The `Metric.data` field number of this kind of container.
    fn tag(&self) -> u32 {
        match self {
            DataOut::Gauge(_) => 5,
            DataOut::Sum { .. } => 7,
            DataOut::Histogram(_) => 9,
            DataOut::Summary(_) => 11,
        }
    }

    /// The body length of the container message.
    fn len(&self) -> usize {
        // Key and one-byte value of a varint field below 16.
        const SMALL_VARINT: usize = 2;
        match self {
            DataOut::Gauge(p) => points_len(p),
            DataOut::Sum { monotonic, points } => {
                points_len(points) + SMALL_VARINT + if *monotonic { SMALL_VARINT } else { 0 }
            }
            DataOut::Histogram(p) => points_len(p) + SMALL_VARINT,
            DataOut::Summary(p) => points_len(p),
        }
    }

    fn write(&self, buf: &mut impl BufMut) {
        match self {
            DataOut::Gauge(p) => write_points(p, buf),
            DataOut::Sum { monotonic, points } => {
                write_points(points, buf);
                write_varint(2, CUMULATIVE, buf);
                if *monotonic {
                    write_varint(3, 1, buf);
                }
            }
            DataOut::Histogram(p) => {
                write_points(p, buf);
                write_varint(2, CUMULATIVE, buf);
            }
            DataOut::Summary(p) => write_points(p, buf),
        }
    }
}

/// One OTLP metric of a scrape.
pub(super) struct MetricOut {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// The `prometheus.type` metadata value.
    pub prom_type: &'static str,
    pub data: DataOut,
}

impl MetricOut {
    /// Body length of the `Metric` message and of its data container.
    fn lens(&self) -> (usize, usize) {
        let data = self.data.len();
        let len = string_len(1, &self.name)
            + string_len(2, &self.description)
            + string_len(3, &self.unit)
            + delimited_len(self.data.tag(), data)
            + string_kv_len(12, "prometheus.type", self.prom_type);
        (len, data)
    }

    fn write(&self, data_len: usize, buf: &mut impl BufMut) {
        write_string(1, &self.name, buf);
        write_string(2, &self.description, buf);
        write_string(3, &self.unit, buf);
        open(self.data.tag(), data_len, buf);
        self.data.write(buf);
        write_string_kv(12, "prometheus.type", self.prom_type, buf);
    }
}

/// The metrics of one scope.
pub(super) struct ScopeOut {
    pub scope: InstrumentationScope,
    pub schema_url: String,
    pub metrics: Vec<MetricOut>,
}

fn points_len<P: Message>(points: &[(EncodedAttrs, P)]) -> usize {
    points
        .iter()
        .map(|(a, p)| delimited_len(1, p.encoded_len() + a.as_bytes().len()))
        .sum()
}

fn write_points<P: Message>(points: &[(EncodedAttrs, P)], buf: &mut impl BufMut) {
    for (a, p) in points {
        open(1, p.encoded_len() + a.as_bytes().len(), buf);
        p.encode_raw(buf);
        buf.put_slice(a.as_bytes());
    }
}

/// Encodes `ResourceMetrics { resource, scope_metrics: scopes }`.
pub(super) fn encode_resource(resource: &Resource, scopes: &[ScopeOut]) -> EncodedResource {
    let metric_lens: Vec<Vec<(usize, usize)>> = scopes
        .iter()
        .map(|s| s.metrics.iter().map(MetricOut::lens).collect())
        .collect();
    let scope_lens: Vec<usize> = scopes
        .iter()
        .zip(&metric_lens)
        .map(|(s, lens)| {
            message::encoded_len(1, &s.scope)
                + lens
                    .iter()
                    .map(|(l, _)| delimited_len(2, *l))
                    .sum::<usize>()
                + string_len(3, &s.schema_url)
        })
        .collect();
    let len = message::encoded_len(1, resource)
        + scope_lens
            .iter()
            .map(|l| delimited_len(2, *l))
            .sum::<usize>();
    let mut buf = Vec::with_capacity(len);
    message::encode(1, resource, &mut buf);
    for ((s, lens), scope_len) in scopes.iter().zip(&metric_lens).zip(&scope_lens) {
        open(2, *scope_len, &mut buf);
        message::encode(1, &s.scope, &mut buf);
        for (m, (len, data_len)) in s.metrics.iter().zip(lens) {
            open(2, *len, &mut buf);
            m.write(*data_len, &mut buf);
        }
        write_string(3, &s.schema_url, &mut buf);
    }
    debug_assert_eq!(buf.len(), len, "precomputed length");
    let items = scopes
        .iter()
        .flat_map(|s| &s.metrics)
        .map(|m| m.data.point_count())
        .sum();
    EncodedResource::new(buf, items)
}
