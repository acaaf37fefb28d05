//! Tests of the `otlp` receiver over real loopback sockets: a receiver is bound on
//! `127.0.0.1:0`, fed by real gRPC and HTTP clients, and its outputs are read by sink tasks
//! standing in for pipelines (recording batches and answering with a chosen result).

mod config;
mod grpc;
mod http;

use crate::data::string_kv as kv;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::OtlpReceiverConfig;
use super::BoundOtlp;
use crate::component::context::BuildContext;
use crate::component::factory::{ConsumeError, ReceiverOutputs};
use crate::component::Kind;
use crate::config::decode::decode;
use crate::data::{Batch, Logs, Metrics, SignalData, Traces};
use crate::pipeline::fanout::{Consumer, PipelineMsg};
use crate::telemetry::metrics::MetricsRegistry;

/// Both protocols on loopback with OS-chosen ports.
pub const BOTH: &str =
    "protocols: {grpc: {endpoint: '127.0.0.1:0'}, http: {endpoint: '127.0.0.1:0'}}";

/// A stand-in pipeline: records batches and answers every message with `reply`.
pub struct Sink<S: SignalData> {
    pub got: Arc<Mutex<Vec<Batch<S>>>>,
    pub reply: Arc<Mutex<Option<ConsumeError>>>,
    pub delay: Arc<Mutex<Duration>>,
}

impl<S: SignalData> Sink<S> {
    fn start(metrics: &Arc<MetricsRegistry>) -> (Consumer<S>, Self) {
        let consumer = Consumer::<S>::new("otlp", Arc::clone(metrics));
        let (tx, mut rx) = mpsc::channel::<PipelineMsg<S>>(16);
        consumer.add_edge(S::SIGNAL.as_str(), tx);
        let got = Arc::new(Mutex::new(Vec::new()));
        let reply: Arc<Mutex<Option<ConsumeError>>> = Arc::new(Mutex::new(None));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let (g, r, d) = (Arc::clone(&got), Arc::clone(&reply), Arc::clone(&delay));
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                g.lock().unwrap().push(msg.batch);
                let answer = r.lock().unwrap().clone();
                let wait = *d.lock().unwrap();
                if let Some(ack) = msg.ack {
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = ack.send(answer.map_or(Ok(()), Err));
                    });
                }
            }
        });
        (consumer, Self { got, reply, delay })
    }

    /// Everything received so far, as one request.
    pub fn request(&self) -> S::Request {
        let mut all = Batch::<S>::default();
        for b in self.got.lock().unwrap().iter() {
            all.append(b.clone());
        }
        all.into_request()
    }

    pub fn batches(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    pub fn delay_acks(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    pub fn fail_with(&self, e: Option<ConsumeError>) {
        *self.reply.lock().unwrap() = e;
    }
}

/// A running receiver and its sinks.
pub struct Harness {
    pub grpc: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub metrics: Arc<MetricsRegistry>,
    pub traces: Option<Sink<Traces>>,
    pub metrics_sink: Option<Sink<Metrics>>,
    pub logs: Option<Sink<Logs>>,
    ctx: BuildContext,
    task: JoinHandle<()>,
}

impl Harness {
    /// Starts a receiver from `yaml` serving the signals flagged in `signals` (traces, metrics,
    /// logs).
    pub async fn start(yaml: &str, signals: [bool; 3]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let raw: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        let cfg: OtlpReceiverConfig = decode(&raw, "receivers::otlp").unwrap();
        let ctx = BuildContext::for_test(Kind::Receiver, "otlp");
        let metrics = Arc::clone(&ctx.metrics);
        let mut outputs = ReceiverOutputs::default();
        let traces = signals[0].then(|| {
            let (c, s) = Sink::<Traces>::start(&metrics);
            outputs.traces = Some(c);
            s
        });
        let metrics_sink = signals[1].then(|| {
            let (c, s) = Sink::<Metrics>::start(&metrics);
            outputs.metrics = Some(c);
            s
        });
        let logs = signals[2].then(|| {
            let (c, s) = Sink::<Logs>::start(&metrics);
            outputs.logs = Some(c);
            s
        });
        let bound = BoundOtlp::bind(&cfg, "otlp").unwrap();
        let (grpc, http) = bound.local_addrs();
        let task = tokio::spawn(bound.into_component(ctx.clone(), outputs).task);
        Self {
            grpc,
            http,
            metrics,
            traces,
            metrics_sink,
            logs,
            ctx,
            task,
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc.unwrap())
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.unwrap())
    }

    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics.value(name, labels).unwrap_or(0.0)
    }

    pub fn rejected(&self, transport: &str, reason: &str) -> f64 {
        self.metric(
            super::REJECTED_REQUESTS,
            &[
                ("receiver", "otlp"),
                ("transport", transport),
                ("reason", reason),
            ],
        )
    }

    /// Cancels the shutdown token and waits (bounded) for the task to return.
    pub async fn stop(self) {
        self.ctx.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("receiver did not stop")
            .unwrap();
    }
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", "checkout")],
        ..Default::default()
    })
}

/// One gauge `cpu.usage` with two points (1.5 and 2.5).
pub fn metrics_request() -> ExportMetricsServiceRequest {
    let point = |v: f64| NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "cpu.usage".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point(1.5), point(2.5)],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One span `GET /cart`.
pub fn traces_request() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    name: "GET /cart".into(),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One log record with body `hello`.
pub fn logs_request() -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("hello".into())),
                    }),
                    severity_text: "INFO".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Extracts (metric name, double values) pairs.
pub fn metric_values(req: &ExportMetricsServiceRequest) -> Vec<(String, Vec<f64>)> {
    req.resource_metrics
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
        .map(|m| {
            let vals = match &m.data {
                Some(metric::Data::Gauge(g)) => g
                    .data_points
                    .iter()
                    .filter_map(|p| match p.value {
                        Some(number_data_point::Value::AsDouble(v)) => Some(v),
                        Some(number_data_point::Value::AsInt(v)) => Some(v as f64),
                        None => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (m.name.clone(), vals)
        })
        .collect()
}

pub fn span_names(req: &ExportTraceServiceRequest) -> Vec<String> {
    req.resource_spans
        .iter()
        .flat_map(|r| r.scope_spans.iter())
        .flat_map(|s| s.spans.iter())
        .map(|s| s.name.clone())
        .collect()
}

pub fn log_bodies(req: &ExportLogsServiceRequest) -> Vec<String> {
    req.resource_logs
        .iter()
        .flat_map(|r| r.scope_logs.iter())
        .flat_map(|s| s.log_records.iter())
        .filter_map(|l| match l.body.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// The `service.name` of the first resource.
pub fn first_service_name(attrs: &[KeyValue]) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

/// The test certificates directory.
pub fn testdata(file: &str) -> String {
    format!(
        "{}/src/receivers/otlp/testdata/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}
