//! One series prepared for conversion: everything the converter derives from a final label set
//! (resource, scope, OTLP metric name, the sample's role in its metric, and the point
//! attributes already as OTLP `KeyValue`s), computed once. The scrape loop keeps prepared
//! series across scrapes, so a series that is scraped again costs a clone of its attributes
//! and no label work.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, LazyLock};

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

use super::super::prehashed::write_label_pairs;
use super::{TargetResource, DEFAULT_SCOPE};
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

/// Point attributes kept compactly (one string and the end offsets of each name and value):
/// about a fifth of the memory of the `KeyValue`s they turn into, which matters when every
/// series of every target keeps one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactAttrs {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl CompactAttrs {
    fn from_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (k, v) in pairs {
            for part in [k, v] {
                text.push_str(part);
                // Label sets are bounded by the body size limit, far below 4 GiB.
                ends.push(u32::try_from(text.len()).unwrap_or(u32::MAX));
            }
        }
        Self {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// The (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let part = |i: usize| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            self.text.get(start..self.ends[i] as usize).unwrap_or("")
        };
        (0..self.ends.len() / 2).map(move |i| (part(2 * i), part(2 * i + 1)))
    }

    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The attributes as OTLP.
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.iter().map(|(k, v)| kv(k, v)));
        out
    }

    /// Whether `kvs` holds exactly these attributes, in order.
    pub fn same_as(&self, kvs: &[KeyValue]) -> bool {
        kvs.len() == self.len()
            && self.iter().zip(kvs).all(|((k, v), a)| {
                a.key == k
                    && matches!(a.value.as_ref().and_then(|x| x.value.as_ref()),
                        Some(any_value::Value::StringValue(s)) if s == v)
            })
    }

    fn hash(&self) -> u64 {
        let mut h = ATTR_HASH_KEYS.build_hasher();
        write_label_pairs(&mut h, self.iter());
        h.finish()
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
    pub(super) attrs: CompactAttrs,
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
            let attrs =
                CompactAttrs::from_pairs(labels.iter().filter(|(k, v)| {
                    !matches!(*k, "job" | "instance" | "__name__") && !v.is_empty()
                }));
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
        let attrs = CompactAttrs::from_pairs(attrs.into_iter());
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(p.attrs.same_as(&[kv("code", "200")]));
        assert!(!p.attrs.same_as(&[kv("code", "201")]));
        assert!(!p.attrs.same_as(&[]));
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
        assert!(s.attrs.is_empty());
        assert_eq!(s.staleness(), StaleRole::Always);
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
