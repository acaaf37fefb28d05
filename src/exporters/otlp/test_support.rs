//! Test helpers shared by the exporter tests: small OTLP batches, a self-signed certificate
//! generated per test, and the rustls provider install. Test-only.

use crate::data::string_kv as kv;
use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::component::context::BuildContext;
use crate::component::factory::{AnyExporter, Exporter, ExporterFactory, HelperSettings};
use crate::component::{Kind, Signal};
use crate::data::{Batch, Logs, Metrics, Traces};

pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "test-scope".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

/// One gauge per (name, value), one point each.
pub fn metrics_batch(points: &[(&str, f64)]) -> Batch<Metrics> {
    let metrics = points
        .iter()
        .map(|(name, v)| Metric {
            name: (*name).into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    time_unix_nano: 1_700_000_000_000_000_000,
                    value: Some(number_data_point::Value::AsDouble(*v)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        })
        .collect();
    Batch::new(vec![ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![ScopeMetrics {
            scope: scope(),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// The (name, value) pairs of every gauge point in a request.
pub fn gauge_values(rm: &[ResourceMetrics]) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for m in rm
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
    {
        if let Some(metric::Data::Gauge(g)) = &m.data {
            for p in &g.data_points {
                if let Some(number_data_point::Value::AsDouble(v)) = p.value {
                    out.insert(m.name.clone(), v);
                }
            }
        }
    }
    out
}

pub fn traces_batch(names: &[&str]) -> Batch<Traces> {
    let spans = names
        .iter()
        .enumerate()
        .map(|(i, n)| Span {
            name: (*n).into(),
            trace_id: vec![0xab; 16],
            span_id: vec![i as u8 + 1; 8],
            ..Default::default()
        })
        .collect();
    Batch::new(vec![ResourceSpans {
        resource: resource(),
        scope_spans: vec![ScopeSpans {
            scope: scope(),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

pub fn logs_batch(bodies: &[&str]) -> Batch<Logs> {
    let log_records = bodies
        .iter()
        .map(|b| LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue((*b).into())),
            }),
            ..Default::default()
        })
        .collect();
    Batch::new(vec![ResourceLogs {
        resource: resource(),
        scope_logs: vec![ScopeLogs {
            scope: scope(),
            log_records,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// A self-signed certificate (PEM cert, PEM key) for the given names / IPs.
pub fn self_signed(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).expect("rcgen");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

pub fn yaml(s: &str) -> serde_yaml::Value {
    serde_yaml::from_str(s).expect("test yaml")
}

/// Builds one exporter of each signal from a YAML config.
pub struct Built {
    pub traces: Arc<dyn Exporter<Traces>>,
    pub metrics: Arc<dyn Exporter<Metrics>>,
    pub logs: Arc<dyn Exporter<Logs>>,
    pub settings: HelperSettings,
}

pub fn build_all(factory: &dyn ExporterFactory, id: &str, cfg: &str) -> Result<Built, String> {
    let raw = yaml(cfg);
    let ctx = BuildContext::for_test(Kind::Exporter, id);
    let b = |s| factory.build(&raw, &ctx, s).map_err(|e| e.to_string());
    let (t, settings) = b(Signal::Traces)?;
    let (m, _) = b(Signal::Metrics)?;
    let (l, _) = b(Signal::Logs)?;
    match (t, m, l) {
        (AnyExporter::Traces(traces), AnyExporter::Metrics(metrics), AnyExporter::Logs(logs)) => {
            Ok(Built {
                traces,
                metrics,
                logs,
                settings,
            })
        }
        _ => Err("wrong signal variants".into()),
    }
}

pub fn metrics_exporter(
    factory: &dyn ExporterFactory,
    cfg: &str,
) -> Result<Arc<dyn Exporter<Metrics>>, String> {
    let ctx = BuildContext::for_test(Kind::Exporter, "otlp");
    match factory.build(&yaml(cfg), &ctx, Signal::Metrics) {
        Ok((AnyExporter::Metrics(m), _)) => Ok(m),
        Ok(_) => Err("wrong signal variant".into()),
        Err(e) => Err(e.to_string()),
    }
}
