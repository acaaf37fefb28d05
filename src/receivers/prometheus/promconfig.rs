//! The Prometheus config document inside `receivers::prometheus::config`, parsed strictly with
//! Prometheus 3's defaults and validation plus otelcol's extra rules (spec 5.1, 5.2): global
//! settings inherited by jobs, unique job names, timeout <= interval, relabel rules compiled
//! once, unsupported features (remote_write, rule_files, alerting...) rejected. Every error
//! names the job and the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml::Value;

use super::yaml_reader::{parse_prom_duration, Errors, Obj};
use crate::exposition::Format;
use crate::relabel::config::compile_list;
use crate::relabel::{Labels, NameScheme, Rule};

/// `global:`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub external_labels: Labels,
    pub limits: Limits,
    pub name_scheme: NameScheme,
    pub scrape_protocols: Vec<String>,
}

/// Per-scrape limits (0 = unlimited), inherited from `global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub body_size_limit: u64,
    pub target_limit: u64,
    pub keep_dropped_targets: u64,
}

/// Client settings of a job's HTTP requests.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpClient {
    pub basic_auth: Option<(String, Option<String>, Option<String>)>,
    /// (type, credentials, credentials_file)
    pub authorization: Option<(String, Option<String>, Option<String>)>,
    pub tls_ca_file: Option<String>,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub tls_server_name: Option<String>,
    pub tls_insecure_skip_verify: bool,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    pub proxy_url: Option<String>,
    pub http_headers: BTreeMap<String, Vec<String>>,
}

/// One `static_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: Labels,
}

/// One `file_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    pub refresh_interval: Duration,
}

/// One job.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub enable_compression: bool,
    pub scrape_protocols: Vec<String>,
    /// otelcol sets PrometheusText0.0.4 when the job does not say.
    pub fallback_scrape_protocol: Format,
    pub limits: Limits,
    pub name_scheme: NameScheme,
    pub http: HttpClient,
    pub relabel_configs: Vec<Rule>,
    pub metric_relabel_configs: Vec<Rule>,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Raw `kubernetes_sd_configs` entries, decoded by `discovery::kubernetes`.
    pub kubernetes_sd_configs: Vec<Value>,
    /// The job's YAML as written, for diffing on reload.
    pub raw: Value,
}

/// The whole document.
#[derive(Debug, Clone)]
pub struct PromConfig {
    pub global: GlobalConfig,
    pub scrape_configs: Vec<ScrapeConfig>,
}

const SCRAPE_PROTOCOLS: [&str; 5] = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
    "PrometheusProto",
];

/// Service-discovery mechanisms Prometheus has and ferrocol does not (yet).
const OTHER_SD: [&str; 24] = [
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "dns_sd_configs",
    "ec2_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "http_sd_configs",
    "ionos_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "openstack_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "triton_sd_configs",
];

fn scheme_of(obj: &mut Obj<'_>, errs: &mut Errors, inherited: NameScheme) -> NameScheme {
    match obj.string("metric_name_validation_scheme", errs).as_deref() {
        None | Some("") => inherited,
        Some("utf8") => NameScheme::Utf8,
        Some("legacy") => NameScheme::Legacy,
        Some(other) => {
            errs.push((obj.child_path("metric_name_validation_scheme"), format!("unknown global name validation method specified, must be either '', 'legacy' or 'utf8', got {other:?}")));
            inherited
        }
    }
}

fn limits(obj: &mut Obj<'_>, errs: &mut Errors, base: Limits) -> Limits {
    Limits {
        sample_limit: obj.uint("sample_limit", errs).unwrap_or(base.sample_limit),
        label_limit: obj.uint("label_limit", errs).unwrap_or(base.label_limit),
        label_name_length_limit: obj
            .uint("label_name_length_limit", errs)
            .unwrap_or(base.label_name_length_limit),
        label_value_length_limit: obj
            .uint("label_value_length_limit", errs)
            .unwrap_or(base.label_value_length_limit),
        body_size_limit: obj
            .size("body_size_limit", errs)
            .unwrap_or(base.body_size_limit),
        target_limit: obj.uint("target_limit", errs).unwrap_or(base.target_limit),
        keep_dropped_targets: obj
            .uint("keep_dropped_targets", errs)
            .unwrap_or(base.keep_dropped_targets),
    }
}

fn protocols(obj: &mut Obj<'_>, errs: &mut Errors, default: &[String]) -> Vec<String> {
    match obj.string_list("scrape_protocols", errs) {
        None => default.to_vec(),
        Some(list) => {
            for p in &list {
                if !SCRAPE_PROTOCOLS.contains(&p.as_str()) {
                    errs.push((
                        obj.child_path("scrape_protocols"),
                        format!("unknown scrape protocol {p:?}, supported: {SCRAPE_PROTOCOLS:?}"),
                    ));
                }
            }
            if list.is_empty() {
                errs.push((
                    obj.child_path("scrape_protocols"),
                    "scrape_protocols cannot be empty".into(),
                ));
            }
            list
        }
    }
}

fn parse_global(v: &Value, path: String, errs: &mut Errors) -> GlobalConfig {
    let mut o = Obj::new(v, path, errs);
    let scrape_interval = o
        .duration("scrape_interval", errs)
        .unwrap_or(Duration::from_secs(60));
    let scrape_timeout = o
        .duration("scrape_timeout", errs)
        .unwrap_or_else(|| Duration::from_secs(10).min(scrape_interval));
    if scrape_timeout > scrape_interval {
        errs.push((
            o.path.clone(),
            "global scrape timeout greater than scrape interval".into(),
        ));
    }
    let mut external_labels = Labels::new();
    if let Some(Value::Mapping(m)) = o.get("external_labels") {
        for (k, val) in m {
            let (Some(k), Some(val)) = (
                k.as_str(),
                val.as_str()
                    .map(str::to_string)
                    .or_else(|| val.as_i64().map(|n| n.to_string())),
            ) else {
                errs.push((
                    o.child_path("external_labels"),
                    "labels must be string pairs".into(),
                ));
                continue;
            };
            external_labels.set(k, &val);
        }
    }
    let name_scheme = scheme_of(&mut o, errs, NameScheme::Utf8);
    let limits = limits(&mut o, errs, Limits::default());
    let default_protocols: Vec<String> = SCRAPE_PROTOCOLS[..4]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let scrape_protocols = protocols(&mut o, errs, &default_protocols);
    // Accepted and irrelevant to an agent that only scrapes.
    for k in [
        "evaluation_interval",
        "rule_query_offset",
        "query_log_file",
        "scrape_failure_log_file",
        "metric_name_escaping_scheme",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "extra_scrape_metrics",
    ] {
        let _ = o.get(k);
    }
    o.finish(errs);
    GlobalConfig {
        scrape_interval,
        scrape_timeout,
        external_labels,
        limits,
        name_scheme,
        scrape_protocols,
    }
}

fn http_client(o: &mut Obj<'_>, errs: &mut Errors) -> HttpClient {
    let mut h = HttpClient {
        follow_redirects: o.boolean("follow_redirects", errs).unwrap_or(true),
        enable_http2: o.boolean("enable_http2", errs).unwrap_or(true),
        proxy_url: o.string("proxy_url", errs),
        ..Default::default()
    };
    for k in ["no_proxy", "proxy_from_environment", "proxy_connect_header"] {
        let _ = o.get(k);
    }
    if let Some(v) = o.get("basic_auth") {
        let mut b = Obj::new(v, o.child_path("basic_auth"), errs);
        let mut user = b.string("username", errs).unwrap_or_default();
        if let Some(f) = b.string("username_file", errs) {
            // The file holds the user name (read once here; passwords and tokens are re-read
            // on every scrape because they rotate).
            match std::fs::read_to_string(&f) {
                Ok(u) => user = u.trim_end_matches(['\n', '\r']).to_string(),
                Err(e) => errs.push((
                    b.child_path("username_file"),
                    format!("cannot read {f:?}: {e}"),
                )),
            }
        }
        h.basic_auth = Some((
            user,
            b.string("password", errs),
            b.string("password_file", errs),
        ));
        b.finish(errs);
    }
    let bearer = o.string("bearer_token", errs);
    let bearer_file = o.string("bearer_token_file", errs);
    if let Some(v) = o.get("authorization") {
        let mut a = Obj::new(v, o.child_path("authorization"), errs);
        let kind = a.string("type", errs).unwrap_or_else(|| "Bearer".into());
        if kind.eq_ignore_ascii_case("basic") {
            errs.push((
                a.path.clone(),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
            ));
        }
        let creds = a.string("credentials", errs);
        let file = a.string("credentials_file", errs);
        if creds.is_some() && file.is_some() {
            errs.push((
                a.path.clone(),
                "at most one of authorization credentials & credentials_file must be configured"
                    .into(),
            ));
        }
        h.authorization = Some((kind, creds, file));
        a.finish(errs);
    }
    if bearer.is_some() || bearer_file.is_some() {
        if h.authorization.is_some() || h.basic_auth.is_some() {
            errs.push((o.path.clone(), "at most one of basic_auth, bearer_token, bearer_token_file & authorization must be configured".into()));
        }
        h.authorization = Some(("Bearer".into(), bearer, bearer_file));
    }
    if let Some(v) = o.get("tls_config") {
        let mut t = Obj::new(v, o.child_path("tls_config"), errs);
        h.tls_ca_file = t.string("ca_file", errs);
        h.tls_cert_file = t.string("cert_file", errs);
        h.tls_key_file = t.string("key_file", errs);
        h.tls_server_name = t.string("server_name", errs);
        h.tls_insecure_skip_verify = t.boolean("insecure_skip_verify", errs).unwrap_or(false);
        for k in [
            "ca",
            "cert",
            "key",
            "min_version",
            "max_version",
            "ca_ref",
            "cert_ref",
            "key_ref",
        ] {
            let _ = t.get(k);
        }
        if h.tls_cert_file.is_some() != h.tls_key_file.is_some() {
            errs.push((t.path.clone(), "exactly one of key or key_file must be configured when a client certificate is configured".into()));
        }
        t.finish(errs);
    }
    if let Some(Value::Mapping(m)) = o.get("http_headers") {
        for (k, v) in m {
            let name = k.as_str().unwrap_or("").to_string();
            let vals = v
                .get("values")
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            h.http_headers.insert(name, vals);
        }
    }
    if o.get("oauth2").is_some() {
        errs.push((
            o.child_path("oauth2"),
            "oauth2 scrape authentication is not supported by ferrocol".into(),
        ));
    }
    h
}

fn parse_job(v: &Value, path: String, g: &GlobalConfig, errs: &mut Errors) -> Option<ScrapeConfig> {
    let mut o = Obj::new(v, path, errs);
    let job_name = o.string("job_name", errs).unwrap_or_default();
    if job_name.is_empty() {
        errs.push((o.path.clone(), "job_name is empty".into()));
    }
    o.path = format!("{} (job {job_name:?})", o.path);
    let scrape_interval = o
        .duration("scrape_interval", errs)
        .unwrap_or(g.scrape_interval);
    let scrape_timeout = o
        .duration("scrape_timeout", errs)
        .unwrap_or_else(|| g.scrape_timeout.min(scrape_interval));
    if scrape_timeout > scrape_interval {
        errs.push((o.child_path("scrape_timeout"), format!("scrape timeout greater than scrape interval for scrape config with job name {job_name:?}")));
    }
    let name_scheme = scheme_of(&mut o, errs, g.name_scheme);
    let scheme = o.string("scheme", errs).unwrap_or_else(|| "http".into());
    if scheme != "http" && scheme != "https" {
        errs.push((
            o.child_path("scheme"),
            format!("unknown scrape scheme {scheme:?}, must be either \"http\" or \"https\""),
        ));
    }
    let mut params = BTreeMap::new();
    if let Some(Value::Mapping(m)) = o.get("params") {
        for (k, v) in m {
            let vals = v
                .as_sequence()
                .map(|s| {
                    s.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            params.insert(k.as_str().unwrap_or("").to_string(), vals);
        }
    }
    let fallback = match o.string("fallback_scrape_protocol", errs).as_deref() {
        None | Some("PrometheusText0.0.4") | Some("PrometheusText1.0.0") => Format::PromText,
        Some("OpenMetricsText1.0.0") | Some("OpenMetricsText0.0.1") => Format::OpenMetrics,
        Some(other) => {
            errs.push((
                o.child_path("fallback_scrape_protocol"),
                format!("unsupported fallback_scrape_protocol {other:?}"),
            ));
            Format::PromText
        }
    };
    let mut sc = ScrapeConfig {
        honor_labels: o.boolean("honor_labels", errs).unwrap_or(false),
        honor_timestamps: o.boolean("honor_timestamps", errs).unwrap_or(true),
        track_timestamps_staleness: o
            .boolean("track_timestamps_staleness", errs)
            .unwrap_or(false),
        scrape_interval,
        scrape_timeout,
        metrics_path: o
            .string("metrics_path", errs)
            .unwrap_or_else(|| "/metrics".into()),
        scheme,
        params,
        enable_compression: o.boolean("enable_compression", errs).unwrap_or(true),
        scrape_protocols: protocols(&mut o, errs, &g.scrape_protocols),
        fallback_scrape_protocol: fallback,
        limits: limits(&mut o, errs, g.limits),
        name_scheme,
        http: http_client(&mut o, errs),
        relabel_configs: Vec::new(),
        metric_relabel_configs: Vec::new(),
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        kubernetes_sd_configs: Vec::new(),
        raw: v.clone(),
        job_name,
    };
    for (key, what) in [
        ("relabel_configs", "target"),
        ("metric_relabel_configs", "metric"),
    ] {
        if let Some(list) = o.get(if key == "relabel_configs" {
            "relabel_configs"
        } else {
            "metric_relabel_configs"
        }) {
            match compile_list(list, what, name_scheme) {
                Ok(rules) if key == "relabel_configs" => sc.relabel_configs = rules,
                Ok(rules) => sc.metric_relabel_configs = rules,
                Err(e) => errs.push((o.child_path(key), e)),
            }
        }
    }
    if let Some(Value::Sequence(list)) = o.get("static_configs") {
        for (i, s) in list.iter().enumerate() {
            let mut so = Obj::new(s, format!("{}::{i}", o.child_path("static_configs")), errs);
            let targets = so.string_list("targets", errs).unwrap_or_default();
            let mut labels = Labels::new();
            if let Some(Value::Mapping(m)) = so.get("labels") {
                for (k, v) in m {
                    labels.set(
                        k.as_str().unwrap_or(""),
                        &v.as_str().map(str::to_string).unwrap_or_else(|| {
                            serde_yaml::to_string(v)
                                .unwrap_or_default()
                                .trim()
                                .to_string()
                        }),
                    );
                }
            }
            if sc.relabel_configs.is_empty() {
                for t in &targets {
                    if t.contains('/') {
                        errs.push((
                            so.child_path("targets"),
                            format!("{t:?} is not a valid hostname"),
                        ));
                    }
                }
            }
            so.finish(errs);
            sc.static_configs.push(StaticConfig { targets, labels });
        }
    }
    if let Some(Value::Sequence(list)) = o.get("file_sd_configs") {
        for (i, s) in list.iter().enumerate() {
            let mut fo = Obj::new(s, format!("{}::{i}", o.child_path("file_sd_configs")), errs);
            let files = fo.string_list("files", errs).unwrap_or_default();
            if files.is_empty() {
                errs.push((
                    fo.path.clone(),
                    "file service discovery config must contain at least one path name".into(),
                ));
            }
            let refresh_interval = fo
                .duration("refresh_interval", errs)
                .unwrap_or(Duration::from_secs(300));
            fo.finish(errs);
            sc.file_sd_configs.push(FileSdConfig {
                files,
                refresh_interval,
            });
        }
    }
    if let Some(Value::Sequence(list)) = o.get("kubernetes_sd_configs") {
        sc.kubernetes_sd_configs = list.clone();
    }
    for sd in OTHER_SD {
        if o.get(sd).is_some() {
            errs.push((o.child_path(sd), format!("{sd} is not supported by ferrocol (supported: static_configs, file_sd_configs, kubernetes_sd_configs)")));
        }
    }
    for k in [
        "scrape_classic_histograms",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "native_histogram_bucket_limit",
        "native_histogram_min_bucket_factor",
        "metric_name_escaping_scheme",
        "scrape_failure_log_file",
        "extra_scrape_metrics",
        "scrape_native_histograms",
    ] {
        let _ = o.get(k);
    }
    o.finish(errs);
    Some(sc)
}

/// Parses the `config:` value of a prometheus receiver. `path` is its key path
/// (`receivers::prometheus::config`). All errors are returned together.
pub fn parse(v: &Value, path: &str) -> Result<PromConfig, Errors> {
    let mut errs = Errors::new();
    let mut top = Obj::new(v, path.to_string(), &mut errs);
    let mut unsupported = Vec::new();
    for (key, name) in [
        ("remote_write", "remote_write"),
        ("remote_read", "remote_read"),
        ("rule_files", "rule_files"),
    ] {
        if top.get(key).is_some_and(|v| !v.is_null()) {
            unsupported.push(name.to_string());
        }
    }
    if let Some(a) = top.get("alerting") {
        if a.get("alertmanagers").is_some_and(|v| !v.is_null()) {
            unsupported.push("alert_config.alertmanagers".into());
        }
        if a.get("alert_relabel_configs").is_some_and(|v| !v.is_null()) {
            unsupported.push("alert_config.relabel_configs".into());
        }
    }
    if !unsupported.is_empty() {
        unsupported.sort();
        errs.push((
            path.to_string(),
            format!("unsupported features:\n\t{}", unsupported.join("\n\t")),
        ));
    }
    let global = parse_global(
        top.get("global").unwrap_or(&Value::Null),
        format!("{path}::global"),
        &mut errs,
    );
    let mut jobs: Vec<ScrapeConfig> = Vec::new();
    if let Some(Value::Sequence(files)) = top.get("scrape_config_files") {
        for f in files.iter().filter_map(Value::as_str) {
            match std::fs::read_to_string(f)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_yaml::from_str::<Value>(&t).map_err(|e| e.to_string()))
            {
                Ok(doc) => {
                    let list = doc.get("scrape_configs").cloned().unwrap_or(Value::Null);
                    for (i, j) in list.as_sequence().into_iter().flatten().enumerate() {
                        jobs.extend(parse_job(
                            j,
                            format!("{path}::scrape_config_files[{f}]::scrape_configs::{i}"),
                            &global,
                            &mut errs,
                        ));
                    }
                }
                Err(e) => errs.push((
                    format!("{path}::scrape_config_files"),
                    format!("error loading scrape config file {f:?}: {e}"),
                )),
            }
        }
    }
    match top.get("scrape_configs") {
        Some(Value::Sequence(list)) => {
            for (i, j) in list.iter().enumerate() {
                if j.is_null() {
                    errs.push((
                        format!("{path}::scrape_configs::{i}"),
                        "empty or null scrape config section".into(),
                    ));
                    continue;
                }
                jobs.extend(parse_job(
                    j,
                    format!("{path}::scrape_configs::{i}"),
                    &global,
                    &mut errs,
                ));
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => errs.push((format!("{path}::scrape_configs"), "expected a list".into())),
    }
    for k in ["storage", "tracing", "otlp", "runtime"] {
        let _ = top.get(k);
    }
    top.finish(&mut errs);
    let mut seen = Vec::new();
    for j in &jobs {
        if seen.contains(&&j.job_name) {
            errs.push((
                format!("{path}::scrape_configs"),
                format!(
                    "found multiple scrape configs with job name {:?}",
                    j.job_name
                ),
            ));
        }
        seen.push(&j.job_name);
    }
    if errs.is_empty() {
        Ok(PromConfig {
            global,
            scrape_configs: jobs,
        })
    } else {
        Err(errs)
    }
}

/// `__scrape_interval__`-style durations on targets use Prometheus's syntax.
pub fn target_duration(s: &str) -> Result<Duration, String> {
    parse_prom_duration(s)
}

#[cfg(test)]
mod tests;
