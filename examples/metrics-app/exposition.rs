//! `/metrics`: the `myapp_processed_ops_total` counter in a `prometheus-client` registry,
//! encoded as OpenMetrics 1.0 when the scraper's `Accept` asks for it (Prometheus and
//! ferrocol do) and as Prometheus text 0.0.4 otherwise (curl, older scrapers).

use std::fmt;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The family name; both formats add the `_total` suffix to the sample.
pub const NAME: &str = "myapp_processed_ops";
/// The sample name as scraped (and as pushed over OTLP).
pub const SAMPLE: &str = "myapp_processed_ops_total";
pub const HELP: &str = "The total number of processed operations";

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The counter; clones share the value.
#[derive(Debug, Clone, Default)]
pub struct OpsCounter(Counter);

impl OpsCounter {
    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// Registered as a collector rather than with `Registry::register`, which appends a period to
/// every help text: this keeps the help exactly `HELP`.
impl prometheus_client::collector::Collector for OpsCounter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let metric = encoder.encode_descriptor(NAME, HELP, None, MetricType::Counter)?;
        self.0.encode(metric)
    }
}

/// A registry holding `ops`.
pub fn registry(ops: OpsCounter) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(ops));
    r
}

/// Which format an `Accept` header asks for: OpenMetrics when it names it at all.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            let media = part.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/openmetrics-text")
        })
    })
}

/// The exposition and its content type.
pub fn render(
    registry: &Registry,
    openmetrics: bool,
) -> Result<(String, &'static str), fmt::Error> {
    let mut body = String::new();
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut body, registry)?;
        Ok((body, OPENMETRICS))
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut body, registry)?;
        Ok((body, PROMETHEUS_TEXT))
    }
}

/// `/metrics` and an index page at `/`.
pub fn router(ops: OpsCounter) -> Router {
    let registry = std::sync::Arc::new(registry(ops));
    Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let registry = registry.clone();
                async move { metrics(&registry, &headers) }
            }),
        )
        .route(
            "/",
            get(|| async { "metrics-app: myapp_processed_ops_total at /metrics\n" }),
        )
}

fn metrics(registry: &Registry, headers: &HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match render(registry, wants_openmetrics(accept)) {
        Ok((body, content_type)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding the exposition");
            (StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_the_exact_help_and_type() {
        let ops = OpsCounter::default();
        ops.add(3);
        let (body, ct) = render(&registry(ops), false).unwrap();
        assert_eq!(ct, PROMETHEUS_TEXT);
        assert_eq!(
            body,
            "# HELP myapp_processed_ops_total The total number of processed operations\n\
             # TYPE myapp_processed_ops_total counter\n\
             myapp_processed_ops_total 3\n"
        );
    }

    #[test]
    fn openmetrics_names_the_family_and_ends_with_eof() {
        let ops = OpsCounter::default();
        ops.add(7);
        let (body, ct) = render(&registry(ops), true).unwrap();
        assert_eq!(ct, OPENMETRICS);
        assert_eq!(
            body,
            "# HELP myapp_processed_ops The total number of processed operations\n\
             # TYPE myapp_processed_ops counter\n\
             myapp_processed_ops_total 7\n\
             # EOF\n"
        );
    }

    #[test]
    fn accept_header_negotiation() {
        // What Prometheus 3 (and ferrocol) send.
        let prom = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                    application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;\
                    escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(wants_openmetrics(Some(prom)));
        assert!(wants_openmetrics(Some("Application/OpenMetrics-Text")));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn clones_share_the_count() {
        let a = OpsCounter::default();
        let b = a.clone();
        a.add(2);
        b.add(5);
        assert_eq!(a.get(), 7);
    }
}
