//! Scrape loop tests over real loopback HTTP targets (axum, in-test) and a recording pipeline:
//! content and OTLP shape of a scrape, label merging, relabeling, limits, failures of every
//! kind with `up` = 0 and health, staleness (series gone, failed scrape, target gone), gzip,
//! and credential files re-read per scrape. Intervals are 400 ms (timeout 300 ms, generous for
//! a loaded CI machine), waits are bounded.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::HeaderMap;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::component::factory::ConsumeError;
use crate::pipeline::fanout::PipelineMsg;
use crate::receivers::prometheus::promconfig::parse;
use crate::receivers::prometheus::target::{populate, Populated};

/// What the test target answers to its `n`-th request (0-based).
struct Reply {
    status: u16,
    content_type: &'static str,
    gzip: bool,
    body: Vec<u8>,
    delay: Duration,
}

fn ok(body: &str) -> Reply {
    Reply {
        status: 200,
        content_type: "text/plain; version=0.0.4",
        gzip: false,
        body: body.as_bytes().to_vec(),
        delay: Duration::ZERO,
    }
}

type Handler = Arc<dyn Fn(&HeaderMap, usize) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<HeaderMap>>>,
}

/// The test target's routes: `/metrics` answers per `handler`; request headers are recorded.
fn router(
    handler: impl Fn(&HeaderMap, usize) -> Reply + Send + Sync + 'static,
) -> (Router, Arc<Mutex<Vec<HeaderMap>>>) {
    let handler: Handler = Arc::new(handler);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let count = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(headers.clone());
            let r = handler(&headers, n);
            async move {
                tokio::time::sleep(r.delay).await;
                let mut b = Response::builder()
                    .status(r.status)
                    .header("content-type", r.content_type);
                if r.gzip {
                    b = b.header("content-encoding", "gzip");
                }
                b.body(Body::from(r.body)).unwrap()
            }
        }),
    );
    (app, requests)
}

async fn serve(handler: impl Fn(&HeaderMap, usize) -> Reply + Send + Sync + 'static) -> Server {
    let (app, requests) = router(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, requests }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A pipeline that records every batch and acks it (or refuses it).
struct Sink {
    batches: Arc<Mutex<Vec<Batch<Metrics>>>>,
    consumer: Consumer<Metrics>,
    metrics: Arc<MetricsRegistry>,
}

fn sink(refuse: bool) -> Sink {
    sink_with(refuse, Duration::ZERO)
}

/// A pipeline that acknowledges after `ack_delay` (a slow pipeline makes scrapes overrun).
fn sink_with(refuse: bool, ack_delay: Duration) -> Sink {
    let metrics = MetricsRegistry::new();
    let consumer = Consumer::<Metrics>::new("prometheus", Arc::clone(&metrics));
    let (tx, mut rx) = mpsc::channel::<PipelineMsg<Metrics>>(16);
    consumer.add_edge("metrics", tx);
    let batches = Arc::new(Mutex::new(Vec::new()));
    let rec = Arc::clone(&batches);
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            rec.lock().unwrap().push(msg.batch);
            tokio::time::sleep(ack_delay).await;
            if let Some(ack) = msg.ack {
                let _ = ack.send(if refuse {
                    Err(ConsumeError::retryable("refused for the test"))
                } else {
                    Ok(())
                });
            }
        }
    });
    Sink {
        batches,
        consumer,
        metrics,
    }
}

struct Running {
    stop: CancellationToken,
    gone: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    health: SharedHealth,
}

/// Parses a config with one job `app` scraping `addr` (target label `env: prod`) plus the
/// given job lines (indented by two spaces), and starts its loop.
fn start(addr: SocketAddr, global: &str, job_lines: &str, sink: &Sink) -> Running {
    let yaml = format!(
        "global: {{{global}}}\nscrape_configs:\n- job_name: app\n  scrape_interval: 400ms\n  \
         scrape_timeout: 300ms\n  static_configs: [{{targets: ['{addr}'], labels: {{env: prod}}}}]\n{job_lines}"
    );
    let prom = parse(
        &serde_yaml::from_str(&yaml).unwrap(),
        "receivers::prometheus::config",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let cfg = Arc::new(prom.scrape_configs[0].clone());
    let discovered =
        Labels::from_pairs([("__address__", addr.to_string()), ("env", "prod".into())]);
    let Populated::Active(target) = populate(discovered, &cfg) else {
        panic!("target not active");
    };
    let client = build_client(&cfg).unwrap();
    let lp = ScrapeLoop::new(
        target,
        cfg,
        prom.global.external_labels.clone(),
        client,
        sink.consumer.clone(),
        Arc::clone(&sink.metrics),
        "prometheus",
    );
    let health = lp.health();
    let stop = CancellationToken::new();
    let gone = Arc::new(AtomicBool::new(false));
    let handle = tokio::spawn(lp.run(stop.clone(), Arc::clone(&gone)));
    Running {
        stop,
        gone,
        handle,
        health,
    }
}

/// Waits (at most 10 s) until `pred` holds for the recorded batches; returns them.
async fn wait_for(
    sink: &Sink,
    what: &str,
    pred: impl Fn(&[Batch<Metrics>]) -> bool,
) -> Vec<Batch<Metrics>> {
    for _ in 0..500 {
        {
            let b = sink.batches.lock().unwrap();
            if pred(&b) {
                return b.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn metric(b: &Batch<Metrics>, name: &str) -> Option<Metric> {
    b.resources()
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
        .find(|m| m.name == name)
        .cloned()
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// (attributes, value, flags) of every number point of a gauge or sum.
fn points(m: &Metric) -> Vec<(BTreeMap<String, String>, Option<f64>, u32)> {
    let pts = match m.data.as_ref() {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        Some(metric::Data::Sum(s)) => &s.data_points,
        _ => return Vec::new(),
    };
    pts.iter()
        .map(|p| {
            let v = match p.value {
                Some(number_data_point::Value::AsDouble(v)) => Some(v),
                Some(number_data_point::Value::AsInt(v)) => Some(v as f64),
                None => None,
            };
            (attrs(&p.attributes), v, p.flags)
        })
        .collect()
}

fn value(b: &Batch<Metrics>, name: &str) -> Option<f64> {
    metric(b, name).and_then(|m| points(&m).first().and_then(|p| p.1))
}

fn up(b: &Batch<Metrics>) -> Option<f64> {
    value(b, "up")
}

fn health(r: &Running) -> TargetHealth {
    r.health.lock().unwrap().clone()
}

async fn stop(r: Running) {
    r.stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), r.handle)
        .await
        .expect("the loop ends promptly")
        .unwrap();
}

const BODY: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
http_requests_total{method=\"get\",code=\"200\"} 1027\n\
http_requests_total{method=\"post\",code=\"200\"} 3\n\
# TYPE temperature gauge\ntemperature 21.5\nstamped 7 1700000000000\n\
# TYPE latency_seconds histogram\nlatency_seconds_bucket{le=\"0.1\"} 5\n\
latency_seconds_bucket{le=\"1\"} 8\nlatency_seconds_bucket{le=\"+Inf\"} 10\n\
latency_seconds_sum 4.2\nlatency_seconds_count 10\n";

#[tokio::test]
async fn a_successful_scrape_reaches_the_pipeline_as_otlp() {
    let server = serve(|_, _| ok(BODY)).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let batches = wait_for(&sink, "two scrapes", |b| b.len() >= 2).await;
    let b = &batches[0];
    assert_eq!(b.resources().len(), 1);
    let res = attrs(&b.resources()[0].resource.as_ref().unwrap().attributes);
    assert_eq!(res["service.name"], "app");
    assert_eq!(res["service.instance.id"], server.addr.to_string());
    assert_eq!(res["server.port"], server.addr.port().to_string());
    assert_eq!(res["url.scheme"], "http");
    assert!(!res.contains_key("server.address"), "loopback is omitted");

    let counter = metric(b, "http_requests_total").unwrap();
    let Some(metric::Data::Sum(sum)) = &counter.data else {
        panic!("counter is a sum")
    };
    assert!(sum.is_monotonic);
    let pts = points(&counter);
    let get = pts.iter().find(|p| p.0["method"] == "get").unwrap();
    assert_eq!(get.1, Some(1027.0));
    assert_eq!(get.0["env"], "prod", "target labels are on the points");
    assert!(!get.0.contains_key("job") && !get.0.contains_key("instance"));
    assert_eq!(value(b, "temperature"), Some(21.5));
    let stamped = metric(b, "stamped").unwrap();
    let Some(metric::Data::Gauge(g)) = &stamped.data else {
        panic!("untyped is a gauge")
    };
    assert_eq!(
        g.data_points[0].time_unix_nano,
        1_700_000_000_000 * 1_000_000
    );
    let Some(metric::Data::Histogram(h)) = &metric(b, "latency_seconds").unwrap().data else {
        panic!("histogram")
    };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (10, Some(4.2)));
    assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
    assert_eq!(p.bucket_counts, vec![5, 3, 2]);

    assert_eq!(up(b), Some(1.0));
    assert_eq!(points(&metric(b, "up").unwrap())[0].0["env"], "prod");
    assert_eq!(value(b, "scrape_samples_scraped"), Some(9.0));
    assert_eq!(value(b, "scrape_samples_post_metric_relabeling"), Some(9.0));
    assert_eq!(value(b, "scrape_series_added"), Some(9.0));
    assert!(value(b, "scrape_duration_seconds").unwrap() > 0.0);
    assert_eq!(value(&batches[1], "scrape_series_added"), Some(0.0));

    let h = health(&r);
    assert_eq!((h.health, h.last_error.as_str()), (Health::Up, ""));
    assert_eq!(h.last_samples, 9);
    assert!(h.last_scrape.is_some());
    let req = server.requests.lock().unwrap()[0].clone();
    assert_eq!(
        req["accept"],
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
         application/openmetrics-text;version=0.0.1;q=0.5,\
         text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    assert_eq!(req["accept-encoding"], "gzip");
    assert_eq!(req["x-prometheus-scrape-timeout-seconds"], "0.3");
    assert!(req["user-agent"].to_str().unwrap().starts_with("ferrocol/"));
    let labels = [
        ("receiver", "prometheus"),
        ("job", "app"),
        ("result", "success"),
    ];
    assert!(
        sink.metrics
            .value("ferrocol_prometheus_scrapes_total", &labels)
            >= Some(2.0)
    );
    assert!(
        sink.metrics.value(
            "ferrocol_prometheus_samples_scraped_total",
            &[("receiver", "prometheus"), ("job", "app")]
        ) >= Some(18.0)
    );
    // Stopping without the target being gone sends nothing more.
    let n = sink.batches.lock().unwrap().len();
    stop(r).await;
    let after = sink.batches.lock().unwrap().clone();
    assert!(after.len() <= n + 1);
    assert_eq!(up(after.last().unwrap()), Some(1.0));
}

const CLASH: &str = "m{job=\"other\",exported_job=\"x\",instance=\"i\",a=\"1\"} 1\n";

#[tokio::test]
async fn honor_labels_false_moves_clashing_labels_to_exported() {
    let server = serve(|_, _| ok(CLASH)).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    let res = attrs(&b[0].resources()[0].resource.as_ref().unwrap().attributes);
    assert_eq!(res["service.name"], "app");
    let p = &points(&metric(&b[0], "m").unwrap())[0].0;
    let expect: BTreeMap<String, String> = [
        ("a", "1"),
        ("env", "prod"),
        ("exported_job", "x"),
        ("exported_exported_job", "other"),
        ("exported_instance", "i"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(p, &expect);
    stop(r).await;
}

#[tokio::test]
async fn honor_labels_true_keeps_scraped_labels() {
    let server = serve(|_, _| ok(CLASH)).await;
    let sink = sink(false);
    let r = start(server.addr, "", "  honor_labels: true\n", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    let resources = b[0].resources();
    let m = resources.iter().find(|r| metric_in(r, "m")).unwrap();
    let res = attrs(&m.resource.as_ref().unwrap().attributes);
    assert_eq!(
        (
            res["service.name"].as_str(),
            res["service.instance.id"].as_str()
        ),
        ("other", "i")
    );
    let p = &points(&metric(&b[0], "m").unwrap())[0].0;
    assert_eq!(p["env"], "prod", "absent target labels are filled");
    assert_eq!(p["exported_job"], "x");
    assert!(!p.contains_key("exported_exported_job"));
    stop(r).await;
}

fn metric_in(r: &opentelemetry_proto::tonic::metrics::v1::ResourceMetrics, name: &str) -> bool {
    r.scope_metrics
        .iter()
        .any(|s| s.metrics.iter().any(|m| m.name == name))
}

#[tokio::test]
async fn external_labels_overwrite_and_reach_report_series() {
    let server = serve(|_, _| ok("m{env=\"sample\"} 1\n")).await;
    let sink = sink(false);
    let r = start(
        server.addr,
        "external_labels: {cluster: c1, env: ext}",
        "",
        &sink,
    );
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    let p = &points(&metric(&b[0], "m").unwrap())[0].0;
    assert_eq!(
        (
            p["env"].as_str(),
            p["exported_env"].as_str(),
            p["cluster"].as_str()
        ),
        ("ext", "sample", "c1")
    );
    let u = &points(&metric(&b[0], "up").unwrap())[0].0;
    assert_eq!((u["cluster"].as_str(), u["env"].as_str()), ("c1", "ext"));
    stop(r).await;
}

#[tokio::test]
async fn metric_relabel_drops_and_replaces_but_not_report_series() {
    let server = serve(|_, _| ok("drop_me 1\nreq_total{path=\"/api/users\"} 5\n")).await;
    let sink = sink(false);
    let rules = "  metric_relabel_configs:\n  - {source_labels: [__name__], regex: 'drop_me|up', action: drop}\n  \
                 - {source_labels: [path], regex: '/api/(.*)', target_label: endpoint, replacement: '$1'}\n";
    let r = start(server.addr, "", rules, &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert!(metric(&b[0], "drop_me").is_none());
    assert_eq!(
        points(&metric(&b[0], "req_total").unwrap())[0].0["endpoint"],
        "users"
    );
    assert_eq!(up(&b[0]), Some(1.0));
    assert_eq!(value(&b[0], "scrape_samples_scraped"), Some(2.0));
    assert_eq!(
        value(&b[0], "scrape_samples_post_metric_relabeling"),
        Some(1.0)
    );
    stop(r).await;
}

#[tokio::test]
async fn a_gzip_body_is_decoded() {
    let server = serve(|_, _| Reply {
        gzip: true,
        body: gzip(b"m{a=\"1\"} 42\n"),
        ..ok("")
    })
    .await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(value(&b[0], "m"), Some(42.0));
    assert_eq!(up(&b[0]), Some(1.0));
    stop(r).await;
}

#[tokio::test]
async fn bearer_credentials_file_is_reread_every_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "t1\n").unwrap();
    let expected = Arc::new(Mutex::new("Bearer t1".to_string()));
    let exp = Arc::clone(&expected);
    let server = serve(move |h, _| {
        let want = exp.lock().unwrap().clone();
        if h.get("authorization").is_some_and(|v| v == want.as_str()) {
            ok("m 1\n")
        } else {
            Reply {
                status: 401,
                ..ok("no")
            }
        }
    })
    .await;
    let sink = sink(false);
    let job = format!("  authorization: {{credentials_file: {:?}}}\n", path);
    let r = start(server.addr, "", &job, &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(1.0));
    std::fs::write(&path, "t2").unwrap();
    *expected.lock().unwrap() = "Bearer t2".into();
    let n = sink.batches.lock().unwrap().len();
    wait_for(&sink, "a scrape with the new token", |b| {
        b.len() > n + 1 && up(b.last().unwrap()) == Some(1.0)
    })
    .await;
    let seen = server.requests.lock().unwrap().clone();
    assert!(seen.iter().any(|h| h["authorization"] == "Bearer t2"));
    stop(r).await;
}

#[tokio::test]
async fn a_sample_with_duplicate_label_names_is_rejected_alone() {
    let server = serve(|_, _| ok("a{x=\"1\",x=\"2\"} 1\nb 2\n")).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert!(metric(&b[0], "a").is_none());
    assert_eq!(value(&b[0], "b"), Some(2.0));
    assert_eq!(up(&b[0]), Some(1.0));
    assert_eq!(value(&b[0], "scrape_samples_scraped"), Some(2.0));
    assert_eq!(
        value(&b[0], "scrape_samples_post_metric_relabeling"),
        Some(1.0)
    );
    stop(r).await;
}

mod failures;
mod tls;

/// The per-series cache must follow what changes between scrapes: a family's type, a series
/// written differently, a series that goes away, a series that relabeling drops.
#[tokio::test]
async fn cached_series_follow_type_changes_respellings_and_removals() {
    let server = serve(|_, n| {
        ok(match n {
            0 => "# TYPE m gauge\nm{a=\"1\"} 1\ndrop_me 1\nx{b=\"2\"} 3\n",
            1 => "# TYPE m counter\nm{a=\"1\"} 2\ndrop_me 1\nx{ b=\"2\" } 4\n",
            _ => "m{a=\"1\"} 3\ndrop_me 1\n",
        })
    })
    .await;
    let sink = sink(false);
    let rules =
        "  metric_relabel_configs:\n  - {source_labels: [__name__], regex: drop_me, action: drop}\n";
    let r = start(server.addr, "", rules, &sink);
    let b = wait_for(&sink, "three scrapes", |b| b.len() >= 3).await;
    let kind = |b: &Batch<Metrics>| match metric(b, "m").and_then(|m| m.data) {
        Some(metric::Data::Gauge(_)) => "gauge",
        Some(metric::Data::Sum(_)) => "sum",
        _ => "none",
    };
    assert_eq!(
        [kind(&b[0]), kind(&b[1]), kind(&b[2])],
        ["gauge", "sum", "gauge"]
    );
    assert_eq!(value(&b[1], "m"), Some(2.0));
    // The respelled `x` is the same series: its value, no new series, no stale marker.
    assert_eq!(
        points(&metric(&b[1], "x").unwrap()),
        vec![(attrs_of(&[("b", "2"), ("env", "prod")]), Some(4.0), 0)]
    );
    assert_eq!(value(&b[0], "scrape_series_added"), Some(2.0));
    assert_eq!(value(&b[1], "scrape_series_added"), Some(0.0));
    // Gone in the third scrape: one stale marker.
    assert_eq!(
        points(&metric(&b[2], "x").unwrap()),
        vec![(attrs_of(&[("b", "2"), ("env", "prod")]), None, 1)]
    );
    for (batch, kept) in b[..3].iter().zip([2.0, 2.0, 1.0]) {
        assert!(metric(batch, "drop_me").is_none());
        assert_eq!(
            value(batch, "scrape_samples_post_metric_relabeling"),
            Some(kept)
        );
    }
    stop(r).await;
}

fn attrs_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
