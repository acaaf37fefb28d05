//! A small self-metrics registry: counters, gauges and histograms keyed by name and label set,
//! rendered in the Prometheus text format. Handles are cheap `Arc` clones taken once at build
//! time, so the hot path is a single atomic add. This is not a general metrics library.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

type Labels = Vec<(String, String)>;

/// A monotonically increasing counter.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A gauge holding an `f64` (stored as bits).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn add(&self, d: f64) {
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(cur) + d).to_bits();
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A histogram with fixed bucket bounds.
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    bounds: Vec<f64>,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: Gauge,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Self(Arc::new(HistogramInner {
            bounds: bounds.to_vec(),
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: Gauge::default(),
        }))
    }
    pub fn observe(&self, v: f64) {
        if let Some(i) = self.0.bounds.iter().position(|b| v <= *b) {
            self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.0.count.fetch_add(1, Ordering::Relaxed);
        self.0.sum.add(v);
    }
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    series: BTreeMap<Labels, Series>,
}

/// The registry of self-metrics for one collector process.
#[derive(Debug)]
pub struct MetricsRegistry {
    families: Mutex<BTreeMap<String, Family>>,
    started: Instant,
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self {
            families: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }
}

fn to_labels(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl MetricsRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn get_or_insert<T>(
        &self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Series,
        pick: impl Fn(&Series) -> Option<T>,
    ) -> T
    where
        T: Default,
    {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help,
            series: BTreeMap::new(),
        });
        let series = fam.series.entry(to_labels(labels)).or_insert_with(make);
        // A name registered with two kinds is a programming error; hand out a detached handle.
        pick(series).unwrap_or_default()
    }

    pub fn counter(&self, name: &str, help: &'static str, labels: &[(&str, &str)]) -> Counter {
        self.get_or_insert(
            name,
            help,
            labels,
            || Series::Counter(Counter::default()),
            |s| match s {
                Series::Counter(c) => Some(c.clone()),
                _ => None,
            },
        )
    }

    pub fn gauge(&self, name: &str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
        self.get_or_insert(
            name,
            help,
            labels,
            || Series::Gauge(Gauge::default()),
            |s| match s {
                Series::Gauge(g) => Some(g.clone()),
                _ => None,
            },
        )
    }

    pub fn histogram(
        &self,
        name: &str,
        help: &'static str,
        labels: &[(&str, &str)],
        bounds: &[f64],
    ) -> Histogram {
        let mut fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let fam = fams.entry(name.to_string()).or_insert_with(|| Family {
            help,
            series: BTreeMap::new(),
        });
        let s = fam
            .series
            .entry(to_labels(labels))
            .or_insert_with(|| Series::Histogram(Histogram::new(bounds)));
        match s {
            Series::Histogram(h) => h.clone(),
            _ => Histogram::new(bounds),
        }
    }

    /// Value of a counter or gauge series, for tests and the health of reloads.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        match fams.get(name)?.series.get(&to_labels(labels))? {
            Series::Counter(c) => Some(c.get() as f64),
            Series::Gauge(g) => Some(g.get()),
            Series::Histogram(h) => Some(h.count() as f64),
        }
    }

    /// Sum over all series of a family whose labels include every given pair.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let Some(f) = fams.get(name) else { return 0.0 };
        f.series
            .iter()
            .filter(|(ls, _)| {
                labels
                    .iter()
                    .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, s)| match s {
                Series::Counter(c) => c.get() as f64,
                Series::Gauge(g) => g.get(),
                Series::Histogram(h) => h.count() as f64,
            })
            .sum()
    }

    /// Renders every family in the Prometheus text exposition format 0.0.4, plus the
    /// process metrics otelcol exposes.
    pub fn render(&self) -> String {
        self.update_process_metrics();
        let fams = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::with_capacity(4096);
        for (name, fam) in fams.iter() {
            let kind = match fam.series.values().next() {
                Some(Series::Counter(_)) => "counter",
                Some(Series::Gauge(_)) => "gauge",
                Some(Series::Histogram(_)) => "histogram",
                None => continue,
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, s) in &fam.series {
                match s {
                    Series::Counter(c) => {
                        let _ = writeln!(out, "{name}{} {}", fmt_labels(labels, None), c.get());
                    }
                    Series::Gauge(g) => {
                        let _ = writeln!(
                            out,
                            "{name}{} {}",
                            fmt_labels(labels, None),
                            fmt_f64(g.get())
                        );
                    }
                    Series::Histogram(h) => render_histogram(&mut out, name, labels, h),
                }
            }
        }
        out
    }

    fn update_process_metrics(&self) {
        self.gauge("otelcol_process_uptime", "Uptime of the process [s]", &[])
            .set(self.started.elapsed().as_secs_f64());
        if let Some(rss) = process_rss_bytes() {
            self.gauge(
                "otelcol_process_memory_rss",
                "Total physical memory (resident set size) [By]",
                &[],
            )
            .set(rss as f64);
        }
        if let Some(cpu) = process_cpu_seconds() {
            self.gauge(
                "otelcol_process_cpu_seconds",
                "Total CPU user and system time in seconds [s]",
                &[],
            )
            .set(cpu);
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, h: &Histogram) {
    let mut cum = 0;
    for (i, b) in h.0.bounds.iter().enumerate() {
        cum += h.0.buckets[i].load(Ordering::Relaxed);
        let le = fmt_f64(*b);
        let _ = writeln!(out, "{name}_bucket{} {cum}", fmt_labels(labels, Some(&le)));
    }
    let _ = writeln!(
        out,
        "{name}_bucket{} {}",
        fmt_labels(labels, Some("+Inf")),
        h.count()
    );
    let _ = writeln!(
        out,
        "{name}_sum{} {}",
        fmt_labels(labels, None),
        fmt_f64(h.0.sum.get())
    );
    let _ = writeln!(
        out,
        "{name}_count{} {}",
        fmt_labels(labels, None),
        h.count()
    );
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut s = String::from("{");
    let mut first = true;
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(le.map(|l| ("le", l)));
    for (k, v) in all {
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(k);
        s.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

fn process_rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let r = MetricsRegistry::new();
        let c = r.counter(
            "otelcol_receiver_accepted_spans",
            "Spans accepted",
            &[("receiver", "otlp"), ("transport", "grpc")],
        );
        c.add(3);
        r.counter(
            "otelcol_receiver_accepted_spans",
            "Spans accepted",
            &[("receiver", "otlp"), ("transport", "grpc")],
        )
        .add(2);
        r.gauge(
            "otelcol_exporter_queue_size",
            "Queue size",
            &[("exporter", "otlp")],
        )
        .set(7.0);
        let h = r.histogram("h", "A histogram", &[], &[1.0, 10.0]);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        let text = r.render();
        assert!(
            text.contains(
                "otelcol_receiver_accepted_spans{receiver=\"otlp\",transport=\"grpc\"} 5\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE otelcol_receiver_accepted_spans counter"));
        assert!(text.contains("otelcol_exporter_queue_size{exporter=\"otlp\"} 7\n"));
        assert!(
            text.contains("h_bucket{le=\"1\"} 1\nh_bucket{le=\"10\"} 2\nh_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("h_count 3"));
        assert!(text.contains("otelcol_process_uptime "));
        assert_eq!(
            r.sum("otelcol_receiver_accepted_spans", &[("receiver", "otlp")]),
            5.0
        );
    }

    #[test]
    fn escapes_label_values() {
        let r = MetricsRegistry::new();
        r.counter("x", "x", &[("a", "q\"b\\n\n")]).inc();
        assert!(r.render().contains("x{a=\"q\\\"b\\\\n\\n\"} 1"));
    }
}
