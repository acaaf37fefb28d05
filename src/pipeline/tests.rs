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

/// An exporter whose exports wait for a gate, to hold data in its queue.
struct GatedExporter {
    rec: Arc<Recorder>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Exporter<Metrics> for GatedExporter {
    fn export(&self, batch: Arc<Batch<Metrics>>) -> BoxFuture<'_, Result<(), ExportError>> {
        Box::pin(async move {
            let _p = self.gate.acquire().await;
            self.rec
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(batch.items());
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_replaced_exporter_hands_its_queue_to_its_successor() {
    let metrics = MetricsRegistry::new();
    let old_rec = Arc::new(Recorder::default());
    let new_rec = Arc::new(Recorder::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut settings = HelperSettings::default();
    settings.queue.num_consumers = 1;
    let (old, old_task) = exporter_input::start::<Metrics>(
        "otlp",
        Arc::new(GatedExporter {
            rec: Arc::clone(&old_rec),
            gate: Arc::clone(&gate),
        }),
        settings.clone(),
        &metrics,
        CancellationToken::new(),
    );
    let old_task = tokio::spawn(old_task);
    let (new, new_task) = exporter_input::start::<Metrics>(
        "otlp",
        Arc::new(RecordingExporter(Arc::clone(&new_rec))),
        settings,
        &metrics,
        CancellationToken::new(),
    );
    let new_task = tokio::spawn(new_task);
    for n in 1..=4 {
        old.consume(Arc::new(points(n))).await.expect("queued");
    }
    // The single worker holds batch 1 (blocked at the gate); 2..4 wait in the queue.
    tokio::time::sleep(Duration::from_millis(50)).await;
    old.hand_over_to(new.clone());
    // A pipeline still flushing into the old instance: that goes over too.
    old.consume(Arc::new(points(5))).await.expect("queued");
    drop(old);
    gate.add_permits(10);
    tokio::time::timeout(Duration::from_secs(5), old_task)
        .await
        .expect("old exporter ends once its inputs are gone")
        .expect("task");
    drop(new);
    tokio::time::timeout(Duration::from_secs(5), new_task)
        .await
        .expect("new exporter ends")
        .expect("task");
    // The in-flight request finished on the old instance; the rest moved, in order.
    assert_eq!(
        *old_rec.0.lock().unwrap_or_else(|p| p.into_inner()),
        vec![1]
    );
    assert_eq!(
        *new_rec.0.lock().unwrap_or_else(|p| p.into_inner()),
        vec![2, 3, 4, 5]
    );
    assert_eq!(
        metrics.sum("otelcol_exporter_send_failed_metric_points", &[]),
        0.0
    );
}
