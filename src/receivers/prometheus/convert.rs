//! One scrape's samples -> OTLP metrics, following otelcol's prometheus receiver (spec 5.3):
//! one resource per (job, instance) with `service.*`, `server.*`, `url.scheme` and the
//! Kubernetes attributes of the target; `target_info` folded into the resource; scopes from
//! `otel_scope_*`; counters as monotonic cumulative sums named by the sample, histograms and
//! summaries grouped under the family name with de-cumulated buckets; unknown as gauges;
//! stale markers as points flagged NoRecordedValue; start time only from `_created`.
//!
//! The input is the final sample label set (after target labels were merged and
//! `metric_relabel_configs` ran), so this module knows nothing of relabeling or scraping.

use std::collections::HashMap;

use indexmap::IndexMap;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, summary_data_point::ValueAtQuantile,
    AggregationTemporality, Exemplar, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::exposition::MetricType;
use crate::relabel::Labels;

/// Prometheus's stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// OTLP `DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK`.
const NO_RECORDED_VALUE: u32 = 1;
/// The scope of series that carry no `otel_scope_*` labels.
pub const DEFAULT_SCOPE: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver";

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// `# TYPE` / `# HELP` / `# UNIT` of one family, as scraped.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyMeta {
    pub kind: MetricType,
    pub help: String,
    pub unit: String,
}

/// The metadata of one target, keyed by family name.
#[derive(Debug, Clone, Default)]
pub struct Metadata(HashMap<String, FamilyMeta>);

const SUFFIXES: [&str; 6] = ["_bucket", "_count", "_sum", "_total", "_info", "_created"];

impl Metadata {
    fn entry(&mut self, name: &str) -> &mut FamilyMeta {
        self.0
            .entry(name.to_string())
            .or_insert_with(|| FamilyMeta {
                kind: MetricType::Unknown,
                help: String::new(),
                unit: String::new(),
            })
    }
    pub fn set_type(&mut self, name: &str, kind: MetricType) {
        self.entry(name).kind = kind;
    }
    pub fn set_help(&mut self, name: &str, help: &str) {
        help.clone_into(&mut self.entry(name).help);
    }
    pub fn set_unit(&mut self, name: &str, unit: &str) {
        unit.clone_into(&mut self.entry(name).unit);
    }
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The family of a sample name: exact match, else the name with one known suffix
    /// stripped, else the name itself with type unknown.
    pub fn lookup<'a>(&'a self, sample: &'a str) -> (&'a str, Option<&'a FamilyMeta>) {
        if let Some(m) = self.0.get(sample) {
            return (sample, Some(m));
        }
        for s in SUFFIXES {
            if let Some(base) = sample.strip_suffix(s) {
                if let Some(m) = self.0.get(base) {
                    return (base, Some(m));
                }
            }
        }
        (sample, None)
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// The target-level resource attributes (from the target's discovered labels), computed once
/// per target by the scrape loop.
#[derive(Debug, Clone, Default)]
pub struct TargetResource {
    pub job: String,
    pub instance: String,
    /// `url.scheme` and `k8s.*` attributes.
    pub extra: Vec<(String, String)>,
}

impl TargetResource {
    /// Derives the extra attributes from the target's discovered (pre-relabel) labels.
    pub fn from_discovered(job: &str, instance: &str, discovered: &Labels) -> Self {
        let mut extra = Vec::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                extra.push((k.to_string(), v.to_string()));
            }
        };
        put("url.scheme", discovered.get("__scheme__"));
        put("k8s.pod.name", discovered.get("__meta_kubernetes_pod_name"));
        put("k8s.pod.uid", discovered.get("__meta_kubernetes_pod_uid"));
        put(
            "k8s.container.name",
            discovered.get("__meta_kubernetes_pod_container_name"),
        );
        put(
            "k8s.namespace.name",
            discovered.get("__meta_kubernetes_namespace"),
        );
        let node = [
            "__meta_kubernetes_pod_node_name",
            "__meta_kubernetes_node_name",
            "__meta_kubernetes_endpoint_node_name",
        ]
        .iter()
        .map(|k| discovered.get(k))
        .find(|v| !v.is_empty())
        .unwrap_or("");
        put("k8s.node.name", node);
        let controller = discovered.get("__meta_kubernetes_pod_controller_name");
        let key = match discovered.get("__meta_kubernetes_pod_controller_kind") {
            "ReplicaSet" => "k8s.replicaset.name",
            "DaemonSet" => "k8s.daemonset.name",
            "StatefulSet" => "k8s.statefulset.name",
            "Job" => "k8s.job.name",
            "CronJob" => "k8s.cronjob.name",
            _ => "",
        };
        if !key.is_empty() {
            put(key, controller);
        }
        Self {
            job: job.to_string(),
            instance: instance.to_string(),
            extra,
        }
    }
}

fn resource_attributes(job: &str, instance: &str, target: &TargetResource) -> Vec<KeyValue> {
    let mut attrs = vec![kv("service.name", job), kv("service.instance.id", instance)];
    let (host, port) = split_host_port(instance);
    let local = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    if !local && !host.is_empty() {
        attrs.push(kv("server.address", host));
    }
    attrs.push(kv("server.port", port));
    for (k, v) in &target.extra {
        attrs.push(kv(k, v));
    }
    attrs
}

fn split_host_port(instance: &str) -> (&str, &str) {
    if let Some(rest) = instance.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').unwrap_or(""));
        }
    }
    match instance.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (instance, ""),
    }
}

type Series = Vec<(String, String)>;

enum MetricAcc {
    Gauge(IndexMap<Series, NumberDataPoint>),
    Sum {
        monotonic: bool,
        points: IndexMap<Series, NumberDataPoint>,
    },
    Histogram(IndexMap<Series, HistAcc>),
    Summary(IndexMap<Series, SummaryAcc>),
}

#[derive(Default)]
struct HistAcc {
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
    created: Option<f64>,
    time_ms: i64,
    stale: bool,
    exemplars: Vec<Exemplar>,
}

#[derive(Default)]
struct SummaryAcc {
    quantiles: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
    created: Option<f64>,
    time_ms: i64,
    stale: bool,
}

struct MetricEntry {
    help: String,
    unit: String,
    prom_type: &'static str,
    acc: MetricAcc,
}

struct ScopeAcc {
    scope: InstrumentationScope,
    schema_url: String,
    metrics: IndexMap<String, MetricEntry>,
    /// Start times from counter `_created` samples, by metric name and series.
    created: HashMap<(String, Series), f64>,
}

struct ResourceAcc {
    attrs: Vec<KeyValue>,
    scopes: IndexMap<(String, String, String, Series), ScopeAcc>,
}

/// An exemplar as parsed.
pub struct ExemplarIn<'a> {
    pub labels: Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Accumulates one scrape and produces its `ResourceMetrics`.
pub struct Converter {
    target: TargetResource,
    scope_version: String,
    resources: IndexMap<(String, String), ResourceAcc>,
}

fn prom_type_name(k: MetricType) -> &'static str {
    match k {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Summary => "summary",
        MetricType::StateSet => "stateset",
        MetricType::Info => "info",
        MetricType::Unknown => "unknown",
    }
}

/// OpenMetrics unit -> UCUM, for the common units (others are passed through).
fn ucum(unit: &str) -> String {
    match unit {
        "seconds" => "s",
        "milliseconds" => "ms",
        "microseconds" => "us",
        "nanoseconds" => "ns",
        "bytes" => "By",
        "kilobytes" => "kBy",
        "megabytes" => "MBy",
        "ratio" => "1",
        "percent" => "%",
        "celsius" => "Cel",
        "hertz" => "Hz",
        "volts" => "V",
        "amperes" => "A",
        "joules" => "J",
        "watts" => "W",
        "grams" => "g",
        "meters" => "m",
        other => other,
    }
    .to_string()
}

impl Converter {
    pub fn new(target: TargetResource) -> Self {
        Self {
            target,
            scope_version: env!("CARGO_PKG_VERSION").to_string(),
            resources: IndexMap::new(),
        }
    }

    /// Adds one sample (`labels` includes `__name__`). Errors reject only this sample.
    pub fn add(
        &mut self,
        labels: &Labels,
        value: f64,
        ts_ms: i64,
        exemplar: Option<ExemplarIn<'_>>,
        meta: &Metadata,
    ) -> Result<(), String> {
        let name = labels.get("__name__");
        if name.is_empty() {
            return Err("sample without a metric name".into());
        }
        let mut job = labels.get("job");
        let mut instance = labels.get("instance");
        if job.is_empty() {
            job = &self.target.job;
        }
        if instance.is_empty() {
            instance = &self.target.instance;
        }
        if job.is_empty() || instance.is_empty() {
            return Err("job or instance cannot be found from labels".into());
        }
        // Nearly every sample of a scrape has the target's (job, instance): find it without
        // allocating a key.
        let found = self
            .resources
            .iter()
            .position(|((j, i), _)| j == job && i == instance);
        let idx = match found {
            Some(i) => i,
            None => {
                let attrs = resource_attributes(job, instance, &self.target);
                let (i, _) = self.resources.insert_full(
                    (job.to_string(), instance.to_string()),
                    ResourceAcc {
                        attrs,
                        scopes: IndexMap::new(),
                    },
                );
                i
            }
        };
        let Some((_, res)) = self.resources.get_index_mut(idx) else {
            return Err("internal: resource missing".into());
        };
        if name == "target_info" {
            for (k, v) in labels.iter() {
                if !matches!(k, "job" | "instance" | "__name__") && !v.is_empty() {
                    res.attrs.retain(|a| a.key != k);
                    res.attrs.push(kv(k, v));
                }
            }
            return Ok(());
        }
        let (family, fm) = meta.lookup(name);
        let kind = fm.map_or(MetricType::Unknown, |m| m.kind);
        let stale = is_stale(value);

        // Scope and attributes.
        let (mut sname, mut sver, mut surl) = (String::new(), String::new(), String::new());
        let mut sattrs: Series = Vec::new();
        let mut attrs: Series = Vec::new();
        let (mut le, mut quantile) = (None, None);
        for (k, v) in labels.iter() {
            match k {
                "__name__" | "job" | "instance" | "__scheme__" | "__metrics_path__" => {}
                "otel_scope_name" => sname = v.to_string(),
                "otel_scope_version" => sver = v.to_string(),
                "otel_scope_schema_url" => surl = v.to_string(),
                _ if k.starts_with("otel_scope_") => {
                    sattrs.push((k["otel_scope_".len()..].to_string(), v.to_string()))
                }
                "le" if kind == MetricType::Histogram => le = Some(v),
                "quantile" if kind == MetricType::Summary => quantile = Some(v),
                _ if v.is_empty() => {}
                _ => attrs.push((k.to_string(), v.to_string())),
            }
        }
        if sname.is_empty() {
            sname = DEFAULT_SCOPE.to_string();
            sver.clone_from(&self.scope_version);
        }
        let existing = res
            .scopes
            .keys()
            .position(|(n, v, u, a)| *n == sname && *v == sver && *u == surl && *a == sattrs);
        let sidx = match existing {
            Some(i) => i,
            None => {
                let acc = ScopeAcc {
                    scope: InstrumentationScope {
                        name: sname.clone(),
                        version: sver.clone(),
                        attributes: sattrs.iter().map(|(k, v)| kv(k, v)).collect(),
                        dropped_attributes_count: 0,
                    },
                    schema_url: surl.clone(),
                    metrics: IndexMap::new(),
                    created: HashMap::new(),
                };
                res.scopes.insert_full((sname, sver, surl, sattrs), acc).0
            }
        };
        let Some((_, scope)) = res.scopes.get_index_mut(sidx) else {
            return Err("internal: scope missing".into());
        };
        let time_unix_nano = (ts_ms.max(0) as u64) * 1_000_000;
        let suffix = name.strip_prefix(family).unwrap_or("");
        let metric_name = match kind {
            MetricType::Histogram | MetricType::Summary => family,
            _ => name,
        };
        if kind == MetricType::GaugeHistogram {
            return Ok(());
        }
        if kind == MetricType::Counter && suffix == "_created" {
            let target = if family.ends_with("_total") {
                family.to_string()
            } else {
                format!("{family}_total")
            };
            scope.created.insert((target, attrs), value);
            return Ok(());
        }
        if !scope.metrics.contains_key(metric_name) {
            scope
                .metrics
                .insert(metric_name.to_string(), new_entry(kind, fm));
        }
        let Some(entry) = scope.metrics.get_mut(metric_name) else {
            return Err("internal: metric missing".into());
        };
        let exemplars: Vec<Exemplar> = exemplar.map(|e| convert_exemplar(&e)).into_iter().collect();
        match &mut entry.acc {
            MetricAcc::Gauge(points) | MetricAcc::Sum { points, .. } => {
                let p = NumberDataPoint {
                    attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                    time_unix_nano,
                    flags: if stale { NO_RECORDED_VALUE } else { 0 },
                    value: (!stale).then_some(number_data_point::Value::AsDouble(value)),
                    exemplars,
                    ..Default::default()
                };
                points.insert(attrs, p);
            }
            MetricAcc::Histogram(series) => {
                let h = series.entry(attrs).or_default();
                h.time_ms = ts_ms;
                h.stale |= stale;
                match suffix {
                    "_bucket" => {
                        let bound =
                            le.and_then(crate::exposition::parse_float_pub)
                                .ok_or_else(|| {
                                    format!("histogram bucket of {family} without a valid le label")
                                })?;
                        h.buckets.push((bound, value));
                        h.exemplars.extend(exemplars);
                    }
                    "_count" => h.count = Some(value),
                    "_sum" => h.sum = Some(value),
                    "_created" => h.created = Some(value),
                    _ => {}
                }
            }
            MetricAcc::Summary(series) => {
                let s = series.entry(attrs).or_default();
                s.time_ms = ts_ms;
                s.stale |= stale;
                match (suffix, quantile) {
                    ("", Some(q)) => {
                        let q = crate::exposition::parse_float_pub(q).ok_or_else(|| {
                            format!("summary {family} with an invalid quantile label")
                        })?;
                        s.quantiles.push((q, value));
                    }
                    ("_count", _) => s.count = Some(value),
                    ("_sum", _) => s.sum = Some(value),
                    ("_created", _) => s.created = Some(value),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The scrape as OTLP. Empty when nothing was added.
    pub fn finish(self) -> Vec<ResourceMetrics> {
        let mut out = Vec::with_capacity(self.resources.len());
        for (_, res) in self.resources {
            let mut scope_metrics = Vec::new();
            for (_, sc) in res.scopes {
                let created = sc.created;
                let metrics: Vec<Metric> = sc
                    .metrics
                    .into_iter()
                    .filter_map(|(name, e)| build_metric(name, e, &created))
                    .collect();
                if !metrics.is_empty() {
                    scope_metrics.push(ScopeMetrics {
                        scope: Some(sc.scope),
                        metrics,
                        schema_url: sc.schema_url,
                    });
                }
            }
            if !scope_metrics.is_empty() {
                out.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes: res.attrs,
                        ..Default::default()
                    }),
                    scope_metrics,
                    schema_url: String::new(),
                });
            }
        }
        out
    }
}

fn new_entry(kind: MetricType, fm: Option<&FamilyMeta>) -> MetricEntry {
    MetricEntry {
        help: fm.map(|m| m.help.clone()).unwrap_or_default(),
        unit: fm.map(|m| ucum(&m.unit)).unwrap_or_default(),
        prom_type: prom_type_name(kind),
        acc: match kind {
            MetricType::Counter => MetricAcc::Sum {
                monotonic: true,
                points: IndexMap::new(),
            },
            MetricType::Info | MetricType::StateSet => MetricAcc::Sum {
                monotonic: false,
                points: IndexMap::new(),
            },
            MetricType::Histogram => MetricAcc::Histogram(IndexMap::new()),
            MetricType::Summary => MetricAcc::Summary(IndexMap::new()),
            _ => MetricAcc::Gauge(IndexMap::new()),
        },
    }
}

fn secs_to_nanos(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1e9) as u64
    } else {
        0
    }
}

fn build_metric(
    name: String,
    e: MetricEntry,
    created: &HashMap<(String, Series), f64>,
) -> Option<Metric> {
    let cumulative = AggregationTemporality::Cumulative as i32;
    let data = match e.acc {
        MetricAcc::Gauge(points) => metric::Data::Gauge(Gauge {
            data_points: points.into_values().collect(),
        }),
        MetricAcc::Sum { monotonic, points } => metric::Data::Sum(Sum {
            data_points: points
                .into_iter()
                .map(|(series, mut p)| {
                    if let Some(c) = created.get(&(name.clone(), series)) {
                        p.start_time_unix_nano = secs_to_nanos(*c);
                    }
                    p
                })
                .collect(),
            aggregation_temporality: cumulative,
            is_monotonic: monotonic,
        }),
        MetricAcc::Histogram(series) => {
            let mut points = Vec::new();
            for (attrs, mut h) in series {
                let Some(count) = h.count.filter(|_| !h.stale).or(h.stale.then_some(0.0)) else {
                    continue;
                };
                h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut bounds = Vec::new();
                let mut counts = Vec::new();
                let mut prev = 0.0;
                for (bound, cum) in &h.buckets {
                    if bound.is_infinite() && *bound > 0.0 {
                        continue;
                    }
                    bounds.push(*bound);
                    counts.push(if h.stale {
                        0
                    } else {
                        (cum - prev).max(0.0) as u64
                    });
                    prev = *cum;
                }
                counts.push(if h.stale {
                    0
                } else {
                    (count - prev).max(0.0) as u64
                });
                points.push(HistogramDataPoint {
                    attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                    start_time_unix_nano: h.created.map_or(0, secs_to_nanos),
                    time_unix_nano: (h.time_ms.max(0) as u64) * 1_000_000,
                    count: if h.stale { 0 } else { count as u64 },
                    sum: if h.stale { None } else { h.sum },
                    bucket_counts: counts,
                    explicit_bounds: bounds,
                    exemplars: h.exemplars,
                    flags: if h.stale { NO_RECORDED_VALUE } else { 0 },
                    min: None,
                    max: None,
                });
            }
            metric::Data::Histogram(Histogram {
                data_points: points,
                aggregation_temporality: cumulative,
            })
        }
        MetricAcc::Summary(series) => {
            let mut points = Vec::new();
            for (attrs, mut s) in series {
                let Some(count) = s.count.filter(|_| !s.stale).or(s.stale.then_some(0.0)) else {
                    continue;
                };
                s.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                points.push(SummaryDataPoint {
                    attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                    start_time_unix_nano: s.created.map_or(0, secs_to_nanos),
                    time_unix_nano: (s.time_ms.max(0) as u64) * 1_000_000,
                    count: if s.stale { 0 } else { count as u64 },
                    sum: if s.stale { 0.0 } else { s.sum.unwrap_or(0.0) },
                    quantile_values: s
                        .quantiles
                        .iter()
                        .map(|(q, v)| ValueAtQuantile {
                            quantile: *q,
                            value: if s.stale { 0.0 } else { *v },
                        })
                        .collect(),
                    flags: if s.stale { NO_RECORDED_VALUE } else { 0 },
                });
            }
            metric::Data::Summary(Summary {
                data_points: points,
            })
        }
    };
    if crate::data::data_point_count(Some(&data)) == 0 {
        return None;
    }
    Some(Metric {
        name,
        description: e.help,
        unit: e.unit,
        metadata: vec![kv("prometheus.type", e.prom_type)],
        data: Some(data),
    })
}

fn convert_exemplar(e: &ExemplarIn<'_>) -> Exemplar {
    let mut out = Exemplar {
        time_unix_nano: e.timestamp_ms.map_or(0, |t| (t.max(0) as u64) * 1_000_000),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..Default::default()
    };
    for (k, v) in &e.labels {
        let id_len = match k.to_ascii_lowercase().as_str() {
            "trace_id" => Some(16),
            "span_id" => Some(8),
            _ => None,
        };
        match id_len.and_then(|n| hex_id(v, n)) {
            Some(bytes) if id_len == Some(16) => out.trace_id = bytes,
            Some(bytes) => out.span_id = bytes,
            None => out.filtered_attributes.push(kv(k, v)),
        }
    }
    out
}

/// Hex-decodes an ID, left-padding with zeros to `len` bytes.
fn hex_id(s: &str, len: usize) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() > len * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{s:0>width$}", width = len * 2);
    (0..len)
        .map(|i| u8::from_str_radix(&padded[i * 2..i * 2 + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests;
