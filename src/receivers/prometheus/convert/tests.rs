//! Conversion tests: an exposition is parsed, its samples get the target's job and instance,
//! and the OTLP result is checked field by field against otelcol's rules.

use super::*;
use crate::exposition::{Entry, Format, Parser};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, Metric, ResourceMetrics,
};

fn convert(body: &str, format: Format, discovered: &Labels) -> Vec<ResourceMetrics> {
    let mut meta = Metadata::default();
    let mut p = Parser::new(body.as_bytes(), format).unwrap();
    let mut samples = Vec::new();
    while let Some(e) = p.next().unwrap() {
        match e {
            Entry::Type { name, kind } => meta.set_type(&name, kind),
            Entry::Help { name, text } => meta.set_help(&name, &text),
            Entry::Unit { name, unit } => meta.set_unit(&name, unit),
            Entry::Sample(s) => {
                let mut l =
                    Labels::from_pairs(s.labels().map(|(k, v)| (k.into_owned(), v.into_owned())));
                l.set("__name__", &s.name);
                l.set("job", "app");
                l.set("instance", "10.1.2.3:8080");
                let ex = s.exemplar.as_ref().map(|e| ExemplarIn {
                    labels: e.labels().collect(),
                    value: e.value,
                    timestamp_ms: e.timestamp_ms,
                });
                samples.push((l, s.value, s.timestamp_ms.unwrap_or(1_000), ex));
            }
        }
    }
    let mut c = Converter::new(TargetResource::from_discovered(
        "app",
        "10.1.2.3:8080",
        discovered,
    ));
    for (l, v, t, ex) in samples {
        c.add(&l, v, t, ex, &meta).unwrap();
    }
    c.finish()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

fn metric<'a>(rm: &'a [ResourceMetrics], name: &str) -> &'a Metric {
    rm.iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter())
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

const BODY: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
http_requests_total{code=\"200\",empty=\"\"} 10\n\
http_requests_total{code=\"500\"} 2\n\
# TYPE temp gauge\ntemp 21.5\n\
untyped_thing 7\n\
# TYPE lat histogram\n\
lat_bucket{le=\"0.1\"} 3\nlat_bucket{le=\"1\"} 5\nlat_bucket{le=\"+Inf\"} 6\nlat_sum 2.5\nlat_count 6\n\
# TYPE rpc summary\nrpc{quantile=\"0.5\"} 0.2\nrpc{quantile=\"0.99\"} 0.9\nrpc_sum 12\nrpc_count 40\n\
target_info{region=\"eu\",team=\"core\"} 1\n\
scoped{otel_scope_name=\"lib\",otel_scope_version=\"1.2\",otel_scope_extra=\"x\",k=\"v\"} 1\n";

#[test]
fn resource_from_job_instance_and_discovered_labels() {
    let discovered = Labels::from_pairs([
        ("__scheme__", "http"),
        ("__meta_kubernetes_pod_name", "app-7d9f"),
        ("__meta_kubernetes_namespace", "shop"),
        ("__meta_kubernetes_pod_node_name", "node-a"),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        ("__meta_kubernetes_pod_controller_name", "app-7d9"),
        ("__meta_kubernetes_pod_uid", "uid-1"),
    ]);
    let rm = convert(BODY, Format::PromText, &discovered);
    assert_eq!(rm.len(), 1);
    let attrs = &rm[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(attrs, "service.name"), Some("app"));
    assert_eq!(attr(attrs, "service.instance.id"), Some("10.1.2.3:8080"));
    assert_eq!(attr(attrs, "server.address"), Some("10.1.2.3"));
    assert_eq!(attr(attrs, "server.port"), Some("8080"));
    assert_eq!(attr(attrs, "url.scheme"), Some("http"));
    assert_eq!(attr(attrs, "k8s.pod.name"), Some("app-7d9f"));
    assert_eq!(attr(attrs, "k8s.namespace.name"), Some("shop"));
    assert_eq!(attr(attrs, "k8s.node.name"), Some("node-a"));
    assert_eq!(attr(attrs, "k8s.replicaset.name"), Some("app-7d9"));
    assert_eq!(attr(attrs, "k8s.pod.uid"), Some("uid-1"));
    // target_info folded into the resource, not emitted.
    assert_eq!(attr(attrs, "region"), Some("eu"));
    assert_eq!(attr(attrs, "team"), Some("core"));
    assert!(rm[0]
        .scope_metrics
        .iter()
        .all(|s| s.metrics.iter().all(|m| m.name != "target_info")));
}

#[test]
fn loopback_instances_have_no_server_address() {
    let mut c = Converter::new(TargetResource::from_discovered(
        "j",
        "127.0.0.1:9090",
        &Labels::new(),
    ));
    let l = Labels::from_pairs([
        ("__name__", "up"),
        ("job", "j"),
        ("instance", "127.0.0.1:9090"),
    ]);
    c.add(&l, 1.0, 5, None, &Metadata::default()).unwrap();
    let rm = c.finish();
    let attrs = &rm[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(attrs, "server.address"), None);
    assert_eq!(attr(attrs, "server.port"), Some("9090"));
}

#[test]
fn types_map_like_otelcol() {
    let rm = convert(BODY, Format::PromText, &Labels::new());
    let c = metric(&rm, "http_requests_total");
    assert_eq!(c.description, "Requests.");
    assert_eq!(attr(&c.metadata, "prometheus.type"), Some("counter"));
    let Some(metric::Data::Sum(s)) = &c.data else {
        panic!("counter is a sum")
    };
    assert!(s.is_monotonic);
    assert_eq!(
        s.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(s.data_points.len(), 2);
    assert_eq!(
        s.data_points[0].value,
        Some(number_data_point::Value::AsDouble(10.0))
    );
    assert_eq!(s.data_points[0].time_unix_nano, 1_000_000_000);
    assert_eq!(
        s.data_points[0].start_time_unix_nano, 0,
        "no start time without _created"
    );
    assert_eq!(attr(&s.data_points[0].attributes, "code"), Some("200"));
    assert_eq!(
        attr(&s.data_points[0].attributes, "empty"),
        None,
        "empty labels are omitted"
    );
    assert_eq!(attr(&s.data_points[0].attributes, "job"), None);

    assert!(matches!(
        metric(&rm, "temp").data,
        Some(metric::Data::Gauge(_))
    ));
    let u = metric(&rm, "untyped_thing");
    assert!(matches!(u.data, Some(metric::Data::Gauge(_))));
    assert_eq!(attr(&u.metadata, "prometheus.type"), Some("unknown"));

    let Some(metric::Data::Histogram(h)) = &metric(&rm, "lat").data else {
        panic!("histogram")
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, vec![0.1, 1.0]);
    assert_eq!(
        p.bucket_counts,
        vec![3, 2, 1],
        "de-cumulated, +Inf bucket from _count"
    );
    assert_eq!((p.count, p.sum), (6, Some(2.5)));
    assert!(p.attributes.is_empty(), "le is not an attribute");

    let Some(metric::Data::Summary(s)) = &metric(&rm, "rpc").data else {
        panic!("summary")
    };
    let p = &s.data_points[0];
    assert_eq!((p.count, p.sum), (40, 12.0));
    assert_eq!(
        p.quantile_values
            .iter()
            .map(|q| (q.quantile, q.value))
            .collect::<Vec<_>>(),
        vec![(0.5, 0.2), (0.99, 0.9)]
    );
}

#[test]
fn scopes_from_otel_scope_labels() {
    let rm = convert(BODY, Format::PromText, &Labels::new());
    let scopes: Vec<&InstrumentationScope> = rm[0]
        .scope_metrics
        .iter()
        .filter_map(|s| s.scope.as_ref())
        .collect();
    assert_eq!(scopes[0].name, DEFAULT_SCOPE);
    let lib = scopes.iter().find(|s| s.name == "lib").expect("scope lib");
    assert_eq!(lib.version, "1.2");
    assert_eq!(attr(&lib.attributes, "extra"), Some("x"));
    let m = metric(&rm, "scoped");
    let Some(metric::Data::Gauge(g)) = &m.data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].attributes.len(),
        1,
        "otel_scope_* removed from points"
    );
}

#[test]
fn stale_markers_become_no_recorded_value_points() {
    let mut meta = Metadata::default();
    meta.set_type("lat", MetricType::Histogram);
    let mut c = Converter::new(TargetResource::from_discovered("j", "h:1", &Labels::new()));
    let stale = f64::from_bits(STALE_NAN_BITS);
    for (name, le) in [
        ("up", None),
        ("lat_bucket", Some("1")),
        ("lat_bucket", Some("+Inf")),
        ("lat_count", None),
        ("lat_sum", None),
    ] {
        let mut l = Labels::from_pairs([("__name__", name), ("job", "j"), ("instance", "h:1")]);
        if let Some(le) = le {
            l.set("le", le);
        }
        c.add(&l, stale, 2_000, None, &meta).unwrap();
    }
    let rm = c.finish();
    let Some(metric::Data::Gauge(g)) = &metric(&rm, "up").data else {
        panic!()
    };
    assert_eq!(g.data_points[0].flags, 1);
    assert_eq!(g.data_points[0].value, None);
    let Some(metric::Data::Histogram(h)) = &metric(&rm, "lat").data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!((p.flags, p.count, p.sum), (1, 0, None));
    assert_eq!(p.bucket_counts, vec![0, 0]);
    assert_eq!(p.explicit_bounds, vec![1.0]);
}

#[test]
fn openmetrics_created_units_and_exemplars() {
    let body = "# TYPE req counter\n# UNIT req_seconds seconds\n\
                req_total 5 # {trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\",user=\"u1\"} 1 1520879607.789\n\
                req_created 1520430000.5\n\
                # TYPE dur_seconds histogram\n# UNIT dur_seconds seconds\n\
                dur_seconds_bucket{le=\"1\"} 1\ndur_seconds_bucket{le=\"+Inf\"} 2\ndur_seconds_count 2\ndur_seconds_sum 1.5\ndur_seconds_created 1520430000\n\
                # EOF\n";
    let rm = convert(body, Format::OpenMetrics, &Labels::new());
    let Some(metric::Data::Sum(s)) = &metric(&rm, "req_total").data else {
        panic!("sum")
    };
    let p = &s.data_points[0];
    assert_eq!(p.start_time_unix_nano, 1_520_430_000_500_000_000);
    let ex = &p.exemplars[0];
    assert_eq!(ex.trace_id.len(), 16);
    assert_eq!(ex.trace_id[0], 0x0a);
    assert_eq!(
        ex.span_id,
        vec![0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
    );
    assert_eq!(attr(&ex.filtered_attributes, "user"), Some("u1"));
    assert_eq!(ex.time_unix_nano, 1_520_879_607_789_000_000);
    let h = metric(&rm, "dur_seconds");
    assert_eq!(h.unit, "s");
    let Some(metric::Data::Histogram(hd)) = &h.data else {
        panic!()
    };
    assert_eq!(
        hd.data_points[0].start_time_unix_nano,
        1_520_430_000_000_000_000
    );
}

#[test]
fn missing_job_or_instance_rejects_only_that_sample() {
    let mut c = Converter::new(TargetResource::default());
    let l = Labels::from_pairs([("__name__", "x")]);
    assert_eq!(
        c.add(&l, 1.0, 1, None, &Metadata::default()).unwrap_err(),
        "job or instance cannot be found from labels"
    );
    assert!(c.finish().is_empty());
}
