//! Metric points as a test reads them: OTLP requests flattened to one `Point` per number data
//! point, with the resource's and the point's string attributes, the timestamp and the value.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, NumberDataPoint};

#[derive(Debug, Clone)]
pub struct Point {
    pub metric: String,
    pub resource: BTreeMap<String, String>,
    pub attrs: BTreeMap<String, String>,
    pub time_unix_nano: u64,
    pub value: f64,
    /// Some(is_monotonic) for sums, None for gauges.
    pub monotonic: Option<bool>,
}

impl Point {
    /// A resource attribute ("" when absent).
    pub fn res(&self, key: &str) -> &str {
        self.resource.get(key).map_or("", String::as_str)
    }

    /// A data point attribute ("" when absent).
    pub fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }

    /// A data point attribute, else a resource attribute of that name.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .get(key)
            .or_else(|| self.resource.get(key))
            .map(String::as_str)
    }
}

/// The string value of attribute `key` ("" when absent or not a string).
pub fn string_attr(attrs: &[KeyValue], key: &str) -> String {
    strings(attrs).remove(key).unwrap_or_default()
}

fn strings(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .filter_map(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(v) => Some((a.key.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

fn value(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

/// Every gauge and sum data point of `reqs`, in arrival order.
pub fn points(reqs: &[ExportMetricsServiceRequest]) -> Vec<Point> {
    let mut out = Vec::new();
    for r in reqs {
        for rm in &r.resource_metrics {
            let resource = rm
                .resource
                .as_ref()
                .map(|r| strings(&r.attributes))
                .unwrap_or_default();
            for m in rm.scope_metrics.iter().flat_map(|s| s.metrics.iter()) {
                let (dps, monotonic) = match &m.data {
                    Some(metric::Data::Sum(s)) => (&s.data_points, Some(s.is_monotonic)),
                    Some(metric::Data::Gauge(g)) => (&g.data_points, None),
                    _ => continue,
                };
                for p in dps {
                    out.push(Point {
                        metric: m.name.clone(),
                        resource: resource.clone(),
                        attrs: strings(&p.attributes),
                        time_unix_nano: p.time_unix_nano,
                        value: value(p),
                        monotonic,
                    });
                }
            }
        }
    }
    out
}
