//! What the `debug` exporter writes: the one-line per-batch summary (otelcol's basic
//! verbosity, same field names), the per-item text block of normal verbosity (one line per
//! span / metric / log record, in a single event), the detailed dump (the batch as pretty
//! OTLP/JSON, not otelcol's text layout), and the per-second log sampler.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric;

use crate::data::{data_point_count, Batch, Logs, Metrics, SignalData, Traces};

/// Per-signal formatting.
pub trait DebugFormat: SignalData + Sized {
    /// Logs the basic summary line through `tracing`.
    fn log_summary(exporter: &str, batch: &Batch<Self>);
    /// The basic summary as text (for stdout output).
    fn summary_text(batch: &Batch<Self>) -> String;
    /// Appends one line per item (normal verbosity).
    fn normal_text(batch: &Batch<Self>, out: &mut String);
}

fn value_text(v: Option<&AnyValue>) -> String {
    let Some(v) = v.and_then(|v| v.value.as_ref()) else {
        return String::new();
    };
    match v {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        any_value::Value::BytesValue(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        any_value::Value::ArrayValue(a) => format!(
            "[{}]",
            a.values
                .iter()
                .map(|v| value_text(Some(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        any_value::Value::KvlistValue(kv) => format!("{{{}}}", attrs_text(&kv.values)),
        any_value::Value::StringValueStrindex(i) => format!("strindex:{i}"),
    }
}

fn attrs_text(attrs: &[KeyValue]) -> String {
    attrs
        .iter()
        .map(|kv| format!("{}={}", kv.key, value_text(kv.value.as_ref())))
        .collect::<Vec<_>>()
        .join(" ")
}

fn scope_text(scope: Option<&InstrumentationScope>) -> String {
    match scope {
        Some(s) if !s.version.is_empty() => format!("{}@{}", s.name, s.version),
        Some(s) => s.name.clone(),
        None => String::new(),
    }
}

/// Joins the non-empty parts with single spaces.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl DebugFormat for Traces {
    fn log_summary(exporter: &str, batch: &Batch<Self>) {
        tracing::info!(
            exporter = %exporter,
            "resource spans" = batch.resources().len(),
            spans = batch.items(),
            "Traces"
        );
    }
    fn summary_text(batch: &Batch<Self>) -> String {
        format!(
            "Traces resource spans={} spans={}",
            batch.resources().len(),
            batch.items()
        )
    }
    fn normal_text(batch: &Batch<Self>, out: &mut String) {
        for (i, rs) in batch.resources().iter().enumerate() {
            let attrs = rs.resource.as_ref().map(|r| attrs_text(&r.attributes));
            let _ = writeln!(
                out,
                "{}",
                join(&[&format!("ResourceSpans #{i}"), &attrs.unwrap_or_default()])
            );
            for (j, ss) in rs.scope_spans.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}",
                    join(&[&format!("ScopeSpans #{j}"), &scope_text(ss.scope.as_ref())])
                );
                for s in &ss.spans {
                    let _ = writeln!(
                        out,
                        "{}",
                        join(&[
                            &s.name,
                            &hex(&s.trace_id),
                            &hex(&s.span_id),
                            &attrs_text(&s.attributes)
                        ])
                    );
                }
            }
        }
    }
}

fn metric_type(d: Option<&metric::Data>) -> &'static str {
    match d {
        Some(metric::Data::Gauge(_)) => "Gauge",
        Some(metric::Data::Sum(_)) => "Sum",
        Some(metric::Data::Histogram(_)) => "Histogram",
        Some(metric::Data::ExponentialHistogram(_)) => "ExponentialHistogram",
        Some(metric::Data::Summary(_)) => "Summary",
        None => "Empty",
    }
}

impl DebugFormat for Metrics {
    fn log_summary(exporter: &str, batch: &Batch<Self>) {
        let resources = batch.resources();
        let metrics: usize = resources
            .iter()
            .flat_map(|r| r.scope_metrics.iter())
            .map(|s| s.metrics.len())
            .sum();
        tracing::info!(
            exporter = %exporter,
            "resource metrics" = resources.len(),
            metrics,
            "data points" = batch.items(),
            "Metrics"
        );
    }
    fn summary_text(batch: &Batch<Self>) -> String {
        let resources = batch.resources();
        let metrics: usize = resources
            .iter()
            .flat_map(|r| r.scope_metrics.iter())
            .map(|s| s.metrics.len())
            .sum();
        format!(
            "Metrics resource metrics={} metrics={metrics} data points={}",
            resources.len(),
            batch.items()
        )
    }
    fn normal_text(batch: &Batch<Self>, out: &mut String) {
        for (i, rm) in batch.resources().iter().enumerate() {
            let attrs = rm.resource.as_ref().map(|r| attrs_text(&r.attributes));
            let _ = writeln!(
                out,
                "{}",
                join(&[&format!("ResourceMetrics #{i}"), &attrs.unwrap_or_default()])
            );
            for (j, sm) in rm.scope_metrics.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}",
                    join(&[
                        &format!("ScopeMetrics #{j}"),
                        &scope_text(sm.scope.as_ref())
                    ])
                );
                for m in &sm.metrics {
                    let _ = writeln!(
                        out,
                        "{} {} data points={}",
                        m.name,
                        metric_type(m.data.as_ref()),
                        data_point_count(m.data.as_ref())
                    );
                }
            }
        }
    }
}

impl DebugFormat for Logs {
    fn log_summary(exporter: &str, batch: &Batch<Self>) {
        tracing::info!(
            exporter = %exporter,
            "resource logs" = batch.resources().len(),
            "log records" = batch.items(),
            "Logs"
        );
    }
    fn summary_text(batch: &Batch<Self>) -> String {
        format!(
            "Logs resource logs={} log records={}",
            batch.resources().len(),
            batch.items()
        )
    }
    fn normal_text(batch: &Batch<Self>, out: &mut String) {
        for (i, rl) in batch.resources().iter().enumerate() {
            let attrs = rl.resource.as_ref().map(|r| attrs_text(&r.attributes));
            let _ = writeln!(
                out,
                "{}",
                join(&[&format!("ResourceLog #{i}"), &attrs.unwrap_or_default()])
            );
            for (j, sl) in rl.scope_logs.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}",
                    join(&[&format!("ScopeLog #{j}"), &scope_text(sl.scope.as_ref())])
                );
                for r in &sl.log_records {
                    let _ = writeln!(
                        out,
                        "{}",
                        join(&[&value_text(r.body.as_ref()), &attrs_text(&r.attributes)])
                    );
                }
            }
        }
    }
}

/// zap-style sampling: the first `initial` batches of each second are logged, then every
/// `thereafter`-th (0 = none).
pub struct Sampler {
    initial: u64,
    thereafter: u64,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Sampler {
    pub fn new(initial: u64, thereafter: u64) -> Self {
        Self {
            initial,
            thereafter,
            state: Mutex::new((None, 0)),
        }
    }

    /// Whether the batch seen `now` is logged.
    pub fn allow(&self, now: Instant) -> bool {
        let mut st = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let fresh = match st.0 {
            Some(start) => now.saturating_duration_since(start) >= Duration::from_secs(1),
            None => true,
        };
        if fresh {
            *st = (Some(now), 0);
        }
        st.1 += 1;
        let n = st.1;
        if n <= self.initial {
            return true;
        }
        self.thereafter > 0 && (n - self.initial).is_multiple_of(self.thereafter)
    }
}
