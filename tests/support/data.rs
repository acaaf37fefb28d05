//! Numbered test data: metric points, spans and log records carrying their number in their
//! value / name / body, so tests can check that each arrived exactly once and intact.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![ferrocol::data::string_kv("service.name", service)],
        ..Default::default()
    })
}

/// A gauge `test.points` with one point per number in `range`, value = the number.
pub fn metrics(service: &str, range: std::ops::Range<i64>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "test.points".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: range
                            .map(|i| NumberDataPoint {
                                value: Some(number_data_point::Value::AsInt(i)),
                                time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Spans named `span-<n>`.
pub fn traces(service: &str, range: std::ops::Range<i64>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                spans: range
                    .map(|i| Span {
                        name: format!("span-{i}"),
                        trace_id: vec![1; 16],
                        span_id: (i as u64).to_be_bytes().to_vec(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Log records with body `log-<n>`.
pub fn logs(service: &str, range: std::ops::Range<i64>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: range
                    .map(|i| LogRecord {
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(format!("log-{i}"))),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub fn service_of(r: &Option<Resource>) -> String {
    r.as_ref()
        .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// (service, value) of every metric point in the requests.
pub fn metric_points(reqs: &[ExportMetricsServiceRequest]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for r in reqs {
        for rm in &r.resource_metrics {
            let svc = service_of(&rm.resource);
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    if let Some(metric::Data::Gauge(g)) = &m.data {
                        for p in &g.data_points {
                            if let Some(number_data_point::Value::AsInt(v)) = p.value {
                                out.push((svc.clone(), v));
                            }
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// (service, span name) of every span.
pub fn span_names(reqs: &[ExportTraceServiceRequest]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in reqs {
        for rs in &r.resource_spans {
            let svc = service_of(&rs.resource);
            for ss in &rs.scope_spans {
                out.extend(ss.spans.iter().map(|s| (svc.clone(), s.name.clone())));
            }
        }
    }
    out.sort();
    out
}

/// (service, body) of every log record.
pub fn log_bodies(reqs: &[ExportLogsServiceRequest]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in reqs {
        for rl in &r.resource_logs {
            let svc = service_of(&rl.resource);
            for sl in &rl.scope_logs {
                for l in &sl.log_records {
                    if let Some(any_value::Value::StringValue(s)) =
                        l.body.as_ref().and_then(|b| b.value.as_ref())
                    {
                        out.push((svc.clone(), s.clone()));
                    }
                }
            }
        }
    }
    out.sort();
    out
}
