//! `kubernetes_sd_configs` entries, parsed strictly from YAML with Prometheus's defaults and
//! validation messages (`prom:discovery/kubernetes/kubernetes.go` and the inline
//! `prometheus/common` HTTP client options). Keys given as null take the Go zero value, as
//! Prometheus's YAML decoder does.
//!
//! Not here: relative-path resolution against the config file's directory (the caller's
//! job). Rejected with a clear message after Prometheus's own checks: `oauth2`,
//! `http_headers`, `*_ref` secrets, the proxy options (the API client has no proxy support
//! built in), and the `ingress` role (ferrocol does not discover ingresses yet).

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::selector::{check_field_selector, check_label_selector};

/// The Kubernetes object kind a `kubernetes_sd_configs` entry (or a selector) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Node => "node",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    fn parse(s: &str) -> Result<Role, String> {
        Ok(match s {
            "pod" => Role::Pod,
            "node" => Role::Node,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "ingress" => Role::Ingress,
            other => return Err(format!("unknown Kubernetes SD role {other:?}")),
        })
    }

    /// The selector roles allowed for this SD role (Prometheus's `allowedSelectors`).
    pub fn allowed_selectors(self) -> &'static [Role] {
        match self {
            Role::Pod => &[Role::Pod, Role::Node],
            Role::Service => &[Role::Service],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::Node => &[Role::Node],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

/// `namespaces:`: which namespaces to watch (empty names and no own namespace = all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Namespaces {
    pub own_namespace: bool,
    pub names: Vec<String>,
}

/// One `selectors:` entry, passed to the API server for the informer of `role`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    pub role: Role,
    pub label: Option<String>,
    pub field: Option<String>,
}

/// `attach_metadata:`. `deployment`, `job` and `cronjob` are accepted (Prometheus >= 3.11)
/// but not implemented: the discoverer warns once when they are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AttachMetadata {
    pub node: bool,
    pub namespace: bool,
    pub deployment: bool,
    pub job: bool,
    pub cronjob: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BasicAuth {
    pub username: String,
    pub username_file: String,
    pub password: String,
    pub password_file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// Trimmed; `Bearer` when empty.
    pub type_: String,
    pub credentials: String,
    pub credentials_file: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsConfig {
    pub ca: String,
    pub ca_file: String,
    pub cert: String,
    pub cert_file: String,
    pub key: String,
    pub key_file: String,
    pub server_name: String,
    pub insecure_skip_verify: bool,
    pub min_version: String,
    pub max_version: String,
}

/// The inline Prometheus HTTP client options (only allowed together with `api_server`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    /// After validation, `bearer_token(_file)` are folded in here as Prometheus does.
    pub authorization: Option<Authorization>,
    pub bearer_token: String,
    pub bearer_token_file: String,
    pub tls_config: TlsConfig,
    pub proxy_url: String,
    pub no_proxy: String,
    pub proxy_from_environment: bool,
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            basic_auth: None,
            authorization: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// One `kubernetes_sd_configs` entry. Equal configs can share one discoverer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubernetesSdConfig {
    pub role: Role,
    pub api_server: Option<String>,
    pub kubeconfig_file: Option<String>,
    pub http: HttpClientConfig,
    pub namespaces: Namespaces,
    pub selectors: Vec<Selector>,
    pub attach_metadata: AttachMetadata,
}

impl KubernetesSdConfig {
    /// A config for `role` with every other option at its default.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            api_server: None,
            kubeconfig_file: None,
            http: HttpClientConfig::default(),
            namespaces: Namespaces::default(),
            selectors: Vec::new(),
            attach_metadata: AttachMetadata::default(),
        }
    }

    /// The selector (label, field) given for `role`, if any.
    pub fn selector_for(&self, role: Role) -> (Option<&str>, Option<&str>) {
        self.selectors
            .iter()
            .find(|s| s.role == role)
            .map(|s| (s.label.as_deref(), s.field.as_deref()))
            .unwrap_or((None, None))
    }

    /// Parses and validates one entry, with Prometheus's error messages.
    pub fn from_yaml(v: &Value) -> Result<Self, String> {
        let mut role = None;
        let mut c = KubernetesSdConfig::new(Role::Pod);
        for (key, val) in fields(v, "kubernetes.plain")? {
            match key {
                "role" => {
                    let s = string(val, key)?;
                    role = if s.is_empty() {
                        None
                    } else {
                        Some(Role::parse(&s)?)
                    };
                }
                "api_server" => c.api_server = non_empty(string(val, key)?),
                "kubeconfig_file" => c.kubeconfig_file = non_empty(string(val, key)?),
                "namespaces" => c.namespaces = parse_namespaces(val)?,
                "selectors" => {
                    c.selectors = sequence(val, key)?
                        .iter()
                        .map(parse_selector)
                        .collect::<Result<_, _>>()?
                }
                "attach_metadata" => c.attach_metadata = parse_attach(val)?,
                _ => {
                    if !parse_http_field(&mut c.http, key, val)? {
                        return Err(format!("field {key} not found in type kubernetes.plain"));
                    }
                }
            }
        }
        let Some(role) = role else {
            return Err(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
                    .into(),
            );
        };
        c.role = role;
        validate_http(&mut c.http)?;
        let h = &c.http;
        if !h.proxy_url.is_empty() || h.proxy_from_environment || !h.proxy_connect_header.is_empty()
        {
            return Err("proxy_url, proxy_from_environment and proxy_connect_header: not supported by ferrocol's Kubernetes discovery".into());
        }
        let custom_http = c.http != HttpClientConfig::default();
        if let Some(url) = &c.api_server {
            check_url(url)?;
        }
        if c.api_server.is_some() && c.kubeconfig_file.is_some() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if c.kubeconfig_file.is_some() && custom_http {
            return Err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
                    .into(),
            );
        }
        if c.api_server.is_none() && custom_http {
            return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
        }
        if c.api_server.is_some() && c.namespaces.own_namespace {
            return Err(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if c.kubeconfig_file.is_some() && c.namespaces.own_namespace {
            return Err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        let mut seen = Vec::new();
        for s in &c.selectors {
            if seen.contains(&s.role) {
                return Err(format!("duplicated selector role: {}", s.role.as_str()));
            }
            seen.push(s.role);
            let allowed = c.role.allowed_selectors();
            if !allowed.contains(&s.role) {
                let list: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return Err(format!(
                    "{} role supports only {} selectors",
                    c.role.as_str(),
                    list.join(", ")
                ));
            }
            if let Some(f) = &s.field {
                check_field_selector(f)?;
            }
            if let Some(l) = &s.label {
                check_label_selector(l)?;
            }
        }
        if c.role == Role::Ingress {
            return Err("role \"ingress\" is not supported by ferrocol yet".into());
        }
        Ok(c)
    }
}

/// The entries of a YAML map (null = empty), or an error naming the Go type.
fn fields<'a>(v: &'a Value, ty: &str) -> Result<Vec<(&'a str, &'a Value)>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, val)| match k {
                Value::String(s) => Ok((s.as_str(), val)),
                _ => Err(format!("{ty}: keys must be strings")),
            })
            .collect(),
        _ => Err(format!("cannot unmarshal into {ty}: expected a map")),
    }
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("{key}: expected a string")),
    }
}

fn boolean(v: &Value, key: &str) -> Result<bool, String> {
    match v {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("{key}: expected a boolean")),
    }
}

fn sequence<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match v {
        Value::Null => Ok(&[]),
        Value::Sequence(s) => Ok(s),
        _ => Err(format!("{key}: expected a list")),
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn parse_namespaces(v: &Value) -> Result<Namespaces, String> {
    let mut n = Namespaces::default();
    for (key, val) in fields(v, "kubernetes.plain")? {
        match key {
            "own_namespace" => n.own_namespace = boolean(val, key)?,
            "names" => {
                n.names = sequence(val, key)?
                    .iter()
                    .map(|x| string(x, key))
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("field {other} not found in type kubernetes.plain")),
        }
    }
    Ok(n)
}

fn parse_selector(v: &Value) -> Result<Selector, String> {
    let (mut role, mut label, mut field) = (String::new(), String::new(), String::new());
    for (key, val) in fields(v, "kubernetes.SelectorConfig")? {
        match key {
            "role" => role = string(val, key)?,
            "label" => label = string(val, key)?,
            "field" => field = string(val, key)?,
            other => {
                return Err(format!(
                    "field {other} not found in type kubernetes.SelectorConfig"
                ))
            }
        }
    }
    Ok(Selector {
        role: Role::parse(&role)?,
        label: non_empty(label),
        field: non_empty(field),
    })
}

fn parse_attach(v: &Value) -> Result<AttachMetadata, String> {
    let mut a = AttachMetadata::default();
    for (key, val) in fields(v, "kubernetes.AttachMetadataConfig")? {
        let b = boolean(val, key)?;
        match key {
            "node" => a.node = b,
            "namespace" => a.namespace = b,
            "deployment" => a.deployment = b,
            "job" => a.job = b,
            "cronjob" => a.cronjob = b,
            other => {
                return Err(format!(
                    "field {other} not found in type kubernetes.AttachMetadataConfig"
                ))
            }
        }
    }
    Ok(a)
}

/// Parses one inline HTTP client key; false when `key` is not one.
fn parse_http_field(h: &mut HttpClientConfig, key: &str, val: &Value) -> Result<bool, String> {
    match key {
        "basic_auth" => {
            h.basic_auth = match val {
                Value::Null => None,
                v => {
                    let mut b = BasicAuth::default();
                    for (k, x) in fields(v, "config.BasicAuth")? {
                        match k {
                            "username" => b.username = string(x, k)?,
                            "username_file" => b.username_file = string(x, k)?,
                            "password" => b.password = string(x, k)?,
                            "password_file" => b.password_file = string(x, k)?,
                            "username_ref" | "password_ref" => return Err(unsupported(k)),
                            other => {
                                return Err(format!(
                                    "field {other} not found in type config.BasicAuth"
                                ))
                            }
                        }
                    }
                    Some(b)
                }
            }
        }
        "authorization" => {
            h.authorization = match val {
                Value::Null => None,
                v => {
                    let mut a = Authorization::default();
                    for (k, x) in fields(v, "config.Authorization")? {
                        match k {
                            "type" => a.type_ = string(x, k)?,
                            "credentials" => a.credentials = string(x, k)?,
                            "credentials_file" => a.credentials_file = string(x, k)?,
                            "credentials_ref" => return Err(unsupported(k)),
                            other => {
                                return Err(format!(
                                    "field {other} not found in type config.Authorization"
                                ))
                            }
                        }
                    }
                    Some(a)
                }
            }
        }
        "bearer_token" => h.bearer_token = string(val, key)?,
        "bearer_token_file" => h.bearer_token_file = string(val, key)?,
        "tls_config" => h.tls_config = parse_tls(val)?,
        "proxy_url" => h.proxy_url = string(val, key)?,
        "no_proxy" => h.no_proxy = string(val, key)?,
        "proxy_from_environment" => h.proxy_from_environment = boolean(val, key)?,
        "proxy_connect_header" => {
            h.proxy_connect_header = BTreeMap::new();
            for (k, x) in fields(val, "config.ProxyHeader")? {
                let vals = match x {
                    Value::Sequence(s) => {
                        s.iter().map(|y| string(y, k)).collect::<Result<_, _>>()?
                    }
                    other => vec![string(other, k)?],
                };
                h.proxy_connect_header.insert(k.to_string(), vals);
            }
        }
        "follow_redirects" => h.follow_redirects = boolean(val, key)?,
        "enable_http2" => h.enable_http2 = boolean(val, key)?,
        "oauth2" | "http_headers" => return Err(unsupported(key)),
        _ => return Ok(false),
    }
    Ok(true)
}

fn unsupported(key: &str) -> String {
    format!("{key}: not supported by ferrocol's Kubernetes discovery")
}

fn parse_tls(v: &Value) -> Result<TlsConfig, String> {
    let mut t = TlsConfig::default();
    for (k, x) in fields(v, "config.plain")? {
        match k {
            "ca" => t.ca = string(x, k)?,
            "ca_file" => t.ca_file = string(x, k)?,
            "cert" => t.cert = string(x, k)?,
            "cert_file" => t.cert_file = string(x, k)?,
            "key" => t.key = string(x, k)?,
            "key_file" => t.key_file = string(x, k)?,
            "server_name" => t.server_name = string(x, k)?,
            "insecure_skip_verify" => t.insecure_skip_verify = boolean(x, k)?,
            "min_version" => t.min_version = string(x, k)?,
            "max_version" => t.max_version = string(x, k)?,
            "ca_ref" | "cert_ref" | "key_ref" => return Err(unsupported(k)),
            other => return Err(format!("field {other} not found in type config.plain")),
        }
    }
    for v in [&t.min_version, &t.max_version] {
        if !v.is_empty() && !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13") {
            return Err(format!("unknown TLS version: {v}"));
        }
    }
    if !t.ca.is_empty() && !t.ca_file.is_empty() {
        return Err("at most one of ca, ca_file & ca_ref must be configured".into());
    }
    if !t.cert.is_empty() && !t.cert_file.is_empty() {
        return Err("at most one of cert, cert_file & cert_ref must be configured".into());
    }
    if !t.key.is_empty() && !t.key_file.is_empty() {
        return Err("at most one of key and key_file must be configured".into());
    }
    let has_cert = !t.cert.is_empty() || !t.cert_file.is_empty();
    let has_key = !t.key.is_empty() || !t.key_file.is_empty();
    if has_cert && !has_key {
        return Err(
            "exactly one of key or key_file must be configured when a client certificate is configured"
                .into(),
        );
    }
    if has_key && !has_cert {
        return Err(
            "exactly one of cert or cert_file must be configured when a client key is configured"
                .into(),
        );
    }
    Ok(t)
}

/// `HTTPClientConfig.Validate`, including its folding of `bearer_token(_file)`.
fn validate_http(h: &mut HttpClientConfig) -> Result<(), String> {
    let bearer = !h.bearer_token.is_empty() || !h.bearer_token_file.is_empty();
    if !h.bearer_token.is_empty() && !h.bearer_token_file.is_empty() {
        return Err("at most one of bearer_token & bearer_token_file must be configured".into());
    }
    if h.basic_auth.is_some() && bearer {
        return Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into());
    }
    if let Some(b) = &h.basic_auth {
        if !b.username.is_empty() && !b.username_file.is_empty() {
            return Err("at most one of basic_auth username, username_file & username_ref must be configured".into());
        }
        if !b.password.is_empty() && !b.password_file.is_empty() {
            return Err("at most one of basic_auth password, password_file & password_ref must be configured".into());
        }
    }
    if let Some(a) = &mut h.authorization {
        if bearer {
            return Err(
                "authorization is not compatible with bearer_token & bearer_token_file".into(),
            );
        }
        if !a.credentials.is_empty() && !a.credentials_file.is_empty() {
            return Err(
                "at most one of authorization credentials & credentials_file must be configured"
                    .into(),
            );
        }
        a.type_ = a.type_.trim().to_string();
        if a.type_.is_empty() {
            a.type_ = "Bearer".into();
        }
        if a.type_.eq_ignore_ascii_case("basic") {
            return Err(
                r#"authorization type cannot be set to "basic", use "basic_auth" instead"#.into(),
            );
        }
        if h.basic_auth.is_some() {
            return Err(
                "at most one of basic_auth, oauth2 & authorization must be configured".into(),
            );
        }
    } else if !h.bearer_token.is_empty() {
        h.authorization = Some(Authorization {
            type_: "Bearer".into(),
            credentials: std::mem::take(&mut h.bearer_token),
            credentials_file: String::new(),
        });
    } else if !h.bearer_token_file.is_empty() {
        h.authorization = Some(Authorization {
            type_: "Bearer".into(),
            credentials: String::new(),
            credentials_file: std::mem::take(&mut h.bearer_token_file),
        });
    }
    if h.proxy_from_environment && !h.proxy_url.is_empty() {
        return Err(
            "if proxy_from_environment is configured, proxy_url must not be configured".into(),
        );
    }
    if !h.no_proxy.is_empty() && h.proxy_url.is_empty() {
        return Err("if no_proxy is configured, proxy_url must also be configured".into());
    }
    if !h.proxy_connect_header.is_empty() && h.proxy_url.is_empty() && !h.proxy_from_environment {
        return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
    }
    if !h.proxy_url.is_empty() {
        check_url(&h.proxy_url)?;
    }
    Ok(())
}

fn check_url(s: &str) -> Result<(), String> {
    match s.parse::<http::Uri>() {
        Ok(u) if u.scheme().is_some() && u.authority().is_some() => Ok(()),
        _ => Err(format!("parse {s:?}: invalid URL")),
    }
}
