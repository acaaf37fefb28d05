//! The single list of built-in components. This is what `ferrocol components` prints, where
//! type aliases (`otlp` / `otlp_grpc`, `otlphttp` / `otlp_http`) resolve, and where the
//! "unknown type" and "not supported by ferrocol" errors come from. Nothing else in the crate
//! matches on component type names.

use std::sync::Arc;

use crate::component::factory::{
    ExporterFactory, ExtensionFactory, Factory, ProcessorFactory, ReceiverFactory,
};
use crate::component::Kind;

/// Deprecated type names and the type they stand for: (kind, alias, canonical).
const ALIASES: &[(Kind, &str, &str)] = &[
    (Kind::Exporter, "otlp", "otlp_grpc"),
    (Kind::Exporter, "otlphttp", "otlp_http"),
];

/// Component types otelcol (core and contrib) has and ferrocol does not, so that a config using
/// them fails with "not supported by ferrocol" rather than "unknown type", and so that
/// `--unsupported-components=disable` can start without them. Not exhaustive: any other type is
/// reported as unknown, with the list of valid values.
const KNOWN_OTELCOL: &[(Kind, &[&str])] = &[
    (
        Kind::Receiver,
        &[
            "jaeger",
            "zipkin",
            "kafka",
            "hostmetrics",
            "host_metrics",
            "kubeletstats",
            "kubelet_stats",
            "filelog",
            "file_log",
            "k8s_cluster",
            "k8s_events",
            "k8sobjects",
            "k8s_objects",
            "journald",
            "receiver_creator",
            "opencensus",
            "fluentforward",
            "syslog",
            "statsd",
            "carbon",
            "collectd",
            "httpcheck",
            "nginx",
            "redis",
            "postgresql",
            "mysql",
            "docker_stats",
            "dockerstats",
            "podman_stats",
            "smartagent",
            "signalfx",
            "sqlquery",
            "awsxray",
            "awsecscontainermetrics",
            "otlpjsonfile",
            "prometheus_simple",
            "simpleprometheus",
            "k8s_observer",
            "nop",
            "apache",
            "elasticsearch",
            "mongodb",
            "rabbitmq",
            "zookeeper",
            "jmx",
            "windowseventlog",
            "tcplog",
            "udplog",
            "splunk_hec",
            "datadog",
            "loki",
            "influxdb",
            "skywalking",
            "pulsar",
            "googlecloudpubsub",
            "azureeventhub",
            "cloudflare",
            "expvar",
            "haproxy",
            "iis",
            "memcached",
            "oracledb",
            "sqlserver",
            "vcenter",
            "snmp",
            "sshcheck",
            "purefa",
            "webhookevent",
            "k8s_leader_elector",
        ],
    ),
    (
        Kind::Processor,
        &[
            "attributes",
            "resource",
            "filter",
            "transform",
            "k8sattributes",
            "k8s_attributes",
            "resourcedetection",
            "resource_detection",
            "metricstransform",
            "metrics_transform",
            "cumulativetodelta",
            "cumulative_to_delta",
            "deltatocumulative",
            "groupbyattrs",
            "groupbytrace",
            "probabilistic_sampler",
            "tail_sampling",
            "span",
            "routing",
            "metricstarttime",
            "metric_start_time",
            "redaction",
            "logdedup",
            "interval",
            "deltatorate",
            "experimental_metricsgeneration",
            "metricsgeneration",
            "schema",
            "sumologic",
            "geoip",
            "isolationforest",
            "unroll",
            "service_enrichment",
            "k8sattributes/ksm",
            "memory_ballast",
        ],
    ),
    (
        Kind::Exporter,
        &[
            "prometheus",
            "prometheusremotewrite",
            "kafka",
            "file",
            "loadbalancing",
            "awsemf",
            "awsxray",
            "awss3",
            "datadog",
            "googlecloud",
            "googlemanagedprometheus",
            "splunk_hec",
            "signalfx",
            "sapm",
            "loki",
            "elasticsearch",
            "opensearch",
            "clickhouse",
            "zipkin",
            "jaeger",
            "influxdb",
            "azuremonitor",
            "azuredataexplorer",
            "coralogix",
            "dynatrace",
            "honeycombmarker",
            "logzio",
            "sentry",
            "nop",
            "sumologic",
            "otelarrow",
            "pulsar",
            "carbon",
            "tencentcloud_logservice",
            "alibabacloud_logservice",
            "kinetica",
            "doris",
            "mezmo",
            "syslog",
            "rabbitmq",
            "otlp_arrow",
        ],
    ),
    (
        Kind::Extension,
        &[
            "zpages",
            "pprof",
            "memory_ballast",
            "file_storage",
            "db_storage",
            "k8s_observer",
            "docker_observer",
            "host_observer",
            "bearertokenauth",
            "basicauth",
            "oauth2client",
            "oidc",
            "headers_setter",
            "googleclientauth",
            "sigv4auth",
            "opamp",
            "k8s_leader_elector",
            "cgroup_runtime",
            "healthcheckv2",
            "jaegerremotesampling",
            "awsproxy",
            "ecs_observer",
            "remotetap",
            "storage",
            "sumologic",
            "asapclient",
            "ack",
            "avrologencoding",
            "jsonlogencoding",
            "otlpencoding",
            "textencoding",
            "zipkinencoding",
            "jaegerencoding",
        ],
    ),
];

/// Connector types otelcol has. ferrocol has no connectors yet.
const KNOWN_CONNECTORS: &[&str] = &[
    "spanmetrics",
    "span_metrics",
    "forward",
    "count",
    "routing",
    "servicegraph",
    "exceptions",
    "failover",
    "roundrobin",
    "sum",
    "otlpjson",
    "datadog",
    "grafanacloud",
    "signaltometrics",
];

/// The result of looking a type name up.
pub enum Lookup<'a> {
    /// A built-in factory, possibly reached through a deprecated alias.
    Found {
        factory: &'a dyn Factory,
        alias_of: Option<&'static str>,
    },
    /// `logging` exporter: removed from otelcol, with its own error text.
    RemovedLogging,
    /// An otelcol component type ferrocol does not have.
    Unsupported,
    /// Not a type we know of at all.
    Unknown,
}

pub struct Registry {
    pub receivers: Vec<Arc<dyn ReceiverFactory>>,
    pub processors: Vec<Arc<dyn ProcessorFactory>>,
    pub exporters: Vec<Arc<dyn ExporterFactory>>,
    pub extensions: Vec<Arc<dyn ExtensionFactory>>,
}

impl Registry {
    /// Every built-in component.
    pub fn builtin() -> Self {
        Self {
            receivers: vec![
                Arc::new(crate::receivers::otlp::OtlpReceiverFactory),
                Arc::new(crate::receivers::prometheus::PrometheusReceiverFactory),
            ],
            processors: vec![
                Arc::new(crate::processors::batch::BatchProcessorFactory),
                Arc::new(crate::processors::memory_limiter::MemoryLimiterFactory),
            ],
            exporters: vec![
                Arc::new(crate::exporters::otlp::OtlpExporterFactory),
                Arc::new(crate::exporters::otlphttp::OtlpHttpExporterFactory),
                Arc::new(crate::exporters::debug::DebugExporterFactory),
            ],
            extensions: vec![Arc::new(
                crate::extensions::health_check::HealthCheckFactory,
            )],
        }
    }

    fn canonical(kind: Kind, type_name: &str) -> (&str, Option<&'static str>) {
        match ALIASES
            .iter()
            .find(|(k, a, _)| *k == kind && *a == type_name)
        {
            Some((_, _, c)) => (c, Some(c)),
            None => (type_name, None),
        }
    }

    fn factory(&self, kind: Kind, type_name: &str) -> Option<&dyn Factory> {
        match kind {
            Kind::Receiver => self
                .receivers
                .iter()
                .find(|f| f.type_name() == type_name)
                .map(|f| f.as_ref() as &dyn Factory),
            Kind::Processor => self
                .processors
                .iter()
                .find(|f| f.type_name() == type_name)
                .map(|f| f.as_ref() as &dyn Factory),
            Kind::Exporter => self
                .exporters
                .iter()
                .find(|f| f.type_name() == type_name)
                .map(|f| f.as_ref() as &dyn Factory),
            Kind::Extension => self
                .extensions
                .iter()
                .find(|f| f.type_name() == type_name)
                .map(|f| f.as_ref() as &dyn Factory),
        }
    }

    pub fn lookup(&self, kind: Kind, type_name: &str) -> Lookup<'_> {
        let (canon, alias_of) = Self::canonical(kind, type_name);
        if let Some(f) = self.factory(kind, canon) {
            return Lookup::Found {
                factory: f,
                alias_of,
            };
        }
        if kind == Kind::Exporter && type_name == "logging" {
            return Lookup::RemovedLogging;
        }
        let known = KNOWN_OTELCOL
            .iter()
            .any(|(k, names)| *k == kind && names.contains(&type_name));
        if known {
            Lookup::Unsupported
        } else {
            Lookup::Unknown
        }
    }

    pub fn is_known_connector(type_name: &str) -> bool {
        KNOWN_CONNECTORS.contains(&type_name)
    }

    pub fn receiver(&self, type_name: &str) -> Option<Arc<dyn ReceiverFactory>> {
        let (c, _) = Self::canonical(Kind::Receiver, type_name);
        self.receivers.iter().find(|f| f.type_name() == c).cloned()
    }
    pub fn processor(&self, type_name: &str) -> Option<Arc<dyn ProcessorFactory>> {
        let (c, _) = Self::canonical(Kind::Processor, type_name);
        self.processors.iter().find(|f| f.type_name() == c).cloned()
    }
    pub fn exporter(&self, type_name: &str) -> Option<Arc<dyn ExporterFactory>> {
        let (c, _) = Self::canonical(Kind::Exporter, type_name);
        self.exporters.iter().find(|f| f.type_name() == c).cloned()
    }
    pub fn extension(&self, type_name: &str) -> Option<Arc<dyn ExtensionFactory>> {
        let (c, _) = Self::canonical(Kind::Extension, type_name);
        self.extensions.iter().find(|f| f.type_name() == c).cloned()
    }

    /// Type names of one kind, aliases included, as listed in "valid values".
    pub fn type_names(&self, kind: Kind) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = match kind {
            Kind::Receiver => self.receivers.iter().map(|f| f.type_name()).collect(),
            Kind::Processor => self.processors.iter().map(|f| f.type_name()).collect(),
            Kind::Exporter => self.exporters.iter().map(|f| f.type_name()).collect(),
            Kind::Extension => self.extensions.iter().map(|f| f.type_name()).collect(),
        };
        v.extend(
            ALIASES
                .iter()
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, a, _)| *a),
        );
        v.sort_unstable();
        v
    }

    /// Factories of one kind with their aliases, for `ferrocol components`.
    pub fn listing(&self, kind: Kind) -> Vec<(&dyn Factory, Vec<&'static str>)> {
        let fs: Vec<&dyn Factory> = match kind {
            Kind::Receiver => self
                .receivers
                .iter()
                .map(|f| f.as_ref() as &dyn Factory)
                .collect(),
            Kind::Processor => self
                .processors
                .iter()
                .map(|f| f.as_ref() as &dyn Factory)
                .collect(),
            Kind::Exporter => self
                .exporters
                .iter()
                .map(|f| f.as_ref() as &dyn Factory)
                .collect(),
            Kind::Extension => self
                .extensions
                .iter()
                .map(|f| f.as_ref() as &dyn Factory)
                .collect(),
        };
        fs.into_iter()
            .map(|f| {
                let aliases = ALIASES
                    .iter()
                    .filter(|(k, _, c)| *k == kind && *c == f.type_name())
                    .map(|(_, a, _)| *a)
                    .collect();
                (f, aliases)
            })
            .collect()
    }
}
