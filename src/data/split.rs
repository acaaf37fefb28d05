//! Item-granular splitting of OTLP resources: move the first `n` spans, metric data points or
//! log records out of a resource, cloning only the resource and scope headers.

use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use super::data_point_count;

pub(super) fn take_spans(r: &mut ResourceSpans, n: usize) -> (ResourceSpans, usize) {
    let mut out = ResourceSpans {
        resource: r.resource.clone(),
        scope_spans: Vec::new(),
        schema_url: r.schema_url.clone(),
    };
    let mut left = n;
    while left > 0 && !r.scope_spans.is_empty() {
        let len = r.scope_spans[0].spans.len();
        if len <= left {
            left -= len;
            out.scope_spans.push(r.scope_spans.remove(0));
        } else {
            let s = &mut r.scope_spans[0];
            let rest = s.spans.split_off(left);
            let head = std::mem::replace(&mut s.spans, rest);
            out.scope_spans.push(ScopeSpans {
                scope: s.scope.clone(),
                spans: head,
                schema_url: s.schema_url.clone(),
            });
            left = 0;
        }
    }
    (out, n - left)
}

pub(super) fn take_log_records(r: &mut ResourceLogs, n: usize) -> (ResourceLogs, usize) {
    let mut out = ResourceLogs {
        resource: r.resource.clone(),
        scope_logs: Vec::new(),
        schema_url: r.schema_url.clone(),
    };
    let mut left = n;
    while left > 0 && !r.scope_logs.is_empty() {
        let len = r.scope_logs[0].log_records.len();
        if len <= left {
            left -= len;
            out.scope_logs.push(r.scope_logs.remove(0));
        } else {
            let s = &mut r.scope_logs[0];
            let rest = s.log_records.split_off(left);
            let head = std::mem::replace(&mut s.log_records, rest);
            out.scope_logs.push(ScopeLogs {
                scope: s.scope.clone(),
                log_records: head,
                schema_url: s.schema_url.clone(),
            });
            left = 0;
        }
    }
    (out, n - left)
}

pub(super) fn take_metric_points(r: &mut ResourceMetrics, n: usize) -> (ResourceMetrics, usize) {
    let mut out = ResourceMetrics {
        resource: r.resource.clone(),
        scope_metrics: Vec::new(),
        schema_url: r.schema_url.clone(),
    };
    let mut left = n;
    while left > 0 && !r.scope_metrics.is_empty() {
        let scope_count: usize = r.scope_metrics[0]
            .metrics
            .iter()
            .map(|m| data_point_count(m.data.as_ref()))
            .sum();
        if scope_count <= left {
            left -= scope_count;
            out.scope_metrics.push(r.scope_metrics.remove(0));
            continue;
        }
        let s = &mut r.scope_metrics[0];
        let mut head = ScopeMetrics {
            scope: s.scope.clone(),
            metrics: Vec::new(),
            schema_url: s.schema_url.clone(),
        };
        while left > 0 && !s.metrics.is_empty() {
            let c = data_point_count(s.metrics[0].data.as_ref());
            if c <= left {
                left -= c;
                head.metrics.push(s.metrics.remove(0));
            } else {
                head.metrics.push(take_points(&mut s.metrics[0], left));
                left = 0;
            }
        }
        out.scope_metrics.push(head);
    }
    (out, n - left)
}

/// Splits the first `n` data points (n < count) off a metric, keeping its descriptor.
fn take_points(m: &mut Metric, n: usize) -> Metric {
    fn front<T>(v: &mut Vec<T>, n: usize) -> Vec<T> {
        let rest = v.split_off(n);
        std::mem::replace(v, rest)
    }
    let data = match m.data.as_mut() {
        Some(metric::Data::Gauge(g)) => Some(metric::Data::Gauge(
            opentelemetry_proto::tonic::metrics::v1::Gauge {
                data_points: front(&mut g.data_points, n),
            },
        )),
        Some(metric::Data::Sum(s)) => Some(metric::Data::Sum(
            opentelemetry_proto::tonic::metrics::v1::Sum {
                data_points: front(&mut s.data_points, n),
                aggregation_temporality: s.aggregation_temporality,
                is_monotonic: s.is_monotonic,
            },
        )),
        Some(metric::Data::Histogram(h)) => Some(metric::Data::Histogram(
            opentelemetry_proto::tonic::metrics::v1::Histogram {
                data_points: front(&mut h.data_points, n),
                aggregation_temporality: h.aggregation_temporality,
            },
        )),
        Some(metric::Data::ExponentialHistogram(h)) => Some(metric::Data::ExponentialHistogram(
            opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram {
                data_points: front(&mut h.data_points, n),
                aggregation_temporality: h.aggregation_temporality,
            },
        )),
        Some(metric::Data::Summary(s)) => Some(metric::Data::Summary(
            opentelemetry_proto::tonic::metrics::v1::Summary {
                data_points: front(&mut s.data_points, n),
            },
        )),
        None => None,
    };
    Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data,
    }
}
