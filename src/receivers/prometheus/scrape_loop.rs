//! One target's scrape loop, with Prometheus's scrape semantics and otelcol's appender:
//! wait the target's hash-based offset, then every interval fetch (`scrape_http`), parse
//! (`exposition`), build each sample's labels (target labels merged per `honor_labels`,
//! `metric_relabel_configs`, label and sample limits, then otelcol's external labels), convert
//! to OTLP (`convert`) together with the report series (`up`, `scrape_duration_seconds`,
//! `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`, `scrape_series_added`)
//! and push one batch per scrape into the pipelines.
//!
//! Per-series work is cached (`series_cache`): a series whose text was seen in the last scrape
//! skips label building, relabeling, the checks and attribute conversion.
//!
//! Staleness (`staleness`): series that disappear between two successful scrapes, every series
//! of the last successful scrape when a scrape fails, and, when the target went away, every
//! series plus the report series at the end of the run, get stale markers. The series set
//! holds only hashes; gone series are converted from their cache entries. A failed scrape
//! (HTTP error, timeout, body or sample limit, parse error, label limit) sends `up` = 0 and is
//! logged at WARN (rate-limited per target) with the URL and reason; the targets API reads
//! `TargetHealth`.
//!
//! Deliberately not done: native histograms and the protobuf format (not requested in
//! `Accept`), `scrape_failure_log_file`, extra scrape metrics, and per-sample out-of-order
//! checks (there is no TSDB; a series repeated within one scrape keeps its first sample).

use std::collections::HashSet;

use super::prehashed::HashSetKeyed;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use super::body_pool::BODIES;
use super::convert::{
    is_stale, Converter, EncodedAttrs, ExemplarIn, Metadata, PreparedSeries, StaleRole,
    TargetResource, STALE_NAN_BITS,
};
use super::promconfig::ScrapeConfig;
use super::sample_labels::{fmt_labels, SampleLabels};
use super::scrape_http::{FetchError, Fetcher};
use super::series_cache::{CachedSeries, SeriesCache};
use super::staleness::{Seen, SeriesSet};
use super::target::Target;
use crate::data::{Batch, Metrics};
use crate::exposition::{format_for, Entry, Format, MetricType, Parser};
use crate::pipeline::fanout::Consumer;
use crate::relabel::Labels;
use crate::telemetry::events::RateLimit;
use crate::telemetry::metrics::{Counter, MetricsRegistry};

pub use super::scrape_http::build_client;

/// A target's state as the targets API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    /// Prometheus's spelling (`unknown`, `up`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The outcome of a target's last scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetHealth {
    pub health: Health,
    /// Empty after a successful scrape.
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_scrape_duration: Duration,
    /// Samples delivered by the last scrape (after `metric_relabel_configs`).
    pub last_samples: u64,
}

/// Shared between a loop and the targets API.
pub type SharedHealth = Arc<Mutex<TargetHealth>>;

/// The report series, in Prometheus's order.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Prometheus's error when more samples than `sample_limit` survive relabeling.
pub const SAMPLE_LIMIT_ERROR: &str = "sample limit exceeded";

struct Counters {
    success: Counter,
    failure: Counter,
    samples: Counter,
    dropped: Counter,
    skipped: Counter,
}

/// What appending one body produced.
#[derive(Debug, Default)]
struct Appended {
    total: u64,
    added: u64,
    series_added: u64,
    error: Option<String>,
    /// The format the body was parsed as (None when the content type was refused).
    format: Option<Format>,
}

/// The loop for one target. Everything per-scrape (the series cache and hashes, the label
/// scratch set, metadata) is kept here and reused; it is all freed when the loop ends. Body
/// buffers come from the process's pool (`body_pool`) for the length of one scrape.
pub struct ScrapeLoop {
    target: Target,
    cfg: Arc<ScrapeConfig>,
    external: Labels,
    fetcher: Fetcher,
    consumer: Consumer<Metrics>,
    health: SharedHealth,
    resource: TargetResource,
    receiver_id: String,
    /// Builds each sample's labels (target merge, checks).
    labels: SampleLabels,
    /// `{job="...", instance="..."}` for logs.
    target_text: String,
    /// The report series, prepared once.
    report: Vec<PreparedSeries>,
    /// Hashes of the last successful scrape's series.
    series: SeriesSet,
    /// What each series text of the last successful scrape became.
    cache: SeriesCache,
    /// The metadata of the scrape being appended.
    meta: Metadata,
    /// The metadata of the last successful scrape (help and unit of its stale markers).
    prev_meta: Metadata,
    /// The size of the last body (the next one is likely the same).
    body_hint: usize,
    counters: Counters,
    fail_log: RateLimit,
    add_log: RateLimit,
    /// Whether any scrape was reported (end-of-run staleness has something to mark).
    reported: bool,
}

fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl ScrapeLoop {
    pub fn new(
        target: Target,
        cfg: Arc<ScrapeConfig>,
        external_labels: Labels,
        client: reqwest::Client,
        consumer: Consumer<Metrics>,
        metrics: Arc<MetricsRegistry>,
        receiver_id: &str,
    ) -> Self {
        let fetcher = Fetcher::new(client, &target.url, target.timeout, &cfg);
        let labels = SampleLabels::new(&target, &cfg);
        let target_text = fmt_labels(target.public_labels());
        let job = match target.labels.get("job") {
            "" => cfg.job_name.as_str(),
            j => j,
        };
        let resource =
            TargetResource::from_discovered(job, target.labels.get("instance"), &target.discovered);
        let report = REPORT_NAMES
            .iter()
            .filter_map(|name| {
                let mut l = Labels::new();
                l.set("__name__", name);
                for (k, v) in target.public_labels() {
                    l.set(k, v);
                }
                for (k, v) in external_labels.iter() {
                    l.set(k, v);
                }
                // Only fails without job and instance, which every target has.
                PreparedSeries::new(&l, name, MetricType::Gauge, &resource).ok()
            })
            .collect();
        let job_labels = [("receiver", receiver_id), ("job", cfg.job_name.as_str())];
        let scrapes = |result| {
            metrics.counter(
                "ferrocol_prometheus_scrapes_total",
                "Scrapes performed by the prometheus receiver, by result.",
                &[job_labels[0], job_labels[1], ("result", result)],
            )
        };
        let counters = Counters {
            success: scrapes("success"),
            failure: scrapes("failure"),
            samples: metrics.counter(
                "ferrocol_prometheus_samples_scraped_total",
                "Samples parsed from scrape responses.",
                &job_labels,
            ),
            dropped: metrics.counter(
                "ferrocol_prometheus_scrapes_dropped",
                "Scrapes whose data the pipeline refused (the data is dropped).",
                &job_labels,
            ),
            skipped: metrics.counter(
                "ferrocol_prometheus_scrapes_skipped",
                "Scrape ticks skipped because the previous scrape overran its interval.",
                &job_labels,
            ),
        };
        Self {
            fetcher,
            labels,
            target_text,
            resource,
            report,
            receiver_id: receiver_id.to_string(),
            target,
            cfg,
            external: external_labels,
            consumer,
            health: Arc::new(Mutex::new(TargetHealth::default())),
            series: SeriesSet::new(),
            cache: SeriesCache::new(),
            meta: Metadata::default(),
            prev_meta: Metadata::default(),
            body_hint: 0,
            counters,
            fail_log: RateLimit::new(),
            add_log: RateLimit::new(),
            reported: false,
        }
    }

    pub fn health(&self) -> SharedHealth {
        Arc::clone(&self.health)
    }

    /// Runs until `stop` is cancelled: waits the target's offset, then scrapes every interval
    /// (a scrape that overran is followed at once; the further ticks it missed are skipped
    /// and counted). When it ends with
    /// `target_gone` set, every series of the last scrape and the report series go stale.
    pub async fn run(mut self, stop: CancellationToken, target_gone: Arc<AtomicBool>) {
        let now_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let offset = self.target.offset(now_nanos);
        let interval = self.target.interval.max(Duration::from_millis(1));
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(offset) => {}
        }
        // The tick grid starts now. As Go's ticker (one buffered tick), a scrape that overran
        // is followed at once by the latest missed tick; the ticks before it are skipped.
        let mut tick = tokio::time::Instant::now();
        loop {
            if !self.scrape_and_report(&stop).await {
                break;
            }
            tick += interval;
            let now = tokio::time::Instant::now();
            if now >= tick {
                let missed = (now - tick).as_nanos() / interval.as_nanos();
                if missed > 0 {
                    tick += Duration::from_nanos(
                        u64::try_from(interval.as_nanos() * missed).unwrap_or(u64::MAX / 2),
                    );
                    self.counters
                        .skipped
                        .add(u64::try_from(missed).unwrap_or(u64::MAX));
                    tracing::debug!(target_labels = %self.target_text, skipped = missed as u64, "Scrape overran its interval; ticks skipped");
                }
                if stop.is_cancelled() {
                    break;
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep_until(tick) => {}
            }
        }
        if target_gone.load(Ordering::Acquire) {
            self.end_of_run_staleness().await;
        }
    }

    /// Prometheus's end-of-run staleness: the target is gone, so everything it reported goes
    /// stale now.
    async fn end_of_run_staleness(&mut self) {
        if !self.reported {
            return;
        }
        let ts = unix_ms(SystemTime::now());
        let mut conv = Converter::new(self.resource.clone());
        self.mark_all_stale(&mut conv, ts);
        for p in &self.report {
            conv.add_prepared(p, stale_nan(), ts, None, None);
        }
        self.push(Batch::from_encoded(conv.finish_encoded())).await;
    }

    /// One scrape, its report and its delivery. False when `stop` interrupted the fetch.
    async fn scrape_and_report(&mut self, stop: &CancellationToken) -> bool {
        let start = SystemTime::now();
        let started = Instant::now();
        let ts_ms = unix_ms(start);
        let mut body = BODIES.take(self.body_hint);
        let fetched = tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            r = tokio::time::timeout(self.target.timeout, self.fetcher.fetch(&mut body)) => Some(r),
        };
        let fetched = match fetched {
            None => {
                BODIES.give(body);
                return false;
            }
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(FetchError(format!(
                "Get {:?}: context deadline exceeded",
                self.target.url
            ))),
        };
        let mut conv = Converter::new(self.resource.clone());
        let outcome = match fetched {
            Ok(content_type) => self.append(&body, content_type.as_deref(), ts_ms, &mut conv),
            Err(e) => Appended {
                error: Some(e.0),
                ..Default::default()
            },
        };
        let body_len = body.len();
        if outcome.format.is_some() && outcome.error.is_none() {
            self.mark_gone_stale(&mut conv, ts_ms);
        } else {
            conv = Converter::new(self.resource.clone());
            self.mark_all_stale(&mut conv, ts_ms);
        }
        self.body_hint = body_len;
        BODIES.give(body);
        self.meta.clear();
        let duration = started.elapsed();
        let up = if outcome.error.is_none() { 1.0 } else { 0.0 };
        let values = [
            up,
            duration.as_secs_f64(),
            outcome.total as f64,
            outcome.added as f64,
            outcome.series_added as f64,
        ];
        for (p, v) in self.report.iter().zip(values) {
            conv.add_prepared(p, v, ts_ms, None, None);
        }
        self.reported = true;
        self.counters.samples.add(outcome.total);
        {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            h.health = if outcome.error.is_none() {
                Health::Up
            } else {
                Health::Down
            };
            h.last_error = outcome.error.clone().unwrap_or_default();
            h.last_scrape = Some(start);
            h.last_scrape_duration = duration;
            h.last_samples = outcome.added;
        }
        match &outcome.error {
            None => self.counters.success.inc(),
            Some(e) => {
                self.counters.failure.inc();
                if let Some(suppressed) = self.fail_log.allow() {
                    tracing::warn!(
                        receiver = %self.receiver_id,
                        job = %self.cfg.job_name,
                        url = %self.target.url,
                        target_labels = %self.target_text,
                        scrape_timestamp = ts_ms,
                        error = %e,
                        suppressed_similar = suppressed,
                        "Failed to scrape Prometheus endpoint"
                    );
                }
            }
        }
        self.push(Batch::from_encoded(conv.finish_encoded())).await;
        true
    }

    async fn push(&self, batch: Batch<Metrics>) {
        if let Err(e) = self.consumer.consume("http", batch).await {
            static LOG: RateLimit = RateLimit::new();
            self.counters.dropped.inc();
            if let Some(suppressed) = LOG.allow() {
                tracing::warn!(
                    receiver = %self.receiver_id,
                    job = %self.cfg.job_name,
                    url = %self.target.url,
                    error = %e.message,
                    suppressed_similar = suppressed,
                    "The pipeline refused a scrape; its data is dropped"
                );
            }
        }
    }

    /// Parses one body and feeds its samples into `conv`. On error the caller discards `conv`.
    fn append(
        &mut self,
        body: &[u8],
        content_type: Option<&str>,
        ts_ms: i64,
        conv: &mut Converter,
    ) -> Appended {
        let mut out = Appended::default();
        let format = match format_for(content_type, Some(self.cfg.fallback_scrape_protocol)) {
            Ok(f) => f,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        out.format = Some(format);
        let parse_error = |e: crate::exposition::ParseError| {
            let kind = match format {
                Format::PromText => "text",
                Format::OpenMetrics => "OpenMetrics",
            };
            format!(
                "error parsing the {kind} exposition (Content-Type {:?}): {e}",
                content_type.unwrap_or("")
            )
        };
        let mut parser = match Parser::new(body, format) {
            // Label sets are checked only for series texts not in the cache (checked before).
            Ok(p) => p.defer_label_checks(),
            Err(e) => {
                out.error = Some(parse_error(e));
                return out;
            }
        };
        self.meta.clear();
        let sample_limit = self.cfg.limits.sample_limit;
        let honor_ts = self.cfg.honor_timestamps;
        let mut appended = 0u64;
        let mut limit_hit = false;
        let mut seen = Vec::new();
        // The attributes of the last series prepared, shared with the next one when equal.
        let mut last_attrs: Option<EncodedAttrs> = None;
        loop {
            let s = match parser.next() {
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(parse_error(e));
                    break;
                }
                Ok(Some(Entry::Type { name, kind })) => {
                    self.meta.set_type(&name, kind);
                    continue;
                }
                Ok(Some(Entry::Help { name, text })) => {
                    self.meta.set_help(&name, &text);
                    continue;
                }
                Ok(Some(Entry::Unit { name, unit })) => {
                    self.meta.set_unit(&name, unit);
                    continue;
                }
                Ok(Some(Entry::Sample(s))) => s,
            };
            out.total += 1;
            if limit_hit {
                continue;
            }
            let (family, fm) = self.meta.lookup(&s.name);
            let kind = fm.map_or(MetricType::Unknown, |m| m.kind);
            if let Some(cached) = self.cache.hit(s.series, kind, family) {
                // Seen in the last scrape: labels, relabeling and checks gave this result.
                let Some(prepared) = &cached.prepared else {
                    continue;
                };
                if sample_limit > 0 && !is_stale(s.value) {
                    appended += 1;
                    if appended > sample_limit {
                        limit_hit = true;
                        continue;
                    }
                }
                let (ts, explicit) = match s.timestamp_ms {
                    Some(t) if honor_ts => (t, true),
                    _ => (ts_ms, false),
                };
                let track = !explicit || self.cfg.track_timestamps_staleness;
                match self.series.observe(cached.hash, track) {
                    Seen::Duplicate => continue,
                    Seen::New => out.series_added += 1,
                    Seen::Known => {}
                }
                conv.add_prepared(prepared, s.value, ts, exemplar_in(&s), fm);
                out.added += 1;
                continue;
            }
            if let Err(e) = parser.check_labels(&s) {
                out.error = Some(parse_error(e));
                break;
            }
            let dup = self.labels.build(&s, &mut seen);
            if !self.labels.relabel(&self.cfg.metric_relabel_configs) {
                if dup.is_none() {
                    self.cache
                        .insert(s.series, CachedSeries::dropped(kind, family));
                }
                continue;
            }
            if let Err(e) = self.labels.check() {
                out.error = Some(e);
                break;
            }
            if sample_limit > 0 && !is_stale(s.value) {
                appended += 1;
                if appended > sample_limit {
                    limit_hit = true;
                    continue;
                }
            }
            if let Some(name) = dup {
                self.warn_add(&format!("invalid sample: non-unique label names: {name:?}"));
                continue;
            }
            self.labels.add_external(&self.external);
            let (ts, explicit) = match s.timestamp_ms {
                Some(t) if honor_ts => (t, true),
                _ => (ts_ms, false),
            };
            let hash = self.series.hash(self.labels.get());
            let track = !explicit || self.cfg.track_timestamps_staleness;
            match self.series.observe(hash, track) {
                Seen::Duplicate => continue,
                Seen::New => out.series_added += 1,
                Seen::Known => {}
            }
            match PreparedSeries::new(self.labels.get(), family, kind, conv.target()) {
                Ok(mut prepared) => {
                    if let Some(prev) = &last_attrs {
                        prepared.share_attrs(prev);
                    }
                    last_attrs = Some(prepared.attrs().clone());
                    conv.add_prepared(&prepared, s.value, ts, exemplar_in(&s), fm);
                    self.cache
                        .insert(s.series, CachedSeries::kept(hash, kind, family, prepared));
                }
                Err(e) => self.warn_add(&e),
            }
            out.added += 1;
        }
        if out.error.is_none() && limit_hit {
            out.error = Some(SAMPLE_LIMIT_ERROR.into());
        }
        out
    }

    /// Ends a successful scrape: the series of the previous one that were not seen again get
    /// stale markers.
    fn mark_gone_stale(&mut self, conv: &mut Converter, ts_ms: i64) {
        let gone = self.series.commit();
        let removed = self.cache.sweep();
        mark_stale(conv, &removed, &gone, &self.prev_meta, ts_ms);
        std::mem::swap(&mut self.meta, &mut self.prev_meta);
    }

    /// Ends a failed scrape or the run: every series of the last successful scrape goes
    /// stale, and the cache starts afresh.
    fn mark_all_stale(&mut self, conv: &mut Converter, ts_ms: i64) {
        let gone = self.series.fail();
        let removed = self.cache.drain();
        mark_stale(conv, &removed, &gone, &self.prev_meta, ts_ms);
        self.prev_meta = Metadata::default();
    }

    /// One sample could not be added (the rest of the scrape goes on); rate-limited.
    fn warn_add(&self, error: &str) {
        if let Some(suppressed) = self.add_log.allow() {
            tracing::warn!(
                job = %self.cfg.job_name,
                url = %self.target.url,
                metric_name = self.labels.get().get("__name__"),
                error,
                suppressed_similar = suppressed,
                "Failed to add datapoint"
            );
        }
    }
}

/// Stale markers for the `removed` cache entries whose series are `gone` (each once). A
/// histogram or summary series other than `_count` is marked only when its `_count` is gone
/// too: the converter flags a whole point stale from any of its series, and a point that is
/// still exposed (one bucket less) must not be.
fn mark_stale(
    conv: &mut Converter,
    removed: &[CachedSeries],
    gone: &HashSet<u64>,
    meta: &Metadata,
    ts_ms: i64,
) {
    if gone.is_empty() {
        return;
    }
    let gone_series = || {
        removed
            .iter()
            .filter(|c| gone.contains(&c.hash))
            .filter_map(|c| Some((c.hash, c.prepared.as_ref()?)))
    };
    let counts_gone: HashSet<(&str, u64)> = gone_series()
        .filter(|(_, p)| p.staleness() == StaleRole::Count)
        .map(|(_, p)| p.point_key())
        .collect();
    let mut marked = HashSetKeyed::default();
    for (hash, p) in gone_series() {
        let mark = match p.staleness() {
            StaleRole::Always | StaleRole::Count => true,
            StaleRole::WithCount => counts_gone.contains(&p.point_key()),
            StaleRole::Never => false,
        };
        if mark && marked.insert(hash) {
            conv.add_prepared(p, stale_nan(), ts_ms, None, meta.lookup(p.metric()).1);
        }
    }
}

fn exemplar_in<'a>(s: &crate::exposition::Sample<'a>) -> Option<ExemplarIn<'a>> {
    s.exemplar.as_ref().map(|e| ExemplarIn {
        labels: e.labels().collect(),
        value: e.value,
        timestamp_ms: e.timestamp_ms,
    })
}

#[cfg(test)]
mod tests;
