//! Batch processor tests: size and max-size triggers, the timer, flush, zero timeout, content
//! and order preservation across splits for all three signals, telemetry and config.

use crate::data::string_kv as kv;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::component::factory::Processor;
use crate::component::Kind;
use crate::data::{Batch, Logs, Metrics, SignalData, Traces};
use crate::telemetry::metrics::MetricsRegistry;

fn cfg(yaml: &str) -> BatchConfig {
    let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    decode::<BatchConfig>(&raw, "processors::batch").unwrap()
}

fn batcher<S: SignalData>(yaml: &str) -> (Batcher<S>, std::sync::Arc<MetricsRegistry>) {
    let reg = MetricsRegistry::new();
    (Batcher::<S>::new(&cfg(yaml), &reg, "batch/test"), reg)
}

fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", name)],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..Default::default()
    })
}

fn res_name(r: &Option<Resource>) -> String {
    match r.as_ref().and_then(|r| r.attributes.first()) {
        Some(KeyValue {
            value:
                Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s)),
                }),
            ..
        }) => s.clone(),
        _ => String::from("?"),
    }
}

/// Layout: per resource, per scope, the number of items. Items are numbered globally.
type Layout<'a> = &'a [(&'a str, &'a [(&'a str, usize)])];

fn spans(layout: Layout<'_>) -> Batch<Traces> {
    let mut n = 0;
    let rs = layout
        .iter()
        .map(|(r, scopes)| ResourceSpans {
            resource: resource(r),
            scope_spans: scopes
                .iter()
                .map(|(s, count)| ScopeSpans {
                    scope: scope(s),
                    spans: (0..*count)
                        .map(|_| {
                            n += 1;
                            Span {
                                name: format!("span-{n}"),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    schema_url: format!("schema/{s}"),
                })
                .collect(),
            schema_url: format!("schema/{r}"),
        })
        .collect();
    Batch::new(rs)
}

fn logs(layout: Layout<'_>) -> Batch<Logs> {
    logs_from(0, layout)
}

/// Like `logs`, numbering records from `first + 1`.
fn logs_from(first: usize, layout: Layout<'_>) -> Batch<Logs> {
    let mut n = first;
    let rs = layout
        .iter()
        .map(|(r, scopes)| ResourceLogs {
            resource: resource(r),
            scope_logs: scopes
                .iter()
                .map(|(s, count)| ScopeLogs {
                    scope: scope(s),
                    log_records: (0..*count)
                        .map(|_| {
                            n += 1;
                            LogRecord {
                                body: Some(AnyValue {
                                    value: Some(any_value::Value::StringValue(format!("log-{n}"))),
                                }),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect();
    Batch::new(rs)
}

fn number_points(start: &mut u32, count: usize) -> Vec<NumberDataPoint> {
    (0..count)
        .map(|_| {
            *start += 1;
            NumberDataPoint {
                value: Some(number_data_point::Value::AsDouble(f64::from(*start))),
                ..Default::default()
            }
        })
        .collect()
}

/// Metrics layout: per resource, per scope, per metric (kind, data point count).
type MetricLayout<'a> = &'a [(&'a str, &'a [(&'a str, &'a [(char, usize)])])];

fn metrics(layout: MetricLayout<'_>) -> Batch<Metrics> {
    let mut n = 0u32;
    let rs = layout
        .iter()
        .map(|(r, scopes)| ResourceMetrics {
            resource: resource(r),
            scope_metrics: scopes
                .iter()
                .map(|(s, ms)| ScopeMetrics {
                    scope: scope(s),
                    metrics: ms
                        .iter()
                        .enumerate()
                        .map(|(i, (kind, count))| {
                            let data = match kind {
                                'g' => metric::Data::Gauge(Gauge {
                                    data_points: number_points(&mut n, *count),
                                }),
                                's' => metric::Data::Sum(Sum {
                                    data_points: number_points(&mut n, *count),
                                    aggregation_temporality: AggregationTemporality::Cumulative
                                        as i32,
                                    is_monotonic: true,
                                }),
                                _ => metric::Data::Histogram(Histogram {
                                    data_points: (0..*count)
                                        .map(|_| {
                                            n += 1;
                                            HistogramDataPoint {
                                                count: u64::from(n),
                                                ..Default::default()
                                            }
                                        })
                                        .collect(),
                                    aggregation_temporality: AggregationTemporality::Delta as i32,
                                }),
                            };
                            Metric {
                                name: format!("{s}.m{i}"),
                                unit: "By".into(),
                                description: format!("metric {i}"),
                                data: Some(data),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect();
    Batch::new(rs)
}

/// (resource, scope, span name) for every span in order.
fn flat_spans(batches: &[Batch<Traces>]) -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for b in batches {
        for r in b.resources().iter() {
            for s in &r.scope_spans {
                let sn = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                assert_eq!(s.schema_url, format!("schema/{sn}"));
                for sp in &s.spans {
                    v.push((res_name(&r.resource), sn.clone(), sp.name.clone()));
                }
            }
        }
    }
    v
}

fn flat_logs(batches: &[Batch<Logs>]) -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for b in batches {
        for r in b.resources().iter() {
            for s in &r.scope_logs {
                let sn = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                for l in &s.log_records {
                    let body = match l.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(any_value::Value::StringValue(s)) => s.clone(),
                        _ => String::new(),
                    };
                    v.push((res_name(&r.resource), sn.clone(), body));
                }
            }
        }
    }
    v
}

/// (resource, scope, metric name, kind descriptor, point value) for every data point.
fn flat_points(batches: &[Batch<Metrics>]) -> Vec<(String, String, String, String, u64)> {
    let mut v = Vec::new();
    for b in batches {
        for r in b.resources().iter() {
            for s in &r.scope_metrics {
                let sn = s.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default();
                for m in &s.metrics {
                    assert_eq!(m.unit, "By");
                    let (desc, vals): (String, Vec<u64>) = match &m.data {
                        Some(metric::Data::Gauge(g)) => ("gauge".into(), nums(&g.data_points)),
                        Some(metric::Data::Sum(x)) => (
                            format!("sum/{}/{}", x.aggregation_temporality, x.is_monotonic),
                            nums(&x.data_points),
                        ),
                        Some(metric::Data::Histogram(h)) => (
                            format!("hist/{}", h.aggregation_temporality),
                            h.data_points.iter().map(|p| p.count).collect(),
                        ),
                        _ => ("other".into(), vec![]),
                    };
                    assert!(!vals.is_empty(), "a split left an empty metric {}", m.name);
                    for x in vals {
                        v.push((
                            res_name(&r.resource),
                            sn.clone(),
                            m.name.clone(),
                            desc.clone(),
                            x,
                        ));
                    }
                }
            }
        }
    }
    v
}

fn nums(points: &[NumberDataPoint]) -> Vec<u64> {
    points
        .iter()
        .map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d as u64,
            _ => 0,
        })
        .collect()
}

/// Every emitted batch's cached count must match its content.
fn assert_counts<S: SignalData>(batches: &[Batch<S>]) {
    for b in batches {
        assert_eq!(Batch::<S>::new(b.resources().to_vec()).items(), b.items());
    }
}

fn sizes<S: SignalData>(batches: &[Batch<S>]) -> Vec<usize> {
    batches.iter().map(|b| b.items()).collect()
}

fn value(reg: &MetricsRegistry, name: &str) -> f64 {
    reg.value(name, &[("processor", "batch/test")])
        .unwrap_or(0.0)
}

#[test]
fn size_trigger_sends_everything_pending_without_max() {
    let (mut b, reg) = batcher::<Traces>("send_batch_size: 10\ntimeout: 1s");
    let mut out = Vec::new();
    b.process(spans(&[("a", &[("s", 6)])]), &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(b.pending_items(), 6);
    assert!(b.next_deadline().is_some());
    b.process(spans(&[("b", &[("s", 6)])]), &mut out).unwrap();
    assert_eq!(sizes(&out), vec![12]);
    assert_eq!(b.pending_items(), 0);
    assert_eq!(b.next_deadline(), None);
    assert_eq!(
        value(&reg, "otelcol_processor_batch_batch_size_trigger_send"),
        1.0
    );
    assert_eq!(
        value(&reg, "otelcol_processor_batch_timeout_trigger_send"),
        0.0
    );
    assert_eq!(value(&reg, "otelcol_processor_batch_batch_send_size"), 1.0);
    assert_counts(&out);
}

#[test]
fn metrics_split_at_data_point_granularity_then_timeout_sends_rest() {
    let (mut b, reg) =
        batcher::<Metrics>("send_batch_size: 10\nsend_batch_max_size: 10\ntimeout: 200ms");
    let input = metrics(&[
        ("r1", &[("s1", &[('g', 3), ('s', 4)]), ("s2", &[('h', 5)])]),
        ("r2", &[("s3", &[('g', 7), ('s', 6)])]),
    ]);
    assert_eq!(input.items(), 25);
    let expected = flat_points(std::slice::from_ref(&input));
    let mut out = Vec::new();
    b.process(input, &mut out).unwrap();
    assert_eq!(sizes(&out), vec![10, 10]);
    assert_eq!(b.pending_items(), 5);
    let deadline = b.next_deadline().expect("timer armed for the remainder");
    // Not yet due: nothing happens.
    b.on_deadline(deadline - Duration::from_millis(1), &mut out);
    assert_eq!(out.len(), 2);
    b.on_deadline(deadline, &mut out);
    assert_eq!(sizes(&out), vec![10, 10, 5]);
    assert_eq!(b.next_deadline(), None);
    assert_eq!(flat_points(&out), expected);
    assert_counts(&out);
    // The metric split across the first two batches keeps its descriptor on both sides.
    let names: Vec<Vec<String>> = out
        .iter()
        .map(|b| {
            b.resources()
                .iter()
                .flat_map(|r| r.scope_metrics.iter())
                .flat_map(|s| s.metrics.iter().map(|m| m.name.clone()))
                .collect()
        })
        .collect();
    assert_eq!(names[0], vec!["s1.m0", "s1.m1", "s2.m0"]);
    assert_eq!(names[1], vec!["s2.m0", "s3.m0", "s3.m1"]);
    assert_eq!(names[2], vec!["s3.m1"]);
    assert_eq!(
        value(&reg, "otelcol_processor_batch_batch_size_trigger_send"),
        2.0
    );
    assert_eq!(
        value(&reg, "otelcol_processor_batch_timeout_trigger_send"),
        1.0
    );
    assert_eq!(value(&reg, "otelcol_processor_batch_batch_send_size"), 3.0);
    let text = reg.render();
    assert!(
        text.contains("otelcol_processor_batch_batch_send_size_sum{processor=\"batch/test\"} 25"),
        "{text}"
    );
    assert!(text.contains(
        "otelcol_processor_batch_batch_send_size_bucket{processor=\"batch/test\",le=\"10\"} 3"
    ));
}

#[test]
fn traces_split_across_resources_and_scopes_keep_order() {
    let (mut b, _reg) =
        batcher::<Traces>("send_batch_size: 4\nsend_batch_max_size: 4\ntimeout: 1s");
    let input = spans(&[
        ("a", &[("s1", 1), ("s2", 2)]),
        ("b", &[("s3", 5)]),
        ("c", &[("s4", 3)]),
    ]);
    let expected = flat_spans(std::slice::from_ref(&input));
    let mut out = Vec::new();
    b.process(input, &mut out).unwrap();
    // With a timer, sends happen only while >= send_batch_size items are pending.
    assert_eq!(sizes(&out), vec![4, 4]);
    assert_eq!(b.pending_items(), 3);
    b.flush(&mut out);
    assert_eq!(sizes(&out), vec![4, 4, 3]);
    assert_eq!(flat_spans(&out), expected);
    assert_counts(&out);
    // Scope s3 is split across the first two batches, keeping its header and resource.
    let first = &out[0].resources()[1];
    assert_eq!(res_name(&first.resource), "b");
    assert_eq!(first.schema_url, "schema/b");
    assert_eq!(first.scope_spans[0].spans.len(), 1);
    assert_eq!(out[1].resources()[0].scope_spans[0].spans.len(), 4);
}

#[test]
fn logs_content_preserved_across_many_small_inputs() {
    let (mut b, reg) = batcher::<Logs>("send_batch_size: 7\nsend_batch_max_size: 9\ntimeout: 1s");
    let mut out = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10 {
        let input = logs_from(i * 3, &[(&format!("r{i}"), &[("s", 3)])]);
        expected.extend(flat_logs(std::slice::from_ref(&input)));
        b.process(input, &mut out).unwrap();
        assert!(b.pending_items() < 7);
    }
    // 30 records arrive in threes; a send happens each time >= 7 are pending.
    assert_eq!(sizes(&out), vec![9, 9, 9]);
    assert_eq!(b.pending_items(), 3);
    b.flush(&mut out);
    assert_eq!(sizes(&out), vec![9, 9, 9, 3]);
    assert_eq!(flat_logs(&out), expected);
    assert_counts(&out);
    assert_eq!(
        value(&reg, "otelcol_processor_batch_timeout_trigger_send"),
        1.0
    );
    assert_eq!(
        value(&reg, "otelcol_processor_batch_batch_size_trigger_send"),
        3.0
    );
}

#[test]
fn timer_is_armed_on_first_item_and_restarted_after_a_send() {
    let (mut b, _reg) =
        batcher::<Traces>("send_batch_size: 5\nsend_batch_max_size: 5\ntimeout: 100ms");
    assert_eq!(b.next_deadline(), None);
    let mut out = Vec::new();
    let before = Instant::now();
    b.process(spans(&[("a", &[("s", 2)])]), &mut out).unwrap();
    let first = b.next_deadline().unwrap();
    assert!(first >= before + Duration::from_millis(100));
    // More data below the threshold does not move the deadline.
    b.process(spans(&[("a", &[("s", 1)])]), &mut out).unwrap();
    assert_eq!(b.next_deadline(), Some(first));
    // A size-triggered send restarts the timer for the remainder.
    std::thread::sleep(Duration::from_millis(2));
    let before_send = Instant::now();
    b.process(spans(&[("a", &[("s", 4)])]), &mut out).unwrap();
    assert_eq!(sizes(&out), vec![5]);
    assert_eq!(b.pending_items(), 2);
    let restarted = b.next_deadline().unwrap();
    assert!(restarted >= before_send + Duration::from_millis(100));
    assert!(restarted > first);
    b.on_deadline(restarted, &mut out);
    assert_eq!(sizes(&out), vec![5, 2]);
    assert_eq!(b.next_deadline(), None);
    // A deadline call with nothing pending emits nothing.
    b.on_deadline(Instant::now(), &mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn flush_emits_everything_and_disarms_the_timer() {
    let (mut b, reg) = batcher::<Metrics>("");
    let mut out = Vec::new();
    b.process(metrics(&[("r", &[("s", &[('g', 3)])])]), &mut out)
        .unwrap();
    b.process(metrics(&[("q", &[("s", &[('s', 2)])])]), &mut out)
        .unwrap();
    assert!(out.is_empty());
    b.flush(&mut out);
    assert_eq!(sizes(&out), vec![5]);
    assert_eq!(out[0].resources().len(), 2);
    assert_eq!(b.next_deadline(), None);
    b.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        value(&reg, "otelcol_processor_batch_timeout_trigger_send"),
        1.0
    );
}

#[test]
fn zero_timeout_sends_immediately_split_by_max() {
    let (mut b, reg) = batcher::<Logs>("timeout: 0\nsend_batch_max_size: 8192\nsend_batch_size: 4");
    let mut out = Vec::new();
    b.process(logs(&[("r", &[("s", 3)])]), &mut out).unwrap();
    assert_eq!(sizes(&out), vec![3]);
    assert_eq!(b.next_deadline(), None);

    let (mut b, _) = batcher::<Logs>("timeout: 0s\nsend_batch_size: 4\nsend_batch_max_size: 4");
    let mut out = Vec::new();
    let input = logs(&[("r", &[("s", 6)]), ("q", &[("t", 4)])]);
    let expected = flat_logs(std::slice::from_ref(&input));
    b.process(input, &mut out).unwrap();
    assert_eq!(sizes(&out), vec![4, 4, 2]);
    assert_eq!(b.pending_items(), 0);
    assert_eq!(b.next_deadline(), None);
    assert_eq!(flat_logs(&out), expected);
    assert_eq!(
        value(&reg, "otelcol_processor_batch_batch_size_trigger_send"),
        1.0
    );
}

#[test]
fn empty_input_is_ignored() {
    let (mut b, _) = batcher::<Traces>("");
    let mut out = Vec::new();
    b.process(Batch::default(), &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn config_defaults_and_decoding() {
    assert_eq!(
        decode::<BatchConfig>(&serde_yaml::Value::Null, "processors::batch").unwrap(),
        BatchConfig {
            send_batch_size: 8192,
            timeout: crate::config::types::GoDuration::from_millis(200),
            send_batch_max_size: 0,
            metadata_keys: vec![],
            metadata_cardinality_limit: 1000,
        }
    );
    let c = cfg("send_batch_size: 100\nsend_batch_max_size: 100\ntimeout: 5s\nmetadata_keys: [a, b]\nmetadata_cardinality_limit: 7");
    assert_eq!(c.send_batch_size, 100);
    assert_eq!(c.timeout.0, Duration::from_secs(5));
    assert_eq!(c.metadata_keys, vec!["a", "b"]);
    assert_eq!(c.metadata_cardinality_limit, 7);
}

#[test]
fn config_validation_messages() {
    let f = BatchProcessorFactory;
    let v = |y: &str| {
        let raw: serde_yaml::Value = serde_yaml::from_str(y).unwrap();
        f.validate(&raw, "processors::batch").to_string()
    };
    assert_eq!(
        v("send_batch_max_size: 1000"),
        "processors::batch: send_batch_max_size must be greater or equal to send_batch_size"
    );
    assert_eq!(v("send_batch_size: 10\nsend_batch_max_size: 10"), "");
    assert_eq!(
        v("metadata_keys: [Tenant, x, tenant, TENANT]"),
        "processors::batch: duplicate entry in metadata_keys: \"tenant\" (case-insensitive)"
    );
    let both = v("send_batch_max_size: 5\nmetadata_keys: [a, A]");
    assert_eq!(both.lines().count(), 2, "{both}");
    let e = v("send_batch_sise: 5");
    assert!(e.starts_with("processors::batch"), "{e}");
    assert!(e.contains("unknown field `send_batch_sise`"), "{e}");
    assert!(v("timeout: -1s").contains("negative"));
    assert!(v("send_batch_size: -1").contains("processors::batch::send_batch_size"));
    assert_eq!(v("{}"), "");
    assert_eq!(
        f.validate(&serde_yaml::Value::Null, "processors::batch")
            .len(),
        0
    );
}

#[test]
fn factory_builds_each_signal_and_reports_stability() {
    let f = BatchProcessorFactory;
    assert_eq!(f.type_name(), "batch");
    assert_eq!(f.stability().len(), 3);
    assert!(f.stability().iter().all(|(_, s)| *s == Stability::Stable));
    let ctx = BuildContext::for_test(Kind::Processor, "batch/x");
    let raw = serde_yaml::Value::Null;
    assert!(matches!(
        f.build(&raw, &ctx, Signal::Traces),
        Ok(AnyProcessor::Traces(_))
    ));
    assert!(matches!(
        f.build(&raw, &ctx, Signal::Metrics),
        Ok(AnyProcessor::Metrics(_))
    ));
    let Ok(AnyProcessor::Logs(mut p)) = f.build(&raw, &ctx, Signal::Logs) else {
        panic!("expected a logs processor");
    };
    let mut out = Vec::new();
    p.process(logs(&[("r", &[("s", 2)])]), &mut out).unwrap();
    p.flush(&mut out);
    assert_eq!(sizes(&out), vec![2]);
    assert_eq!(
        ctx.metrics.value(
            "otelcol_processor_batch_timeout_trigger_send",
            &[("processor", "batch/x")]
        ),
        Some(1.0)
    );
    let bad: serde_yaml::Value = serde_yaml::from_str("send_batch_max_size: 1").unwrap();
    let err = f.build(&bad, &ctx, Signal::Traces).err().unwrap();
    assert!(err.to_string().contains("send_batch_max_size"), "{err}");
}
