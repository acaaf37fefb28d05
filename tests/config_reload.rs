//! Hot reload end to end, over real loopback sockets, against the real binary: a client
//! streams numbered OTLP metric points over gRPC while the config (a Kubernetes
//! ConfigMap-style directory: `config.yaml -> ..data/config.yaml`, `..data -> ..vN`) is
//! reloaded twelve times by `..data` swaps, SIGHUP and `POST /-/reload`: batch settings
//! changed, an exporter added then removed, a processor added, the OTLP receiver's HTTP
//! endpoint changed, a scrape job added, a relabel rule changed and reverted, an exporter's
//! settings changed (queue handed over), and three bad configs (invalid YAML, an unknown
//! component, a port already taken). Afterwards every accepted point reached every exporter
//! configured for it exactly once, the client never saw a refused connection, the process
//! never exited, the reload counters match, and a scrape target that stayed in the config was
//! scraped on its cadence with no gap, no duplicate `up` and no staleness marker.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use support::data;
use support::process::Collector;
use support::sink::Sink;
use support::{free_port, wait_for};

/// Points per request and the pause between requests of the stream.
const POINTS_PER_REQUEST: i64 = 20;
const STREAM_PAUSE: Duration = Duration::from_millis(15);
/// Upper bound on the stream, whatever happens.
const STREAM_MAX: Duration = Duration::from_secs(120);

/// A ConfigMap volume as the kubelet writes it.
struct ConfigMap {
    root: PathBuf,
    version: usize,
}

impl ConfigMap {
    fn new(root: &Path, yaml: &str) -> Self {
        std::fs::create_dir(root.join("..v0")).unwrap();
        std::fs::write(root.join("..v0/config.yaml"), yaml).unwrap();
        std::os::unix::fs::symlink("..v0", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/config.yaml", root.join("config.yaml")).unwrap();
        Self {
            root: root.to_path_buf(),
            version: 0,
        }
    }

    fn path(&self) -> PathBuf {
        self.root.join("config.yaml")
    }

    /// The kubelet's atomic update: new timestamped dir, `..data_tmp` renamed over `..data`,
    /// old dir removed.
    fn update(&mut self, yaml: &str) {
        let old = format!("..v{}", self.version);
        self.version += 1;
        let new = format!("..v{}", self.version);
        std::fs::create_dir(self.root.join(&new)).unwrap();
        std::fs::write(self.root.join(&new).join("config.yaml"), yaml).unwrap();
        std::os::unix::fs::symlink(&new, self.root.join("..data_tmp")).unwrap();
        std::fs::rename(self.root.join("..data_tmp"), self.root.join("..data")).unwrap();
        std::fs::remove_dir_all(self.root.join(old)).unwrap();
    }
}

/// A scrape target serving one counter; counts its scrapes.
async fn scrape_target() -> (u16, Arc<Mutex<usize>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(Mutex::new(0usize));
    let h = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let h = Arc::clone(&h);
            async move {
                *h.lock().unwrap() += 1;
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    "# TYPE demo_requests_total counter\ndemo_requests_total 7\n",
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (port, hits)
}

/// The knobs the reloads turn.
#[derive(Clone)]
struct Cfg {
    grpc: u16,
    http: u16,
    metrics: u16,
    sink_a: u16,
    sink_b: u16,
    t1: u16,
    t2: u16,
    t3: u16,
    batch_timeout: &'static str,
    with_b: bool,
    with_limiter: bool,
    drop_t2: bool,
    added_job: bool,
    a_timeout: &'static str,
    /// Extra receivers (YAML under `receivers:`) and their IDs for the pipeline.
    extra_receivers: String,
    extra_ids: String,
    /// An extra exporter ID in the pipeline (unknown component case).
    extra_exporter: &'static str,
}

impl Cfg {
    fn render(&self) -> String {
        let relabel = if self.drop_t2 {
            format!(
                "          relabel_configs:\n            - {{source_labels: [__address__], regex: \"127.0.0.1:{}\", action: drop}}\n",
                self.t2
            )
        } else {
            String::new()
        };
        let added = if self.added_job {
            format!(
                "        - job_name: added\n          scrape_interval: 1s\n          scrape_timeout: 500ms\n          static_configs: [{{targets: [\"127.0.0.1:{}\"]}}]\n",
                self.t3
            )
        } else {
            String::new()
        };
        let procs = if self.with_limiter {
            "[memory_limiter, batch]"
        } else {
            "[batch]"
        };
        let mut exporters = "otlp/a".to_string();
        if self.with_b {
            exporters.push_str(", otlp/b");
        }
        exporters.push_str(self.extra_exporter);
        format!(
            r#"receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
  prometheus:
    config:
      scrape_configs:
        - job_name: steady
          scrape_interval: 1s
          scrape_timeout: 500ms
          static_configs: [{{targets: ["127.0.0.1:{t1}", "127.0.0.1:{t2}"]}}]
{relabel}{added}{extra_receivers}
processors:
  batch: {{timeout: {bt}, send_batch_size: 200}}
  memory_limiter: {{check_interval: 1s, limit_mib: 4000, spike_limit_mib: 500}}
exporters:
  otlp/a:
    endpoint: "127.0.0.1:{sa}"
    tls: {{insecure: true}}
    timeout: {at}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms}}
  otlp/b:
    endpoint: "127.0.0.1:{sb}"
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 50ms, max_interval: 200ms}}
service:
  pipelines:
    metrics:
      receivers: [otlp, prometheus{extra_ids}]
      processors: {procs}
      exporters: [{exporters}]
  telemetry:
    metrics:
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {mp}}}}}}}
"#,
            grpc = self.grpc,
            http = self.http,
            t1 = self.t1,
            t2 = self.t2,
            extra_receivers = self.extra_receivers,
            extra_ids = self.extra_ids,
            bt = self.batch_timeout,
            sa = self.sink_a,
            sb = self.sink_b,
            at = self.a_timeout,
            mp = self.metrics,
        )
    }
}

/// One request of the stream and what the client saw.
struct Sent {
    first: i64,
    sent_at: Instant,
    acked_at: Instant,
    error: Option<String>,
    /// Retries after a CANCELLED transport race (see `stream`).
    retries: u32,
}

async fn stream(port: u16, stop: Arc<AtomicBool>) -> Vec<Sent> {
    let mut client = MetricsServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect");
    let mut out = Vec::new();
    let start = Instant::now();
    let mut n = 0i64;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < STREAM_MAX {
        let sent_at = Instant::now();
        let mut res = client
            .export(data::metrics("stream", n..n + POINTS_PER_REQUEST))
            .await;
        let mut retries = 0;
        // A call racing the GOAWAY of a receiver being replaced (its other protocol changed)
        // fails with CANCELLED "connection closed" before it was sent; OTLP clients retry
        // CANCELLED, so this one does too (at most twice). A retried call that had in fact
        // been accepted would show up below as a duplicate point.
        while retries < 2
            && res.as_ref().is_err_and(|e| {
                e.code() == tonic::Code::Cancelled && format!("{e:?}").contains("connection closed")
            })
        {
            retries += 1;
            res = client
                .export(data::metrics("stream", n..n + POINTS_PER_REQUEST))
                .await;
        }
        out.push(Sent {
            first: n,
            sent_at,
            acked_at: Instant::now(),
            error: res.err().map(|e| format!("{e:?}")),
            retries,
        });
        n += POINTS_PER_REQUEST;
        tokio::time::sleep(STREAM_PAUSE).await;
    }
    out
}

/// Number -> how many times it arrived, over the `stream` service's points.
fn stream_counts(reqs: &[ExportMetricsServiceRequest]) -> HashMap<i64, usize> {
    let mut m = HashMap::new();
    for (svc, v) in data::metric_points(reqs) {
        if svc == "stream" {
            *m.entry(v).or_insert(0) += 1;
        }
    }
    m
}

fn attr(r: &opentelemetry_proto::tonic::resource::v1::Resource, key: &str) -> String {
    support::points::string_attr(&r.attributes, key)
}

/// Every scraped point of `instance`: (metric name, time in ns, stale, value).
fn scraped(reqs: &[ExportMetricsServiceRequest], instance: &str) -> Vec<(String, u64, bool, f64)> {
    let mut out = Vec::new();
    for r in reqs {
        for rm in &r.resource_metrics {
            let Some(res) = &rm.resource else { continue };
            if attr(res, "service.instance.id") != instance {
                continue;
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let value = |v: &Option<number_data_point::Value>| match v {
                        Some(number_data_point::Value::AsDouble(d)) => *d,
                        Some(number_data_point::Value::AsInt(i)) => *i as f64,
                        None => f64::NAN,
                    };
                    let points: Vec<(u64, u32, f64)> = match &m.data {
                        Some(metric::Data::Gauge(g)) => g
                            .data_points
                            .iter()
                            .map(|p| (p.time_unix_nano, p.flags, value(&p.value)))
                            .collect(),
                        Some(metric::Data::Sum(s)) => s
                            .data_points
                            .iter()
                            .map(|p| (p.time_unix_nano, p.flags, value(&p.value)))
                            .collect(),
                        _ => Vec::new(),
                    };
                    for (t, flags, v) in points {
                        out.push((m.name.clone(), t, flags & 1 == 1, v));
                    }
                }
            }
        }
    }
    out
}

/// `up` values of `instance` (for the sanity check that scraping ran).
fn up_values(reqs: &[ExportMetricsServiceRequest], instance: &str) -> usize {
    let mut n = 0;
    for r in reqs {
        for rm in &r.resource_metrics {
            let Some(res) = &rm.resource else { continue };
            if attr(res, "service.instance.id") != instance {
                continue;
            }
            for sm in &rm.scope_metrics {
                for m in sm.metrics.iter().filter(|m| m.name == "up") {
                    if let Some(metric::Data::Gauge(g)) = &m.data {
                        n += g
                            .data_points
                            .iter()
                            .filter(|p| p.value == Some(number_data_point::Value::AsDouble(1.0)))
                            .count();
                    }
                }
            }
        }
    }
    n
}

async fn reload_total(c: &Collector) -> f64 {
    c.metric("ferrocol_config_reloads_total", &[]).await
}

/// Waits until the reload counter reaches `n`.
async fn wait_reloads(c: &Collector, n: f64) {
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if reload_total(c).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reload {n} was not seen:\n{}", c.stderr());
}

async fn post_reload(admin: u16) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{admin}/-/reload"))
        .send()
        .await
        .expect("admin endpoint");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

enum How {
    Swap,
    Hup,
    Http,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_load_lose_nothing_and_keep_unchanged_parts_running() {
    support::init();
    let sink_a = Sink::start().await;
    let sink_b = Sink::start().await;
    let (t1, t1_hits) = scrape_target().await;
    let (t2, _) = scrape_target().await;
    let (t3, _) = scrape_target().await;
    let admin = free_port();
    let mut cfg = Cfg {
        grpc: free_port(),
        http: free_port(),
        metrics: free_port(),
        sink_a: sink_a.grpc_addr.port(),
        sink_b: sink_b.grpc_addr.port(),
        t1,
        t2,
        t3,
        batch_timeout: "200ms",
        with_b: false,
        with_limiter: false,
        drop_t2: false,
        added_job: false,
        a_timeout: "5s",
        extra_receivers: String::new(),
        extra_ids: String::new(),
        extra_exporter: "",
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cm = ConfigMap::new(dir.path(), &cfg.render());
    let admin_arg = format!("127.0.0.1:{admin}");
    let mut col =
        Collector::start_at(&cm.path(), cfg.metrics, &["--admin-endpoint", &admin_arg]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let streamer = tokio::spawn(stream(cfg.grpc, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A port held by someone else, for the "port already taken" step.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let spare_port = free_port();

    let mut applied = 0.0;
    let mut b_on = None;
    let mut b_off = None;
    let mut http_answers = Vec::new();
    let apply = |col: &mut Collector, cm: &mut ConfigMap, how: How, yaml: String| {
        cm.update(&yaml);
        if let How::Hup = how {
            col.signal("HUP");
        }
        how
    };
    // (description, change, trigger, succeeds)
    type Step = (&'static str, fn(&mut Cfg, u16, u16), How, bool);
    let steps: Vec<Step> = vec![
        (
            "batch settings changed",
            |c, _, _| c.batch_timeout = "400ms",
            How::Swap,
            true,
        ),
        ("exporter added", |c, _, _| c.with_b = true, How::Hup, true),
        (
            "processor added",
            |c, _, _| c.with_limiter = true,
            How::Http,
            true,
        ),
        ("invalid YAML", |_, _, _| {}, How::Swap, false),
        (
            "OTLP HTTP endpoint changed",
            |c, _, _| c.http = free_port(),
            How::Hup,
            true,
        ),
        (
            "scrape job added",
            |c, _, _| c.added_job = true,
            How::Http,
            true,
        ),
        (
            "relabel rule changed",
            |c, _, _| c.drop_t2 = true,
            How::Swap,
            true,
        ),
        (
            "unknown component",
            |c, _, _| c.extra_exporter = ", nosuch",
            How::Hup,
            false,
        ),
        (
            "port already taken",
            |c, taken, spare| {
                c.extra_receivers = format!(
                    "  otlp/new: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:{spare}\"}}}}}}\n  otlp/taken: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:{taken}\"}}}}}}\n"
                );
                c.extra_ids = ", otlp/new, otlp/taken".into();
            },
            How::Http,
            false,
        ),
        (
            "exporter removed, another's settings changed",
            |c, _, _| {
                c.with_b = false;
                c.a_timeout = "6s";
            },
            How::Swap,
            true,
        ),
        (
            "relabel rule reverted",
            |c, _, _| c.drop_t2 = false,
            How::Hup,
            true,
        ),
        ("unchanged config", |_, _, _| {}, How::Http, true),
    ];
    let mut successes = 0.0;
    let mut failures = 0.0;
    for (i, (what, change, how, ok)) in steps.into_iter().enumerate() {
        // Bad steps are applied to a copy: the next step starts from the last good config.
        let mut next = cfg.clone();
        change(&mut next, taken_port, spare_port);
        let yaml = if what == "invalid YAML" {
            "receivers: [otlp\n  exporters: {{{".to_string()
        } else {
            next.render()
        };
        if what.starts_with("exporter removed") {
            b_off = Some(Instant::now());
        }
        let how = apply(&mut col, &mut cm, how, yaml);
        applied += 1.0;
        if let How::Http = how {
            let (status, body) = post_reload(admin).await;
            http_answers.push((what, status, body.clone()));
            assert_eq!(status == 200, ok, "step {i} ({what}): {status} {body}");
        }
        wait_reloads(&col, applied).await;
        if ok {
            successes += 1.0;
            cfg = next;
        } else {
            failures += 1.0;
        }
        let seen_failures = col
            .metric("ferrocol_config_reloads_total", &["result=\"failure\""])
            .await;
        assert_eq!(
            seen_failures,
            failures,
            "step {i} ({what}):\n{}",
            col.stderr()
        );
        if what == "exporter added" {
            b_on = Some(Instant::now());
        }
        if what == "port already taken" {
            // What the failed reload had built was rolled back: the spare port is free again.
            assert!(
                std::net::TcpListener::bind(("127.0.0.1", spare_port)).is_ok(),
                "the rolled-back receiver still holds its port"
            );
        }
        assert!(
            col.is_running(),
            "ferrocol exited at step {i} ({what}):\n{}",
            col.stderr()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    drop(taken);
    stop.store(true, Ordering::Relaxed);
    let sent = streamer.await.unwrap();

    // The reload counters match the steps.
    assert_eq!(
        col.metric("ferrocol_config_reloads_total", &["result=\"success\""])
            .await,
        successes
    );
    assert_eq!(
        col.metric("ferrocol_config_reloads_total", &["result=\"failure\""])
            .await,
        failures
    );
    assert_eq!(
        col.metric("ferrocol_config_last_reload_successful", &[])
            .await,
        1.0
    );
    assert!(
        col.metric("ferrocol_config_last_reload_success_timestamp_seconds", &[])
            .await
            > 1.7e9
    );
    let log = col.stderr();
    assert!(log.contains("Config reloaded."), "{log}");
    assert!(log.contains("the new config is invalid"), "{log}");
    assert!(log.contains("rolled back"), "{log}");

    // The client never saw a refused connection; count any other error.
    let refused = sent
        .iter()
        .filter(|s| {
            s.error
                .as_deref()
                .is_some_and(|e| e.contains("onnection refused") || e.contains("ConnectionRefused"))
        })
        .count();
    assert_eq!(refused, 0, "connections refused on an unchanged endpoint");
    let errors: Vec<&Sent> = sent.iter().filter(|s| s.error.is_some()).collect();
    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.error.is_none()).collect();
    let accepted_points = accepted.len() as i64 * POINTS_PER_REQUEST;

    // Every accepted point reaches otlp/a exactly once.
    let complete = wait_for(Duration::from_secs(20), || {
        let counts = stream_counts(&sink_a.rec().metrics);
        accepted
            .iter()
            .all(|s| (s.first..s.first + POINTS_PER_REQUEST).all(|n| counts.contains_key(&n)))
            .then_some(())
    })
    .await;
    let counts_a = stream_counts(&sink_a.rec().metrics);
    let missing: Vec<i64> = accepted
        .iter()
        .flat_map(|s| s.first..s.first + POINTS_PER_REQUEST)
        .filter(|n| !counts_a.contains_key(n))
        .collect();
    assert!(
        complete.is_some() && missing.is_empty(),
        "{} accepted points never reached otlp/a (first: {:?})",
        missing.len(),
        missing.first()
    );
    let dup_a: Vec<(&i64, &usize)> = counts_a.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        dup_a.is_empty(),
        "points duplicated at otlp/a: {:?}",
        dup_a.first()
    );

    // otlp/b got exactly once every point accepted while it was configured.
    let (b_on, b_off) = (b_on.unwrap(), b_off.unwrap());
    let counts_b = stream_counts(&sink_b.rec().metrics);
    let in_window: Vec<&&Sent> = accepted
        .iter()
        .filter(|s| s.sent_at > b_on && s.acked_at < b_off)
        .collect();
    assert!(
        in_window.len() > 100,
        "too few requests while otlp/b was configured"
    );
    let missing_b = in_window
        .iter()
        .flat_map(|s| s.first..s.first + POINTS_PER_REQUEST)
        .filter(|n| !counts_b.contains_key(n))
        .count();
    assert_eq!(
        missing_b, 0,
        "points accepted while otlp/b was configured never reached it"
    );
    assert!(
        counts_b.values().all(|c| *c == 1),
        "points duplicated at otlp/b"
    );

    // The scrape target that stayed: on cadence, no gap, no duplicate, no staleness.
    let reqs = sink_a.rec().metrics.clone();
    let t1_points = scraped(&reqs, &format!("127.0.0.1:{t1}"));
    let mut up_times: Vec<u64> = t1_points
        .iter()
        .filter(|(n, _, stale, _)| n == "up" && !stale)
        .map(|(_, t, _, _)| *t)
        .collect();
    up_times.sort();
    assert!(
        up_times.len() >= 20,
        "too few scrapes of the steady target: {}",
        up_times.len()
    );
    for w in up_times.windows(2) {
        let gap = (w[1] - w[0]) as f64 / 1e9;
        assert!(
            (0.5..=1.5).contains(&gap),
            "steady target scraped {gap:.3}s after the previous scrape (gap or duplicate)"
        );
    }
    let stale_t1 = t1_points.iter().filter(|(_, _, s, _)| *s).count();
    assert_eq!(stale_t1, 0, "staleness markers for a target that stayed");
    // Its loop kept its series state: only its very first scrape added series.
    let mut added: Vec<(u64, f64)> = t1_points
        .iter()
        .filter(|(n, _, _, _)| n == "scrape_series_added")
        .map(|(_, t, _, v)| (*t, *v))
        .collect();
    added.sort_by_key(|(t, _)| *t);
    assert!(added.first().is_some_and(|(_, v)| *v > 0.0), "{added:?}");
    assert!(
        added.iter().skip(1).all(|(_, v)| *v == 0.0),
        "the steady target's loop restarted (series added again): {added:?}"
    );
    let hits = *t1_hits.lock().unwrap();
    assert!(
        hits.abs_diff(up_times.len()) <= 2,
        "target served {hits} scrapes, {} up points",
        up_times.len()
    );
    // The target dropped by the relabel rule went stale; the added job was scraped.
    let t2_points = scraped(&reqs, &format!("127.0.0.1:{t2}"));
    assert!(
        t2_points.iter().any(|(_, _, s, _)| *s),
        "the dropped target did not go stale"
    );
    assert!(
        up_values(&reqs, &format!("127.0.0.1:{t3}")) >= 3,
        "the added job was not scraped"
    );

    assert!(col.is_running(), "ferrocol exited:\n{}", col.stderr());
    let status = col.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    eprintln!(
        "reload acceptance: {} requests ({} points accepted, {} errors: {:?}, {} retried after a transport race); otlp/a got {} distinct points, otlp/b {} ({} requests in its window); reloads {} ok / {} failed; steady target {} scrapes; admin answers {:?}",
        sent.len(),
        accepted_points,
        errors.len(),
        errors.first().and_then(|e| e.error.clone()),
        sent.iter().map(|s| s.retries).sum::<u32>(),
        counts_a.len(),
        counts_b.len(),
        in_window.len(),
        successes,
        failures,
        up_times.len(),
        http_answers.iter().map(|(w, s, _)| (*w, *s)).collect::<Vec<_>>()
    );
    assert!(
        errors.is_empty(),
        "the client saw errors during the reloads"
    );
}
