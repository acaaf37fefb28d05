//! The scrape hot path without the network: parsing a realistic exposition (from
//! `../shared/peers/gen-exposition.py`, ~1000 series, in `testdata/exposition/service.prom`),
//! and parse -> label sets -> OTLP conversion -> protobuf encoding as one scrape does.
//! Throughput is in samples per second on one core.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrocol::data::{Batch, Metrics};
use ferrocol::exposition::{Entry, Format, Parser};
use ferrocol::receivers::prometheus::convert::{Converter, Metadata, TargetResource};
use ferrocol::relabel::Labels;

fn body() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/exposition/service.prom"
    ))
    .expect("fixture")
}

fn samples(body: &[u8]) -> u64 {
    let mut p = Parser::new(body, Format::PromText).expect("utf-8");
    let mut n = 0;
    while let Some(e) = p.next().expect("parse") {
        if matches!(e, Entry::Sample(_)) {
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let body = body();
    let n = samples(&body);
    let mut g = c.benchmark_group("scrape_pipeline");
    g.throughput(Throughput::Elements(n));
    g.bench_function("parse_text", |b| {
        b.iter(|| {
            let mut p = Parser::new(black_box(&body), Format::PromText).expect("utf-8");
            let mut labels = 0usize;
            while let Some(e) = p.next().expect("parse") {
                if let Entry::Sample(s) = e {
                    labels += s.labels().count();
                    black_box(s.value);
                }
            }
            labels
        })
    });
    let discovered = Labels::from_pairs([
        ("__meta_kubernetes_pod_name", "app-7d9f"),
        ("__meta_kubernetes_namespace", "shop"),
        ("__scheme__", "http"),
    ]);
    let target = TargetResource::from_discovered("kubernetes-pods", "10.1.2.3:8080", &discovered);
    g.bench_function("parse_convert_encode", |b| {
        let mut meta = Metadata::default();
        let mut out = Vec::with_capacity(body.len());
        b.iter(|| {
            meta.clear();
            let mut conv = Converter::new(target.clone());
            let mut p = Parser::new(black_box(&body), Format::PromText).expect("utf-8");
            let mut l = Labels::new();
            while let Some(e) = p.next().expect("parse") {
                match e {
                    Entry::Type { name, kind } => meta.set_type(&name, kind),
                    Entry::Help { name, text } => meta.set_help(&name, &text),
                    Entry::Unit { name, unit } => meta.set_unit(&name, unit),
                    Entry::Sample(s) => {
                        l.retain(|_| false);
                        for (k, v) in s.labels() {
                            l.set(&k, &v);
                        }
                        l.set("__name__", &s.name);
                        l.set("job", "kubernetes-pods");
                        l.set("instance", "10.1.2.3:8080");
                        conv.add(&l, s.value, 1_700_000_000_000, None, &meta)
                            .expect("sample");
                    }
                }
            }
            let batch = Batch::<Metrics>::from_encoded(conv.finish_encoded());
            out.clear();
            batch.encode_request(&mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
