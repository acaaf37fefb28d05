//! Failure and staleness tests of the scrape loop: timeouts, unreachable targets, body and
//! sample limits (a gzip bomb included), HTML answers, label limits, error statuses, series
//! and targets that disappear, a pipeline that refuses the data, and one so slow that
//! scrapes overrun their interval.

use super::*;

fn stale(b: &Batch<Metrics>, name: &str) -> bool {
    metric(b, name).is_some_and(|m| points(&m).iter().all(|p| p.1.is_none() && p.2 == 1))
}

#[tokio::test]
async fn a_slow_target_times_out_and_is_down() {
    let server = serve(|_, _| Reply {
        delay: Duration::from_secs(2),
        ..ok("m 1\n")
    })
    .await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a failed scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    assert_eq!(value(&b[0], "scrape_samples_scraped"), Some(0.0));
    let h = health(&r);
    assert_eq!(h.health, Health::Down);
    assert!(
        h.last_error.contains("context deadline exceeded")
            && h.last_error.contains(&server.addr.to_string()),
        "{}",
        h.last_error
    );
    let failures = [
        ("receiver", "prometheus"),
        ("job", "app"),
        ("result", "failure"),
    ];
    assert!(
        sink.metrics
            .value("ferrocol_prometheus_scrapes_total", &failures)
            >= Some(1.0)
    );
    stop(r).await;
}

#[tokio::test]
async fn an_unreachable_target_is_down_with_the_cause() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let sink = sink(false);
    let r = start(addr, "", "", &sink);
    let b = wait_for(&sink, "a failed scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    let e = health(&r).last_error;
    assert!(
        e.starts_with(&format!("Get \"http://{addr}/metrics\": ")),
        "{e}"
    );
    stop(r).await;
}

#[tokio::test]
async fn body_size_limit_fails_the_scrape() {
    let big = "m{a=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n".repeat(200);
    let server = serve(move |_, _| ok(&big)).await;
    let sink = sink(false);
    let r = start(server.addr, "", "  body_size_limit: 1KB\n", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    assert!(metric(&b[0], "m").is_none());
    assert_eq!(health(&r).last_error, "body size limit exceeded");
    stop(r).await;
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_body_size_limit() {
    let bomb = Arc::new(gzip(&vec![b'0'; 8 << 20]));
    assert!(bomb.len() < 64 << 10, "compresses well: {}", bomb.len());
    let server = serve(move |_, _| Reply {
        gzip: true,
        body: bomb.to_vec(),
        ..ok("")
    })
    .await;
    let sink = sink(false);
    let r = start(server.addr, "", "  body_size_limit: 256KB\n", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    assert_eq!(health(&r).last_error, "body size limit exceeded");
    stop(r).await;
}

#[tokio::test]
async fn sample_limit_exceeded_fails_the_whole_scrape() {
    let server = serve(|_, _| ok("a 1\nb 2\nc 3\nd 4\ne 5\n")).await;
    let sink = sink(false);
    let r = start(server.addr, "", "  sample_limit: 2\n", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    assert_eq!(value(&b[0], "scrape_samples_scraped"), Some(5.0));
    for name in ["a", "b", "c"] {
        assert!(metric(&b[0], name).is_none(), "{name} was dropped");
    }
    assert_eq!(health(&r).last_error, "sample limit exceeded");
    stop(r).await;
}

#[tokio::test]
async fn an_html_answer_fails_with_a_parse_error_naming_line_1() {
    let server = serve(|_, _| Reply {
        content_type: "text/html; charset=utf-8",
        ..ok("<!DOCTYPE html>\n<html><body>login</body></html>\n")
    })
    .await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(up(&b[0]), Some(0.0));
    let e = health(&r).last_error;
    assert!(e.contains("line 1:") && e.contains("text/html"), "{e}");
    stop(r).await;
}

#[tokio::test]
async fn label_limit_fails_the_scrape() {
    let server = serve(|_, _| ok("m{a=\"1\",b=\"2\",c=\"3\"} 1\n")).await;
    let sink = sink(false);
    let r = start(server.addr, "", "  label_limit: 3\n", &sink);
    wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    assert_eq!(
        health(&r).last_error,
        "label_limit exceeded (metric: m, number of labels: 7, limit: 3)"
    );
    stop(r).await;
}

#[tokio::test]
async fn an_error_status_after_success_marks_previous_series_stale() {
    let server = serve(|_, n| {
        if n == 0 {
            ok("a 1\nb 2\n")
        } else {
            Reply {
                status: 503,
                ..ok("unavailable")
            }
        }
    })
    .await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "a failed scrape", |b| b.len() >= 2).await;
    assert_eq!(up(&b[0]), Some(1.0));
    assert_eq!(up(&b[1]), Some(0.0));
    assert!(stale(&b[1], "a") && stale(&b[1], "b"));
    assert_eq!(
        health(&r).last_error,
        "server returned HTTP status 503 Service Unavailable"
    );
    // Nothing left to mark on the next failure.
    let b = wait_for(&sink, "a second failure", |b| b.len() >= 3).await;
    assert!(metric(&b[2], "a").is_none());
    stop(r).await;
}

#[tokio::test]
async fn a_disappearing_series_gets_a_stale_marker() {
    let server = serve(|_, n| ok(if n == 0 { "a 1\nb 2\n" } else { "a 1\n" })).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "two scrapes", |b| b.len() >= 3).await;
    assert!(!stale(&b[0], "b"));
    assert!(stale(&b[1], "b"), "b is marked stale once");
    assert_eq!(value(&b[1], "a"), Some(1.0));
    assert_eq!(up(&b[1]), Some(1.0));
    assert!(metric(&b[2], "b").is_none());
    stop(r).await;
}

#[tokio::test]
async fn a_gone_target_marks_everything_stale_at_stop() {
    let body = "a 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3\n";
    let server = serve(move |_, _| ok(body)).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    r.gone.store(true, Ordering::SeqCst);
    stop(r).await;
    let batches = sink.batches.lock().unwrap().clone();
    let last = batches.last().unwrap();
    for name in REPORT_NAMES.iter().chain(&["a"]) {
        assert!(stale(last, name), "{name} is stale");
    }
    let Some(metric::Data::Histogram(h)) = &metric(last, "h").unwrap().data else {
        panic!("histogram")
    };
    assert_eq!((h.data_points[0].flags, h.data_points[0].count), (1, 0));
}

#[tokio::test]
async fn a_refusing_pipeline_counts_dropped_scrapes() {
    let server = serve(|_, _| ok("m 1\n")).await;
    let sink = sink(true);
    let r = start(server.addr, "", "", &sink);
    wait_for(&sink, "a scrape", |b| !b.is_empty()).await;
    let labels = [("receiver", "prometheus"), ("job", "app")];
    for _ in 0..100 {
        if sink
            .metrics
            .value("ferrocol_prometheus_scrapes_dropped", &labels)
            >= Some(1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sink.metrics
            .value("ferrocol_prometheus_scrapes_dropped", &labels)
            >= Some(1.0)
    );
    assert_eq!(health(&r).health, Health::Up, "the scrape itself succeeded");
    stop(r).await;
}

#[tokio::test]
async fn an_overrunning_scrape_skips_ticks_and_counts_them() {
    let server = serve(|_, _| ok("m 1\n")).await;
    let sink = sink_with(false, Duration::from_millis(1000));
    let r = start(server.addr, "", "", &sink);
    let labels = [("receiver", "prometheus"), ("job", "app")];
    let mut skipped = None;
    for _ in 0..250 {
        skipped = sink
            .metrics
            .value("ferrocol_prometheus_scrapes_skipped", &labels);
        if skipped >= Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(skipped >= Some(1.0), "{skipped:?}");
    r.stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), r.handle)
        .await
        .expect("the loop ends once the pipeline acknowledges")
        .unwrap();
}

fn histogram_flags(b: &Batch<Metrics>, name: &str) -> Vec<(u32, Vec<f64>)> {
    match metric(b, name).and_then(|m| m.data) {
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (p.flags, p.explicit_bounds.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn histograms_go_stale_whole_but_not_for_a_vanished_bucket() {
    let full = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_count 3\nh_sum 4\n\
                # TYPE g histogram\ng_bucket{le=\"1\"} 1\ng_bucket{le=\"+Inf\"} 1\ng_count 1\ng_sum 1\n";
    let fewer =
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_count 3\nh_sum 4\n";
    let server = serve(move |_, n| ok(if n == 0 { full } else { fewer })).await;
    let sink = sink(false);
    let r = start(server.addr, "", "", &sink);
    let b = wait_for(&sink, "two scrapes", |b| b.len() >= 2).await;
    assert_eq!(
        histogram_flags(&b[1], "h"),
        vec![(0, vec![1.0])],
        "h is live"
    );
    assert_eq!(
        histogram_flags(&b[1], "g"),
        vec![(1, vec![1.0])],
        "g went away: stale, bounds kept"
    );
    stop(r).await;
}
