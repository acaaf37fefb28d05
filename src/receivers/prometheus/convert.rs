//! One scrape's samples -> OTLP metrics, following otelcol's prometheus receiver (spec 5.3):
//! one resource per (job, instance) with `service.*`, `server.*`, `url.scheme` and the
//! Kubernetes attributes of the target; `target_info` folded into the resource; scopes from
//! `otel_scope_*`; counters as monotonic cumulative sums named by the sample, histograms and
//! summaries grouped under the family name with de-cumulated buckets; unknown as gauges;
//! stale markers as points flagged NoRecordedValue; start time only from `_created`.
//!
//! The input is the final sample label set (after target labels were merged and
//! `metric_relabel_configs` ran), so this module knows nothing of relabeling or scraping.

mod encode;
mod series;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, summary_data_point::ValueAtQuantile, Exemplar, HistogramDataPoint,
    NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::prehashed::HashKeyed;
use crate::data::EncodedResource;
use crate::exposition::MetricType;
use crate::relabel::Labels;
use encode::{DataOut, MetricOut, ScopeOut};
use series::kv;
pub use series::{EncodedAttrs, PreparedSeries, Role, ScopeKey, StaleRole};

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
pub struct Metadata(HashMap<String, FamilyMeta, foldhash::fast::RandomState>);

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

/// Points of a gauge or sum, with the attribute hash of each (grouping, `_created`).
#[derive(Default)]
struct NumberPoints {
    points: Vec<(EncodedAttrs, NumberDataPoint)>,
    hashes: Vec<u64>,
    index: HashKeyed<usize>,
}

enum MetricAcc {
    Gauge(NumberPoints),
    Sum {
        monotonic: bool,
        points: NumberPoints,
    },
    Histogram(Grouped<HistAcc>),
    Summary(Grouped<SummaryAcc>),
}

/// Histogram or summary points being assembled from their series, by attributes.
struct Grouped<T> {
    series: Vec<(EncodedAttrs, T)>,
    index: HashKeyed<usize>,
    /// The slot of the previous sample: a point's series are usually adjacent.
    last: usize,
}

impl<T: Default> Grouped<T> {
    fn new() -> Self {
        Self {
            series: Vec::new(),
            index: HashKeyed::default(),
            last: usize::MAX,
        }
    }

    /// The slot for these attributes, created empty when new.
    fn slot(&mut self, p: &PreparedSeries) -> &mut T {
        let found = if self
            .series
            .get(self.last)
            .is_some_and(|(a, _)| p.attrs == *a)
        {
            Some(self.last)
        } else {
            match self.index.get(&p.attrs_hash) {
                Some(&i) if p.attrs == self.series[i].0 => Some(i),
                // A hash collision: find it the slow way.
                Some(_) => self.series.iter().position(|(a, _)| p.attrs == *a),
                None => None,
            }
        };
        let i = found.unwrap_or_else(|| {
            self.series.push((p.attrs.clone(), T::default()));
            let i = self.series.len() - 1;
            self.index.entry(p.attrs_hash).or_insert(i);
            i
        });
        self.last = i;
        &mut self.series[i].1
    }
}

impl NumberPoints {
    /// Adds a point; a later point of the same attributes replaces the earlier one.
    fn put(&mut self, hash: u64, attrs: &EncodedAttrs, p: NumberDataPoint) {
        let same = match self.index.get(&hash) {
            Some(&i) if self.points[i].0 == *attrs => Some(i),
            Some(_) => self.points.iter().position(|(a, _)| a == attrs),
            None => None,
        };
        match same {
            Some(i) => self.points[i].1 = p,
            None => {
                self.index.entry(hash).or_insert(self.points.len());
                self.points.push((attrs.clone(), p));
                self.hashes.push(hash);
            }
        }
    }
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

/// Counter start times from `_created` samples, by counter name and attribute hash.
type CreatedTimes = HashMap<(String, u64), Vec<(EncodedAttrs, f64)>>;

struct ScopeAcc {
    key: Arc<ScopeKey>,
    metrics: IndexMap<String, MetricEntry>,
    /// The index of the previous sample's metric: a metric's samples are usually adjacent.
    last_metric: usize,
    created: CreatedTimes,
}

struct ResourceAcc {
    key: (String, String),
    attrs: Vec<KeyValue>,
    scopes: Vec<ScopeAcc>,
}

/// An exemplar as parsed.
pub struct ExemplarIn<'a> {
    pub labels: Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Accumulates one scrape and produces its `ResourceMetrics`, encoded.
pub struct Converter {
    target: TargetResource,
    resources: Vec<ResourceAcc>,
    /// The index of the target's own (job, instance) resource, once created.
    own_resource: Option<usize>,
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
            resources: Vec::new(),
            own_resource: None,
        }
    }

    /// The target this converter fills resources for.
    pub fn target(&self) -> &TargetResource {
        &self.target
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
        let (family, fm) = meta.lookup(labels.get("__name__"));
        let kind = fm.map_or(MetricType::Unknown, |m| m.kind);
        let p = PreparedSeries::new(labels, family, kind, &self.target)?;
        self.add_prepared(&p, value, ts_ms, exemplar, fm);
        Ok(())
    }

    fn resource(&mut self, p: &PreparedSeries) -> &mut ResourceAcc {
        let idx = match &p.resource {
            None => self.own_resource,
            Some(key) => self.resources.iter().position(|r| r.key == **key),
        };
        let idx = idx.unwrap_or_else(|| {
            let (job, instance) = match &p.resource {
                Some(key) => (key.0.as_str(), key.1.as_str()),
                None => (self.target.job.as_str(), self.target.instance.as_str()),
            };
            self.resources.push(ResourceAcc {
                key: (job.to_string(), instance.to_string()),
                attrs: resource_attributes(job, instance, &self.target),
                scopes: Vec::new(),
            });
            let i = self.resources.len() - 1;
            if p.resource.is_none() {
                self.own_resource = Some(i);
            }
            i
        });
        &mut self.resources[idx]
    }

    /// Adds one sample of a prepared series. `fm` is the metadata of its family in this
    /// scrape (help and unit of the metric when this is its first sample).
    pub fn add_prepared(
        &mut self,
        p: &PreparedSeries,
        value: f64,
        ts_ms: i64,
        exemplar: Option<ExemplarIn<'_>>,
        fm: Option<&FamilyMeta>,
    ) {
        let res = self.resource(p);
        match p.role {
            Role::TargetInfo => {
                for attr in p.attrs.to_key_values() {
                    res.attrs.retain(|r| r.key != attr.key);
                    res.attrs.push(attr);
                }
                return;
            }
            Role::Ignored => return,
            _ => {}
        }
        let sidx = res
            .scopes
            .iter()
            .position(|s| Arc::ptr_eq(&s.key, &p.scope) || s.key == p.scope)
            .unwrap_or_else(|| {
                res.scopes.push(ScopeAcc {
                    key: Arc::clone(&p.scope),
                    metrics: IndexMap::new(),
                    last_metric: usize::MAX,
                    created: HashMap::new(),
                });
                res.scopes.len() - 1
            });
        let scope = &mut res.scopes[sidx];
        if p.role == Role::CounterCreated {
            scope
                .created
                .entry((p.metric.clone(), p.attrs_hash))
                .or_default()
                .push((p.attrs.clone(), value));
            return;
        }
        let midx = match scope.metrics.get_index(scope.last_metric) {
            Some((name, _)) if *name == p.metric => scope.last_metric,
            _ => match scope.metrics.get_index_of(p.metric.as_str()) {
                Some(i) => i,
                None => {
                    scope
                        .metrics
                        .insert_full(p.metric.clone(), new_entry(p.kind, fm))
                        .0
                }
            },
        };
        scope.last_metric = midx;
        let Some((_, entry)) = scope.metrics.get_index_mut(midx) else {
            return;
        };
        let stale = is_stale(value);
        let exemplars: Vec<Exemplar> = exemplar.map(|e| convert_exemplar(&e)).into_iter().collect();
        match &mut entry.acc {
            MetricAcc::Gauge(points) | MetricAcc::Sum { points, .. } => {
                let point = NumberDataPoint {
                    time_unix_nano: (ts_ms.max(0) as u64) * 1_000_000,
                    flags: if stale { NO_RECORDED_VALUE } else { 0 },
                    value: (!stale).then_some(number_data_point::Value::AsDouble(value)),
                    exemplars,
                    ..Default::default()
                };
                points.put(p.attrs_hash, &p.attrs, point);
            }
            MetricAcc::Histogram(g) => {
                let h = g.slot(p);
                h.time_ms = ts_ms;
                h.stale |= stale;
                match p.role {
                    Role::Bucket(bound) => {
                        h.buckets.push((bound, value));
                        h.exemplars.extend(exemplars);
                    }
                    Role::Count => h.count = Some(value),
                    Role::Sum => h.sum = Some(value),
                    Role::Created => h.created = Some(value),
                    _ => {}
                }
            }
            MetricAcc::Summary(g) => {
                let s = g.slot(p);
                s.time_ms = ts_ms;
                s.stale |= stale;
                match p.role {
                    Role::Quantile(q) => s.quantiles.push((q, value)),
                    Role::Count => s.count = Some(value),
                    Role::Sum => s.sum = Some(value),
                    Role::Created => s.created = Some(value),
                    _ => {}
                }
            }
        }
    }

    /// The scrape as encoded `ResourceMetrics`, with their point counts. Empty when
    /// nothing was added.
    pub fn finish_encoded(self) -> Vec<EncodedResource> {
        let mut out = Vec::with_capacity(self.resources.len());
        for res in self.resources {
            let mut scopes = Vec::new();
            for sc in res.scopes {
                let created = sc.created;
                let metrics: Vec<MetricOut> = sc
                    .metrics
                    .into_iter()
                    .filter_map(|(name, e)| build_metric(name, e, &created))
                    .collect();
                if !metrics.is_empty() {
                    let key = Arc::unwrap_or_clone(sc.key);
                    scopes.push(ScopeOut {
                        scope: InstrumentationScope {
                            name: key.name,
                            version: key.version,
                            attributes: key.attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                            dropped_attributes_count: 0,
                        },
                        metrics,
                        schema_url: key.schema_url,
                    });
                }
            }
            if !scopes.is_empty() {
                let resource = Resource {
                    attributes: res.attrs,
                    ..Default::default()
                };
                out.push(encode::encode_resource(&resource, &scopes));
            }
        }
        out
    }

    /// The scrape as OTLP structs (decoded from `finish_encoded`).
    #[cfg(test)]
    pub fn finish(self) -> Vec<opentelemetry_proto::tonic::metrics::v1::ResourceMetrics> {
        crate::data::Batch::<crate::data::Metrics>::from_encoded(self.finish_encoded())
            .into_resources()
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
                points: NumberPoints::default(),
            },
            MetricType::Info | MetricType::StateSet => MetricAcc::Sum {
                monotonic: false,
                points: NumberPoints::default(),
            },
            MetricType::Histogram => MetricAcc::Histogram(Grouped::new()),
            MetricType::Summary => MetricAcc::Summary(Grouped::new()),
            _ => MetricAcc::Gauge(NumberPoints::default()),
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

fn build_metric(name: String, e: MetricEntry, created: &CreatedTimes) -> Option<MetricOut> {
    let data = match e.acc {
        MetricAcc::Gauge(points) => DataOut::Gauge(points.points),
        MetricAcc::Sum { monotonic, points } => {
            let mut data_points = points.points;
            if !created.is_empty() {
                for ((attrs, p), hash) in data_points.iter_mut().zip(points.hashes) {
                    let start = created
                        .get(&(name.clone(), hash))
                        .and_then(|c| c.iter().find(|(a, _)| a == attrs));
                    if let Some((_, c)) = start {
                        p.start_time_unix_nano = secs_to_nanos(*c);
                    }
                }
            }
            DataOut::Sum {
                monotonic,
                points: data_points,
            }
        }
        MetricAcc::Histogram(g) => {
            let mut points = Vec::new();
            for (attrs, mut h) in g.series {
                let Some(count) = h.count.filter(|_| !h.stale).or(h.stale.then_some(0.0)) else {
                    continue;
                };
                h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut bounds = Vec::with_capacity(h.buckets.len());
                let mut counts = Vec::with_capacity(h.buckets.len() + 1);
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
                let point = HistogramDataPoint {
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
                    attributes: Vec::new(),
                };
                points.push((attrs, point));
            }
            DataOut::Histogram(points)
        }
        MetricAcc::Summary(g) => {
            let mut points = Vec::new();
            for (attrs, mut s) in g.series {
                let Some(count) = s.count.filter(|_| !s.stale).or(s.stale.then_some(0.0)) else {
                    continue;
                };
                s.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
                let point = SummaryDataPoint {
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
                    attributes: Vec::new(),
                };
                points.push((attrs, point));
            }
            DataOut::Summary(points)
        }
    };
    if data.point_count() == 0 {
        return None;
    }
    Some(MetricOut {
        name,
        description: e.help,
        unit: e.unit,
        prom_type: e.prom_type,
        data,
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
