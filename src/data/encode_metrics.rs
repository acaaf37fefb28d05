//! Protobuf encoding of a metrics export request that computes every nested length once.
//! prost writes each nested message as length + body and computes the length of a message
//! again at every level above it, so a data point's size is computed five times on its way
//! into a request (resource, scope, metric, container, point). Here one pass records the
//! lengths of scopes, metrics, containers and points in visiting order and a second pass
//! writes them; the bytes are exactly prost's (field order by tag, proto3 defaults skipped,
//! oneof messages always written), which the tests check against prost itself.

use bytes::BufMut;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use prost::encoding::{encoded_len_varint, key_len, message};
use prost::Message;

use super::wire::{delimited_len, string_len, write_string, write_varint};

/// Writes `ExportMetricsServiceRequest { resource_metrics: resources }`.
pub fn encode_request(resources: &[ResourceMetrics], buf: &mut impl BufMut) {
    let mut lens = Vec::new();
    for r in resources {
        lens.clear();
        resource_len(r, &mut lens);
        let mut at = 0;
        write_resource(r, &lens, &mut at, buf);
    }
}

/// Reserves a slot for a message's length, lets `body` add its children, fills it in and
/// returns the length with the message's own key and length prefix.
fn measured(tag: u32, lens: &mut Vec<usize>, body: impl FnOnce(&mut Vec<usize>) -> usize) -> usize {
    let slot = lens.len();
    lens.push(0);
    let len = body(lens);
    lens[slot] = len;
    delimited_len(tag, len)
}

fn resource_len(r: &ResourceMetrics, lens: &mut Vec<usize>) -> usize {
    measured(1, lens, |lens| {
        r.resource
            .as_ref()
            .map_or(0, |res| message::encoded_len(1, res))
            + r.scope_metrics
                .iter()
                .map(|s| scope_len(s, lens))
                .sum::<usize>()
            + string_len(3, &r.schema_url)
    })
}

fn scope_len(s: &ScopeMetrics, lens: &mut Vec<usize>) -> usize {
    measured(2, lens, |lens| {
        s.scope
            .as_ref()
            .map_or(0, |scope| message::encoded_len(1, scope))
            + s.metrics.iter().map(|m| metric_len(m, lens)).sum::<usize>()
            + string_len(3, &s.schema_url)
    })
}

fn points_len<P: Message>(points: &[P], lens: &mut Vec<usize>) -> usize {
    points
        .iter()
        .map(|p| {
            let len = p.encoded_len();
            lens.push(len);
            delimited_len(1, len)
        })
        .sum()
}

fn temporality_len(t: i32) -> usize {
    if t == 0 {
        0
    } else {
        key_len(2) + encoded_len_varint(i64::from(t) as u64)
    }
}

fn metric_len(m: &Metric, lens: &mut Vec<usize>) -> usize {
    measured(2, lens, |lens| {
        let data = match &m.data {
            None => 0,
            Some(metric::Data::Gauge(g)) => measured(5, lens, |l| points_len(&g.data_points, l)),
            Some(metric::Data::Sum(s)) => measured(7, lens, |l| {
                points_len(&s.data_points, l)
                    + temporality_len(s.aggregation_temporality)
                    + if s.is_monotonic { key_len(3) + 1 } else { 0 }
            }),
            Some(metric::Data::Histogram(h)) => measured(9, lens, |l| {
                points_len(&h.data_points, l) + temporality_len(h.aggregation_temporality)
            }),
            Some(metric::Data::ExponentialHistogram(h)) => measured(10, lens, |l| {
                points_len(&h.data_points, l) + temporality_len(h.aggregation_temporality)
            }),
            Some(metric::Data::Summary(s)) => measured(11, lens, |l| points_len(&s.data_points, l)),
        };
        string_len(1, &m.name)
            + string_len(2, &m.description)
            + string_len(3, &m.unit)
            + data
            + message::encoded_len_repeated(12, &m.metadata)
    })
}

fn open(tag: u32, lens: &[usize], at: &mut usize, buf: &mut impl BufMut) {
    super::wire::open(tag, lens.get(*at).copied().unwrap_or(0), buf);
    *at += 1;
}

fn write_resource(r: &ResourceMetrics, lens: &[usize], at: &mut usize, buf: &mut impl BufMut) {
    open(1, lens, at, buf);
    if let Some(res) = &r.resource {
        message::encode(1, res, buf);
    }
    for s in &r.scope_metrics {
        open(2, lens, at, buf);
        if let Some(scope) = &s.scope {
            message::encode(1, scope, buf);
        }
        for m in &s.metrics {
            write_metric(m, lens, at, buf);
        }
        write_string(3, &s.schema_url, buf);
    }
    write_string(3, &r.schema_url, buf);
}

fn write_points<P: Message>(points: &[P], lens: &[usize], at: &mut usize, buf: &mut impl BufMut) {
    for p in points {
        open(1, lens, at, buf);
        p.encode_raw(buf);
    }
}

fn write_temporality(t: i32, buf: &mut impl BufMut) {
    if t != 0 {
        write_varint(2, i64::from(t) as u64, buf);
    }
}

fn write_metric(m: &Metric, lens: &[usize], at: &mut usize, buf: &mut impl BufMut) {
    open(2, lens, at, buf);
    write_string(1, &m.name, buf);
    write_string(2, &m.description, buf);
    write_string(3, &m.unit, buf);
    match &m.data {
        None => {}
        Some(metric::Data::Gauge(g)) => {
            open(5, lens, at, buf);
            write_points(&g.data_points, lens, at, buf);
        }
        Some(metric::Data::Sum(s)) => {
            open(7, lens, at, buf);
            write_points(&s.data_points, lens, at, buf);
            write_temporality(s.aggregation_temporality, buf);
            if s.is_monotonic {
                write_varint(3, 1, buf);
            }
        }
        Some(metric::Data::Histogram(h)) => {
            open(9, lens, at, buf);
            write_points(&h.data_points, lens, at, buf);
            write_temporality(h.aggregation_temporality, buf);
        }
        Some(metric::Data::ExponentialHistogram(h)) => {
            open(10, lens, at, buf);
            write_points(&h.data_points, lens, at, buf);
            write_temporality(h.aggregation_temporality, buf);
        }
        Some(metric::Data::Summary(s)) => {
            open(11, lens, at, buf);
            write_points(&s.data_points, lens, at, buf);
        }
    }
    message::encode_repeated(12, &m.metadata, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::string_kv as kv;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
    use opentelemetry_proto::tonic::metrics::v1::{
        exponential_histogram_data_point::Buckets, number_data_point, summary_data_point,
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
        NumberDataPoint, Sum, Summary, SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn number(v: f64, attrs: usize) -> NumberDataPoint {
        NumberDataPoint {
            attributes: (0..attrs)
                .map(|i| kv(&format!("k{i}"), &"v".repeat(i * 40)))
                .collect(),
            time_unix_nano: 1_700_000_000_000_000_000,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        }
    }

    fn sample() -> Vec<ResourceMetrics> {
        let metrics = vec![
            Metric {
                name: "g".into(),
                description: "a gauge".into(),
                unit: "By".into(),
                metadata: vec![kv("prometheus.type", "gauge")],
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: (0..130)
                        .map(|i| number(f64::from(i), i as usize % 5))
                        .collect(),
                })),
            },
            Metric {
                name: "s".into(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: vec![number(1.0, 2), NumberDataPoint::default()],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "empty-sum".into(),
                data: Some(metric::Data::Sum(Sum::default())),
                ..Default::default()
            },
            Metric {
                name: "h".into(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: vec![kv("a", "b")],
                        count: 3,
                        sum: Some(2.5),
                        bucket_counts: vec![1, 2, 0],
                        explicit_bounds: vec![0.1, 1.0],
                        flags: 1,
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                })),
                ..Default::default()
            },
            Metric {
                name: "e".into(),
                data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        scale: -2,
                        positive: Some(Buckets {
                            offset: -3,
                            bucket_counts: vec![4, 5],
                        }),
                        ..Default::default()
                    }],
                    aggregation_temporality: 1,
                })),
                ..Default::default()
            },
            Metric {
                name: "q".into(),
                data: Some(metric::Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        count: 4,
                        sum: 1.5,
                        quantile_values: vec![summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 0.2,
                        }],
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
            Metric {
                name: "no-data".into(),
                ..Default::default()
            },
        ];
        vec![
            ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "svc")],
                    ..Default::default()
                }),
                scope_metrics: vec![
                    ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: "lib".into(),
                            version: "1".into(),
                            ..Default::default()
                        }),
                        metrics,
                        schema_url: "https://schema".into(),
                    },
                    ScopeMetrics::default(),
                ],
                schema_url: "https://r".into(),
            },
            ResourceMetrics::default(),
        ]
    }

    #[test]
    fn bytes_equal_prost_encoding() {
        let resources = sample();
        let mut ours = Vec::new();
        encode_request(&resources, &mut ours);
        let theirs = ExportMetricsServiceRequest {
            resource_metrics: resources,
        }
        .encode_to_vec();
        assert!(ours.len() > 1000, "non-trivial: {}", ours.len());
        assert_eq!(ours, theirs);
        let mut none = Vec::new();
        encode_request(&[], &mut none);
        assert!(none.is_empty());
    }
}
