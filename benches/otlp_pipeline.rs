//! OTLP decode -> batch -> encode, the hot path of an OTLP-to-OTLP node agent: decode an
//! `ExportMetricsServiceRequest` from protobuf bytes, run it through the real `batch` processor
//! (built from its factory, send_batch_size 8192 with max 8192 so requests are split and
//! merged), and encode every emitted batch as an export request. Throughput is reported in
//! metric data points per second (one core: criterion runs on the calling thread).

use ferrocol::data::string_kv as kv;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocol::component::context::BuildContext;
use ferrocol::component::factory::AnyProcessor;
use ferrocol::component::registry::Registry;
use ferrocol::component::{Kind, Signal};
use ferrocol::data::{Batch, Metrics, SignalData};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// A request shaped like a scraped pod: 1 resource, 100 counters x 50 series, 4 attributes each.
fn request() -> ExportMetricsServiceRequest {
    let metrics = (0..100)
        .map(|m| Metric {
            name: format!("http_server_requests_{m}_total"),
            description: "Requests served.".into(),
            unit: "1".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: (0..50)
                    .map(|s| NumberDataPoint {
                        attributes: vec![
                            kv("method", "GET"),
                            kv("code", "200"),
                            kv("route", &format!("/api/v1/items/{s}")),
                            kv("instance", "10.0.0.12:8080"),
                        ],
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        time_unix_nano: 1_700_000_010_000_000_000,
                        value: Some(number_data_point::Value::AsDouble(s as f64 * 1.5)),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "checkout"),
                    kv("k8s.pod.name", "checkout-7d9f"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "prometheus".into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn bench(c: &mut Criterion) {
    let bytes = request().encode_to_vec();
    let points = Batch::<Metrics>::from_request(request()).items() as u64;
    let factory = Registry::builtin()
        .processor("batch")
        .expect("batch factory");
    let raw: serde_yaml::Value =
        serde_yaml::from_str("{send_batch_size: 8192, send_batch_max_size: 8192, timeout: 1s}")
            .expect("yaml");
    let ctx = BuildContext::for_test(Kind::Processor, "batch");
    let Ok(AnyProcessor::Metrics(mut batcher)) = factory.build(&raw, &ctx, Signal::Metrics) else {
        panic!("batch processor did not build for metrics");
    };
    let mut g = c.benchmark_group("otlp_pipeline");
    g.throughput(Throughput::Elements(points));
    g.bench_function("decode_batch_encode_metrics", |b| {
        let mut out = Vec::new();
        let mut encoded = Vec::with_capacity(bytes.len() * 2);
        b.iter(|| {
            let req =
                ExportMetricsServiceRequest::decode(black_box(bytes.as_slice())).expect("decode");
            let batch = Batch::<Metrics>::from_request(req);
            out.clear();
            batcher.process(batch, &mut out).expect("process");
            for b in out.drain(..) {
                encoded.clear();
                Metrics::into_request(b.into_resources())
                    .encode(&mut encoded)
                    .expect("encode");
                black_box(&encoded);
            }
        })
    });
    g.bench_function("decode_only_metrics", |b| {
        b.iter(|| ExportMetricsServiceRequest::decode(black_box(bytes.as_slice())).expect("decode"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
