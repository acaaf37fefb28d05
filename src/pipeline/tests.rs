//! Wiring tests without sockets: a receiver's `Consumer` fanning out to pipeline tasks, the
//! processor chain, and the exporter boundary. They check that refusals travel back to the
//! receiver as retryable errors, that fan-out delivers a copy to every pipeline, that fan-in
//! shares one exporter, and that closing the inputs flushes pending batches.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::component::factory::{BoxFuture, ExportError, Exporter};
use crate::data::{Batch, Metrics, SignalData};
use crate::exporters::queue::HelperSettings;
use crate::pipeline::exporter_input::{self, ExporterInput};
use crate::pipeline::fanout::Consumer;
use crate::pipeline::pipeline_task::{PipelineTask, Stage};
use crate::processors::batch::BatchConfig;
use crate::processors::memory_limiter::{Limits, MemoryLimiter};
use crate::telemetry::metrics::MetricsRegistry;

#[derive(Default)]
struct Recorder(Mutex<Vec<usize>>);

struct RecordingExporter(Arc<Recorder>);

impl Exporter<Metrics> for RecordingExporter {
    fn export(&self, batch: Arc<Batch<Metrics>>) -> BoxFuture<'_, Result<(), ExportError>> {
        let items = batch.items();
        let rec = Arc::clone(&self.0);
        Box::pin(async move {
            rec.0.lock().unwrap_or_else(|p| p.into_inner()).push(items);
            Ok(())
        })
    }
}

fn points(n: usize) -> Batch<Metrics> {
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    Batch::new(vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "m".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint::default(); n],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }])
}

fn direct_exporter(
    metrics: &MetricsRegistry,
    rec: &Arc<Recorder>,
) -> (ExporterInput<Metrics>, BoxFuture<'static, ()>) {
    let mut settings = HelperSettings::default();
    settings.queue.enabled = false;
    exporter_input::start::<Metrics>(
        "rec",
        Arc::new(RecordingExporter(Arc::clone(rec))),
        settings,
        metrics,
        CancellationToken::new(),
    )
}

#[tokio::test]
async fn memory_limiter_refusal_reaches_the_receiver_as_retryable() {
    let metrics = MetricsRegistry::new();
    let rec = Arc::new(Recorder::default());
    let (input, _task) = direct_exporter(&metrics, &rec);
    let limits = Limits {
        hard: 100,
        spike: 20,
    };
    let usage = Arc::new(Mutex::new(50u64));
    let probe_usage = Arc::clone(&usage);
    let limiter = MemoryLimiter::<Metrics>::new(
        "memory_limiter",
        limits,
        Duration::from_millis(1),
        Box::new(move || Some(*probe_usage.lock().unwrap_or_else(|p| p.into_inner()))),
        &metrics,
    );
    let (tx, rx) = mpsc::channel(4);
    let task = PipelineTask {
        id: "metrics".into(),
        input: rx,
        stages: vec![Stage::new("memory_limiter", Box::new(limiter), &metrics)],
        exporters: vec![input],
    };
    let handle = tokio::spawn(task.run());
    let consumer = Consumer::<Metrics>::new("otlp", Arc::clone(&metrics));
    consumer.add_edge("metrics", tx);

    consumer
        .consume("grpc", points(3))
        .await
        .expect("accepted below the soft limit");
    *usage.lock().unwrap_or_else(|p| p.into_inner()) = 95;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let err = consumer
        .consume("grpc", points(4))
        .await
        .expect_err("refused above the soft limit");
    assert!(!err.permanent, "a refusal is retryable");
    assert_eq!(err.message, "data refused due to high memory usage");
    assert_eq!(
        metrics.value(
            "otelcol_receiver_refused_metric_points",
            &[("receiver", "otlp"), ("transport", "grpc")]
        ),
        Some(4.0)
    );
    assert_eq!(
        metrics.value(
            "otelcol_receiver_accepted_metric_points",
            &[("receiver", "otlp"), ("transport", "grpc")]
        ),
        Some(3.0)
    );
    assert_eq!(*rec.0.lock().unwrap_or_else(|p| p.into_inner()), vec![3]);
    consumer.clear();
    handle.await.expect("pipeline ends when its input closes");
}

#[tokio::test]
async fn fan_out_to_two_pipelines_and_fan_in_to_one_exporter_with_flush_on_close() {
    let metrics = MetricsRegistry::new();
    let rec = Arc::new(Recorder::default());
    let (input, _task) = direct_exporter(&metrics, &rec);
    let consumer = Consumer::<Metrics>::new("otlp", Arc::clone(&metrics));
    let mut handles = Vec::new();
    for name in ["metrics/a", "metrics/b"] {
        let (tx, rx) = mpsc::channel(4);
        let cfg = BatchConfig {
            send_batch_size: 1000,
            timeout: crate::config::types::GoDuration::from_secs(3600),
            ..Default::default()
        };
        let batcher = crate::processors::batch::Batcher::<Metrics>::new(&cfg, &metrics, "batch");
        let task = PipelineTask {
            id: name.into(),
            input: rx,
            stages: vec![Stage::new("batch", Box::new(batcher), &metrics)],
            exporters: vec![input.clone()],
        };
        handles.push(tokio::spawn(task.run()));
        consumer.add_edge(name, tx);
    }
    drop(input);
    consumer.consume("http", points(5)).await.expect("accepted");
    consumer.consume("http", points(2)).await.expect("accepted");
    assert!(
        rec.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty(),
        "held by the batchers"
    );
    consumer.clear();
    for h in handles {
        h.await.expect("pipeline task");
    }
    // Each pipeline flushed its own batch of 7 into the shared exporter.
    assert_eq!(*rec.0.lock().unwrap_or_else(|p| p.into_inner()), vec![7, 7]);
    assert_eq!(
        metrics.sum(
            "otelcol_processor_incoming_items",
            &[("processor", "batch")]
        ),
        14.0
    );
    assert_eq!(
        metrics.sum("otelcol_exporter_sent_metric_points", &[]),
        14.0
    );
    assert_eq!(Metrics::SIGNAL.item_noun(), "metric_points");
}
