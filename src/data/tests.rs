//! Splitting and counting tests over all three signals.

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;

fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string_kv("service.name", name)],
        ..Default::default()
    })
}

fn point(v: i64) -> NumberDataPoint {
    NumberDataPoint {
        value: Some(number_data_point::Value::AsInt(v)),
        ..Default::default()
    }
}

/// Two resources; the first has a gauge of 3 points and a sum of 2, the second a gauge of 4.
fn metrics() -> Batch<Metrics> {
    let gauge = |name: &str, vals: &[i64]| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vals.iter().map(|v| point(*v)).collect(),
        })),
        ..Default::default()
    };
    let sum = Metric {
        name: "s".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point(10), point(11)],
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    Batch::new(vec![
        ResourceMetrics {
            resource: resource("a"),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "scope".into(),
                    ..Default::default()
                }),
                metrics: vec![gauge("g", &[1, 2, 3]), sum],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        },
        ResourceMetrics {
            resource: resource("b"),
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![gauge("h", &[4, 5, 6, 7])],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        },
    ])
}

fn values(b: &Batch<Metrics>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for r in b.resources().iter() {
        for s in &r.scope_metrics {
            for m in &s.metrics {
                let pts = match &m.data {
                    Some(metric::Data::Gauge(g)) => &g.data_points,
                    Some(metric::Data::Sum(s)) => &s.data_points,
                    _ => continue,
                };
                for p in pts {
                    if let Some(number_data_point::Value::AsInt(v)) = p.value {
                        out.push((m.name.clone(), v));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn counts_metric_points() {
    assert_eq!(metrics().items(), 9);
}

#[test]
fn splits_metrics_at_point_granularity_preserving_order() {
    let mut b = metrics();
    let all = values(&b);
    let first = b.split_front(2);
    assert_eq!(first.items(), 2);
    assert_eq!(b.items(), 7);
    let second = b.split_front(4);
    assert_eq!(second.items(), 4);
    // The sum keeps its temporality and monotonicity after a split.
    let s = second.resources()[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == "s")
        .and_then(|m| m.data.clone());
    assert!(matches!(
        s,
        Some(metric::Data::Sum(Sum {
            aggregation_temporality: 2,
            is_monotonic: true,
            ..
        }))
    ));
    // Headers are cloned: the split-off part keeps resource and scope.
    assert_eq!(first.resources()[0].resource, resource("a"));
    assert_eq!(
        first.resources()[0].scope_metrics[0]
            .scope
            .as_ref()
            .map(|s| s.name.as_str()),
        Some("scope")
    );
    let rest = b.split_front(100);
    assert!(b.is_empty());
    let mut joined = values(&first);
    joined.extend(values(&second));
    joined.extend(values(&rest));
    assert_eq!(joined, all);
    // Recount matches the cached counts.
    let mut r = rest.clone();
    r.recount();
    assert_eq!(r.items(), rest.items());
}

#[test]
fn splits_spans_and_logs() {
    let spans: Vec<Span> = (0..5)
        .map(|i| Span {
            name: format!("s{i}"),
            ..Default::default()
        })
        .collect();
    let mut t = Batch::<Traces>::new(vec![ResourceSpans {
        resource: resource("t"),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }]);
    let head = t.split_front(3);
    assert_eq!((head.items(), t.items()), (3, 2));
    assert_eq!(t.resources()[0].scope_spans[0].spans[0].name, "s3");
    let logs: Vec<LogRecord> = (0..4)
        .map(|i| LogRecord {
            severity_text: format!("l{i}"),
            ..Default::default()
        })
        .collect();
    let mut l = Batch::<Logs>::new(vec![ResourceLogs {
        resource: resource("l"),
        scope_logs: vec![ScopeLogs {
            scope: None,
            log_records: logs,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }]);
    let head = l.split_front(1);
    assert_eq!(
        head.resources()[0].scope_logs[0].log_records[0].severity_text,
        "l0"
    );
    assert_eq!(l.items(), 3);
}

#[test]
fn request_round_trip() {
    let b = metrics();
    let req = b.to_request();
    let back = Batch::<Metrics>::from_request(req);
    assert_eq!(back, b);
}

#[test]
fn encode_request_writes_what_the_request_message_encodes() {
    use prost::Message;
    let m = metrics();
    let mut direct = Vec::new();
    m.encode_request(&mut direct);
    assert!(!direct.is_empty());
    assert_eq!(direct, m.to_request().encode_to_vec());
    let empty = Batch::<Logs>::new(Vec::new());
    let mut none = Vec::new();
    empty.encode_request(&mut none);
    assert!(none.is_empty());
}

/// The resources of `metrics()`, the first kept as structs and the rest encoded.
fn mixed() -> Batch<Metrics> {
    use prost::Message;
    let mut all = metrics().into_resources();
    let encoded: Vec<EncodedResource> = all
        .split_off(1)
        .iter()
        .map(|r| EncodedResource::new(r.encode_to_vec(), Metrics::count(r)))
        .collect();
    let mut b = Batch::new(all);
    b.append(Batch::from_encoded(encoded));
    b
}

#[test]
fn encoded_resources_count_decode_and_encode_like_structs() {
    use prost::Message;
    let m = mixed();
    assert_eq!(m.items(), 9);
    assert!(m.has_resources());
    assert_eq!(m.resources().into_owned(), metrics().into_resources());
    assert_eq!(m, metrics());
    assert_eq!(m.encoded_len(), metrics().encoded_len());
    let mut direct = Vec::new();
    m.encode_request(&mut direct);
    assert_eq!(direct, metrics().to_request().encode_to_vec());
    let empty = Batch::<Metrics>::from_encoded(vec![EncodedResource::new(Vec::new(), 0)]);
    assert!(empty.has_resources() && empty.is_empty());
    // Recounting takes encoded resources at their stated count, without decoding them.
    let mut only = Batch::<Metrics>::from_encoded(vec![EncodedResource::new(Vec::new(), 3)]);
    only.recount();
    assert_eq!(only.items(), 3);
    // Mutable access decodes in place and keeps the count.
    let mut d = mixed();
    assert_eq!(d.resources_mut().len(), 2);
    d.recount();
    assert_eq!(d.items(), 9);
}

#[test]
fn splits_across_and_inside_encoded_resources() {
    let all = values(&metrics());
    // 5 points as structs, then 4 encoded: cut inside the structs, exactly at the boundary,
    // and inside the encoded resource.
    for cuts in [[2, 3, 100], [5, 2, 100], [6, 1, 100], [9, 1, 1]] {
        let mut b = mixed();
        let mut joined = Vec::new();
        for n in cuts {
            let expect = n.min(b.items());
            let part = b.split_front(n);
            assert_eq!(part.items(), expect, "cuts {cuts:?}");
            assert_eq!(values(&part).len(), expect, "cuts {cuts:?}");
            let mut counted = part.clone();
            counted.recount();
            assert_eq!(counted.items(), part.items(), "cuts {cuts:?}");
            joined.extend(values(&part));
        }
        assert!(b.is_empty() && !b.has_resources(), "cuts {cuts:?}");
        assert_eq!(joined, all, "cuts {cuts:?}");
    }
}

#[test]
fn an_undecodable_resource_is_dropped_and_uncounted() {
    let mut b = Batch::<Metrics>::from_encoded(vec![EncodedResource::new(vec![0xff, 0xff], 3)]);
    assert!(b.resources().is_empty());
    assert!(b.resources_mut().is_empty());
    assert_eq!(b.items(), 0);
}
