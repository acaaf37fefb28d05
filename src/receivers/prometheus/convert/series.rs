//! One series prepared for conversion: everything the converter derives from a final label set
//! (resource, scope, OTLP metric name, the sample's role in its metric, and the point
//! attributes already protobuf-encoded), computed once. The scrape loop keeps prepared
//! series across scrapes, so a series that is scraped again costs a reference count and no
//! label work.

use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::encoding::decode_varint;
use prost::Message;

use super::{TargetResource, DEFAULT_SCOPE};
use crate::data::wire::{string_kv_len, write_string_kv};
use crate::exposition::{parse_float_pub, MetricType};
use crate::relabel::Labels;

/// The `otel_scope_*` identity of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeKey {
    pub name: String,
    pub version: String,
    pub schema_url: String,
    pub attrs: Vec<(String, String)>,
}

/// The scope of series without `otel_scope_name`: the receiver's, with our version.
pub static DEFAULT_SCOPE_KEY: LazyLock<Arc<ScopeKey>> = LazyLock::new(|| {
    Arc::new(ScopeKey {
        name: DEFAULT_SCOPE.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        schema_url: String::new(),
        attrs: Vec::new(),
    })
});

/// Hashes attribute lists for grouping within one scrape (per process keys; equal hashes are
/// confirmed by comparing the lists).
static ATTR_HASH_KEYS: LazyLock<std::collections::hash_map::RandomState> =
    LazyLock::new(std::collections::hash_map::RandomState::new);

/// The `attributes` field of `NumberDataPoint` and `SummaryDataPoint`.
const NUMBER_ATTRS_TAG: u32 = 7;
/// The `attributes` field of `HistogramDataPoint`.
const HISTOGRAM_ATTRS_TAG: u32 = 9;

/// What a sample contributes to its metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// A gauge, counter, info, stateset or unknown sample: one point.
    Point,
    /// A histogram `_bucket` with its parsed `le`.
    Bucket(f64),
    /// A summary quantile with its parsed `quantile`.
    Quantile(f64),
    Count,
    Sum,
    /// `_created` of a histogram or summary.
    Created,
    /// A histogram or summary sample that is none of the above (only its timestamp and
    /// staleness count).
    Other,
    /// `_created` of a counter: the start time of the counter named `metric`.
    CounterCreated,
    /// `target_info`: its labels become resource attributes.
    TargetInfo,
    /// Gauge histograms are not converted (as otelcol).
    Ignored,
}

/// How a series that went away takes part in stale markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleRole {
    /// Its own point goes stale.
    Always,
    /// The `_count` of a histogram or summary: the whole point goes stale.
    Count,
    /// Another series of a histogram or summary: marked only with its `_count`.
    WithCount,
    /// Nothing to mark (counter `_created`, gauge histograms).
    Never,
}

/// Point attributes already encoded as the repeated `attributes` field of the series' OTLP
/// data point (field 7 of number and summary points, 9 of histogram points), so a scrape
/// copies them into its output instead of building `KeyValue`s. About the size of the label
/// text; shared (`Arc`) between the series of one histogram or summary point and with the
/// points of a scrape in flight.
#[derive(Debug, Clone, Default)]
pub struct EncodedAttrs(Arc<[u8]>);

impl PartialEq for EncodedAttrs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for EncodedAttrs {}

impl EncodedAttrs {
    /// Encodes (name, value) string attributes as field `tag`.
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone, tag: u32) -> Self {
        let len = pairs.clone().map(|(k, v)| string_kv_len(tag, k, v)).sum();
        let mut bytes = Vec::with_capacity(len);
        for (k, v) in pairs {
            write_string_kv(tag, k, v, &mut bytes);
        }
        Self(bytes.into())
    }

    /// The encoded field entries.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether both are the same allocation (the fast path of equality).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The attributes as OTLP structs (for `target_info`, which becomes resource attributes).
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        let mut out = Vec::new();
        let mut buf: &[u8] = &self.0;
        // Each entry is key, length, KeyValue, as `from_pairs` wrote it.
        while !buf.is_empty() {
            let (Ok(_), Ok(len)) = (decode_varint(&mut buf), decode_varint(&mut buf)) else {
                break;
            };
            let Some(entry) = usize::try_from(len).ok().and_then(|l| buf.get(..l)) else {
                break;
            };
            if let Ok(kv) = KeyValue::decode(entry) {
                out.push(kv);
            }
            buf = &buf[entry.len()..];
        }
        out
    }

    fn hash(&self) -> u64 {
        ATTR_HASH_KEYS.hash_one(&*self.0)
    }
}

/// One series, ready for `Converter::add_prepared`.
#[derive(Debug)]
pub struct PreparedSeries {
    /// `(job, instance)` when they differ from the target's own.
    pub(super) resource: Option<Box<(String, String)>>,
    pub(super) scope: Arc<ScopeKey>,
    /// The OTLP metric name (the family for histograms and summaries).
    pub(super) metric: String,
    pub(super) kind: MetricType,
    pub(super) role: Role,
    pub(super) attrs: EncodedAttrs,
    pub(super) attrs_hash: u64,
}

pub(super) use crate::data::string_kv as kv;

impl PreparedSeries {
    /// Prepares a final label set (including `__name__`) whose family and type come from the
    /// scrape's metadata. Errors reject the sample (and are not worth caching).
    pub fn new(
        labels: &Labels,
        family: &str,
        kind: MetricType,
        target: &TargetResource,
    ) -> Result<Self, String> {
        let name = labels.get("__name__");
        if name.is_empty() {
            return Err("sample without a metric name".into());
        }
        let mut job = labels.get("job");
        let mut instance = labels.get("instance");
        if job.is_empty() {
            job = &target.job;
        }
        if instance.is_empty() {
            instance = &target.instance;
        }
        if job.is_empty() || instance.is_empty() {
            return Err("job or instance cannot be found from labels".into());
        }
        let resource = (job != target.job || instance != target.instance)
            .then(|| Box::new((job.to_string(), instance.to_string())));
        if name == "target_info" {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .filter(|(k, v)| !matches!(*k, "job" | "instance" | "__name__") && !v.is_empty())
                .collect();
            let attrs = EncodedAttrs::from_pairs(pairs.iter().copied(), NUMBER_ATTRS_TAG);
            return Ok(Self {
                resource,
                scope: Arc::clone(&DEFAULT_SCOPE_KEY),
                metric: String::new(),
                kind,
                role: Role::TargetInfo,
                attrs,
                attrs_hash: 0,
            });
        }
        let (mut sname, mut sver, mut surl) = ("", "", "");
        let mut sattrs: Vec<(String, String)> = Vec::new();
        let mut attrs: Vec<(&str, &str)> = Vec::new();
        let (mut le, mut quantile) = (None, None);
        for (k, v) in labels.iter() {
            match k {
                "__name__" | "job" | "instance" | "__scheme__" | "__metrics_path__" => {}
                "otel_scope_name" => sname = v,
                "otel_scope_version" => sver = v,
                "otel_scope_schema_url" => surl = v,
                _ if k.starts_with("otel_scope_") => {
                    sattrs.push((k["otel_scope_".len()..].to_string(), v.to_string()))
                }
                "le" if kind == MetricType::Histogram => le = Some(v),
                "quantile" if kind == MetricType::Summary => quantile = Some(v),
                _ if v.is_empty() => {}
                _ => attrs.push((k, v)),
            }
        }
        let scope = if sname.is_empty() {
            Arc::clone(&DEFAULT_SCOPE_KEY)
        } else {
            Arc::new(ScopeKey {
                name: sname.to_string(),
                version: sver.to_string(),
                schema_url: surl.to_string(),
                attrs: sattrs,
            })
        };
        let suffix = name.strip_prefix(family).unwrap_or("");
        let mut metric = match kind {
            MetricType::Histogram | MetricType::Summary => family.to_string(),
            _ => name.to_string(),
        };
        let role =
            match kind {
                MetricType::GaugeHistogram => Role::Ignored,
                MetricType::Counter if suffix == "_created" => {
                    metric = if family.ends_with("_total") {
                        family.to_string()
                    } else {
                        format!("{family}_total")
                    };
                    Role::CounterCreated
                }
                MetricType::Histogram => match suffix {
                    "_bucket" => Role::Bucket(le.and_then(parse_float_pub).ok_or_else(|| {
                        format!("histogram bucket of {family} without a valid le label")
                    })?),
                    "_count" => Role::Count,
                    "_sum" => Role::Sum,
                    "_created" => Role::Created,
                    _ => Role::Other,
                },
                MetricType::Summary => match (suffix, quantile) {
                    ("", Some(q)) => Role::Quantile(parse_float_pub(q).ok_or_else(|| {
                        format!("summary {family} with an invalid quantile label")
                    })?),
                    ("_count", _) => Role::Count,
                    ("_sum", _) => Role::Sum,
                    ("_created", _) => Role::Created,
                    _ => Role::Other,
                },
                _ => Role::Point,
            };
        let tag = if kind == MetricType::Histogram {
            HISTOGRAM_ATTRS_TAG
        } else {
            NUMBER_ATTRS_TAG
        };
        let attrs = EncodedAttrs::from_pairs(attrs.iter().copied(), tag);
        let attrs_hash = attrs.hash();
        Ok(Self {
            resource,
            scope,
            metric,
            kind,
            role,
            attrs,
            attrs_hash,
        })
    }

    /// How this series takes part in stale markers when it went away.
    pub fn staleness(&self) -> StaleRole {
        match (self.kind, self.role) {
            (_, Role::CounterCreated | Role::Ignored) => StaleRole::Never,
            (MetricType::Histogram | MetricType::Summary, Role::Count) => StaleRole::Count,
            // A histogram or summary point still exposed (one bucket less) must not go stale.
            (MetricType::Histogram | MetricType::Summary, _) => StaleRole::WithCount,
            _ => StaleRole::Always,
        }
    }

    /// The identity of the OTLP point this series feeds (within its resource and scope).
    pub fn point_key(&self) -> (&str, u64) {
        (&self.metric, self.attrs_hash)
    }

    /// The OTLP metric name this series feeds.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    pub fn attrs(&self) -> &EncodedAttrs {
        &self.attrs
    }

    /// Takes `other`'s allocation when the attributes are equal: the series of one histogram
    /// or summary point then share it (less memory, and they compare by pointer).
    pub fn share_attrs(&mut self, other: &EncodedAttrs) {
        if !self.attrs.ptr_eq(other) && self.attrs == *other {
            self.attrs = other.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, NumberDataPoint};

    fn target() -> TargetResource {
        TargetResource {
            job: "j".into(),
            instance: "h:1".into(),
            extra: Vec::new(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn roles_names_and_attributes() {
        let t = target();
        let p = PreparedSeries::new(
            &labels(&[
                ("__name__", "lat_bucket"),
                ("le", "0.5"),
                ("code", "200"),
                ("job", "j"),
                ("instance", "h:1"),
            ]),
            "lat",
            MetricType::Histogram,
            &t,
        )
        .unwrap();
        assert_eq!(p.metric, "lat");
        assert_eq!(p.role, Role::Bucket(0.5));
        assert!(p.resource.is_none());
        assert_eq!(p.attrs.to_key_values(), vec![kv("code", "200")]);
        // Encoded as HistogramDataPoint.attributes (field 9), exactly as prost would.
        let point = HistogramDataPoint {
            attributes: vec![kv("code", "200")],
            ..Default::default()
        };
        assert_eq!(p.attrs.as_bytes(), point.encode_to_vec());
        assert_eq!(p.staleness(), StaleRole::WithCount);

        let c = PreparedSeries::new(
            &labels(&[("__name__", "reqs_created"), ("job", "other")]),
            "reqs",
            MetricType::Counter,
            &t,
        )
        .unwrap();
        assert_eq!(
            (c.metric.as_str(), c.role),
            ("reqs_total", Role::CounterCreated)
        );
        assert_eq!(
            c.resource.as_deref(),
            Some(&("other".to_string(), "h:1".to_string()))
        );

        let s = PreparedSeries::new(
            &labels(&[
                ("__name__", "m"),
                ("otel_scope_name", "lib"),
                ("otel_scope_team", "x"),
                ("empty", ""),
            ]),
            "m",
            MetricType::Gauge,
            &t,
        )
        .unwrap();
        assert_eq!(s.scope.name, "lib");
        assert_eq!(s.scope.attrs, vec![("team".to_string(), "x".to_string())]);
        assert!(s.attrs.as_bytes().is_empty());
        assert_eq!(s.staleness(), StaleRole::Always);
        let g = PreparedSeries::new(
            &labels(&[("__name__", "m"), ("b", "2"), ("a", "1")]),
            "m",
            MetricType::Gauge,
            &t,
        )
        .unwrap();
        let point = NumberDataPoint {
            attributes: vec![kv("a", "1"), kv("b", "2")],
            ..Default::default()
        };
        assert_eq!(g.attrs.as_bytes(), point.encode_to_vec());
        assert_eq!(g.attrs.to_key_values(), point.attributes);
    }

    #[test]
    fn series_of_one_point_share_their_attributes() {
        let t = target();
        let series = |name: &str, le: &str, code: &str| {
            let mut pairs = vec![("__name__", name), ("code", code)];
            if !le.is_empty() {
                pairs.push(("le", le));
            }
            PreparedSeries::new(&labels(&pairs), "lat", MetricType::Histogram, &t).unwrap()
        };
        let a = series("lat_bucket", "0.5", "200");
        let mut b = series("lat_bucket", "1", "200");
        let mut c = series("lat_count", "", "500");
        assert!(a.attrs == b.attrs && !a.attrs.ptr_eq(&b.attrs));
        b.share_attrs(a.attrs());
        assert!(b.attrs.ptr_eq(&a.attrs));
        c.share_attrs(a.attrs());
        assert!(!c.attrs.ptr_eq(&a.attrs));
        assert_eq!(c.attrs.to_key_values(), vec![kv("code", "500")]);
    }

    #[test]
    fn invalid_bounds_and_missing_identity_are_errors() {
        let t = target();
        let e = PreparedSeries::new(
            &labels(&[("__name__", "lat_bucket"), ("le", "x")]),
            "lat",
            MetricType::Histogram,
            &t,
        )
        .unwrap_err();
        assert_eq!(e, "histogram bucket of lat without a valid le label");
        let e = PreparedSeries::new(
            &labels(&[("__name__", "m")]),
            "m",
            MetricType::Gauge,
            &TargetResource::default(),
        )
        .unwrap_err();
        assert_eq!(e, "job or instance cannot be found from labels");
    }

    #[test]
    fn equal_attribute_lists_hash_equal() {
        let t = target();
        let a = PreparedSeries::new(
            &labels(&[("__name__", "a"), ("x", "1")]),
            "a",
            MetricType::Gauge,
            &t,
        )
        .unwrap();
        let b = PreparedSeries::new(
            &labels(&[("__name__", "b"), ("x", "1")]),
            "b",
            MetricType::Gauge,
            &t,
        )
        .unwrap();
        let c = PreparedSeries::new(
            &labels(&[("__name__", "a"), ("x", "2")]),
            "a",
            MetricType::Gauge,
            &t,
        )
        .unwrap();
        assert_eq!(a.attrs_hash, b.attrs_hash);
        assert_ne!(a.attrs_hash, c.attrs_hash);
    }
}
