//! The HTTP side of one scrape, as Prometheus's `targetScraper`: the job's client (TLS,
//! redirects, HTTP/2, proxy), the request (`Accept` from the job's `scrape_protocols`,
//! `Accept-Encoding`, `User-Agent`, `X-Prometheus-Scrape-Timeout-Seconds`, basic auth or
//! `authorization` with credential files re-read on every scrape, extra `http_headers`) and
//! the response body streamed into a reused buffer with `body_size_limit` enforced on the
//! decompressed size while reading (gzip is decoded here, so a gzip bomb stops at the limit).
//!
//! Not here: the timeout of the whole scrape (the loop races it), parsing, and retries
//! (Prometheus has none: the next tick is the retry).

use std::io::Write;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, USER_AGENT};
use http::HeaderMap;

use super::promconfig::ScrapeConfig;
use crate::exporters::tls::TlsClientConfig;
use crate::exposition::ACCEPT_HEADER;
use crate::relabel::NameScheme;

/// Prometheus's error when a body reaches `body_size_limit`.
pub const BODY_SIZE_LIMIT_ERROR: &str = "body size limit exceeded";

/// The `User-Agent` of every scrape.
pub fn user_agent() -> String {
    format!("ferrocol/{}", env!("CARGO_PKG_VERSION"))
}

/// Builds the client shared by a job's targets: TLS from `tls_config` (trust, client
/// certificate, server name, skip-verify), redirects per `follow_redirects`, HTTP/2 (by ALPN)
/// per `enable_http2`, `proxy_url`, and no automatic decompression or environment proxies.
pub fn build_client(cfg: &ScrapeConfig) -> Result<reqwest::Client, String> {
    crate::ensure_crypto_provider();
    let h = &cfg.http;
    let redirect = if h.follow_redirects {
        reqwest::redirect::Policy::limited(10)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut b = reqwest::Client::builder()
        .user_agent(user_agent())
        .no_gzip()
        .no_zstd()
        .no_proxy()
        .redirect(redirect)
        .pool_idle_timeout(Duration::from_secs(90));
    if !h.enable_http2 {
        b = b.http1_only();
    }
    let tls = TlsClientConfig {
        ca_file: h.tls_ca_file.clone().unwrap_or_default(),
        cert_file: h.tls_cert_file.clone().unwrap_or_default(),
        key_file: h.tls_key_file.clone().unwrap_or_default(),
        server_name_override: h.tls_server_name.clone().unwrap_or_default(),
        insecure_skip_verify: h.tls_insecure_skip_verify,
        ..Default::default()
    };
    let material = tls
        .load()
        .map_err(|e| format!("job {:?}: failed to load the TLS config: {e}", cfg.job_name))?;
    let alpn: &[&[u8]] = if h.enable_http2 {
        &[b"h2", b"http/1.1"]
    } else {
        &[b"http/1.1"]
    };
    let rustls_cfg = material
        .rustls_config(alpn)
        .map_err(|e| format!("job {:?}: failed to load the TLS config: {e}", cfg.job_name))?;
    b = b.tls_backend_preconfigured(rustls_cfg);
    if let Some(p) = h.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        let proxy = reqwest::Proxy::all(p)
            .map_err(|e| format!("job {:?}: invalid proxy_url: {e}", cfg.job_name))?;
        b = b.proxy(proxy);
    }
    b.build().map_err(|e| {
        format!(
            "job {:?}: failed to build the HTTP client: {e}",
            cfg.job_name
        )
    })
}

/// Prometheus's `acceptHeader`: the job's protocols in order with decreasing weights (the
/// 1.0.0 text formats carry the escaping scheme), then `*/*`. The protobuf format, which
/// ferrocol cannot parse, is left out.
pub fn accept_header(protocols: &[String], scheme: NameScheme) -> String {
    let escaping = match scheme {
        NameScheme::Utf8 => "allow-utf-8",
        NameScheme::Legacy => "underscores",
    };
    let mut weight = 6;
    let mut out = String::new();
    for p in protocols {
        let media = match p.as_str() {
            "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
            "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
            "PrometheusText1.0.0" => "text/plain;version=1.0.0",
            "PrometheusText0.0.4" => "text/plain;version=0.0.4",
            _ => continue,
        };
        out.push_str(media);
        if p.ends_with("1.0.0") {
            out.push_str(";escaping=");
            out.push_str(escaping);
        }
        out.push_str(&format!(";q=0.{weight},"));
        weight -= 1;
    }
    if out.is_empty() {
        return ACCEPT_HEADER.to_string();
    }
    out.push_str(&format!("*/*;q=0.{weight}"));
    out
}

/// Why a scrape's HTTP exchange failed; the text is what the targets API and logs show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// The per-target request settings, built once per loop.
pub struct Fetcher {
    client: reqwest::Client,
    url: Result<reqwest::Url, String>,
    url_text: String,
    headers: HeaderMap,
    timeout: Duration,
    body_limit: u64,
    basic_auth: Option<(String, Option<String>, Option<String>)>,
    authorization: Option<(String, Option<String>, Option<String>)>,
}

impl Fetcher {
    pub fn new(client: reqwest::Client, url: &str, timeout: Duration, cfg: &ScrapeConfig) -> Self {
        let mut headers = HeaderMap::new();
        let accept = accept_header(&cfg.scrape_protocols, cfg.name_scheme);
        if let Ok(v) = HeaderValue::from_str(&accept) {
            headers.insert(ACCEPT, v);
        }
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static(if cfg.enable_compression {
                "gzip"
            } else {
                "identity"
            }),
        );
        if let Ok(v) = HeaderValue::from_str(&user_agent()) {
            headers.insert(USER_AGENT, v);
        }
        if let Ok(v) = HeaderValue::from_str(&timeout.as_secs_f64().to_string()) {
            headers.insert(
                HeaderName::from_static("x-prometheus-scrape-timeout-seconds"),
                v,
            );
        }
        for (name, values) in &cfg.http.http_headers {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                tracing::warn!(job = %cfg.job_name, header = %name, "Ignoring an invalid http_headers name");
                continue;
            };
            for v in values {
                match HeaderValue::from_str(v) {
                    Ok(mut v) => {
                        v.set_sensitive(true);
                        headers.append(name.clone(), v);
                    }
                    Err(_) => {
                        tracing::warn!(job = %cfg.job_name, header = %name, "Ignoring an invalid http_headers value")
                    }
                }
            }
        }
        Self {
            client,
            url: reqwest::Url::parse(url).map_err(|e| format!("invalid scrape URL {url:?}: {e}")),
            url_text: url.to_string(),
            headers,
            timeout,
            body_limit: cfg.limits.body_size_limit,
            basic_auth: cfg.http.basic_auth.clone(),
            authorization: cfg.http.authorization.clone(),
        }
    }

    /// The `Authorization` header, with credential files read now (tokens rotate).
    fn authorization(&self) -> Result<Option<HeaderValue>, FetchError> {
        let Some((kind, creds, file)) = &self.authorization else {
            return Ok(None);
        };
        let secret = match (creds, file) {
            (_, Some(f)) if !f.is_empty() => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    FetchError(format!(
                        "unable to read authorization credentials: unable to read file {f}: {e}"
                    ))
                })?,
            (Some(c), _) => c.clone(),
            _ => String::new(),
        };
        let mut v = HeaderValue::from_str(&format!("{kind} {secret}")).map_err(|_| {
            FetchError("authorization credentials are not a valid header value".into())
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    fn basic_password(&self) -> Result<Option<(String, Option<String>)>, FetchError> {
        let Some((user, password, file)) = &self.basic_auth else {
            return Ok(None);
        };
        let password = match (password, file) {
            (_, Some(f)) if !f.is_empty() => Some(
                std::fs::read_to_string(f)
                    .map(|s| s.trim().to_string())
                    .map_err(|e| {
                        FetchError(format!("unable to read basic auth password file {f}: {e}"))
                    })?,
            ),
            (p, _) => p.clone(),
        };
        Ok(Some((user.clone(), password)))
    }

    /// Performs the GET and streams the body into `body` (cleared first). Returns the
    /// response `Content-Type`.
    pub async fn fetch(&self, body: &mut Vec<u8>) -> Result<Option<String>, FetchError> {
        body.clear();
        let url = self.url.as_ref().map_err(|e| FetchError(e.clone()))?;
        let mut req = self
            .client
            .get(url.clone())
            .headers(self.headers.clone())
            .timeout(self.timeout);
        if let Some((user, password)) = self.basic_password()? {
            req = req.basic_auth(user, password);
        }
        if let Some(auth) = self.authorization()? {
            req = req.header(AUTHORIZATION, auth);
        }
        let mut resp = req.send().await.map_err(|e| self.describe(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError(
                format!(
                    "server returned HTTP status {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_string(),
            ));
        }
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let gzip = resp
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes() == b"gzip");
        let limit = if self.body_limit == 0 {
            u64::MAX
        } else {
            self.body_limit
        };
        if gzip {
            let mut dec = flate2::write::MultiGzDecoder::new(Limited { buf: body, limit });
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.describe(&e))? {
                dec.write_all(&chunk).map_err(gzip_error)?;
            }
            dec.try_finish().map_err(gzip_error)?;
        } else {
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.describe(&e))? {
                if (body.len() + chunk.len()) as u64 >= limit {
                    return Err(FetchError(BODY_SIZE_LIMIT_ERROR.into()));
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok(content_type)
    }

    /// A transport error in Prometheus's shape: `Get "<url>": <cause>`.
    fn describe(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError(format!(
                "Get {:?}: context deadline exceeded",
                self.url_text
            ));
        }
        let mut causes = Vec::new();
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            let text = s.to_string();
            if !causes.iter().any(|c: &String| c.contains(&text)) {
                causes.push(text);
            }
            src = s.source();
        }
        if causes.is_empty() {
            causes.push(e.to_string());
        }
        FetchError(format!("Get {:?}: {}", self.url_text, causes.join(": ")))
    }
}

/// The decompressed body's sink: stops with an error once the limit is reached.
struct Limited<'a> {
    buf: &'a mut Vec<u8>,
    limit: u64,
}

impl Write for Limited<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if (self.buf.len() + data.len()) as u64 >= self.limit {
            return Err(std::io::Error::other(BODY_SIZE_LIMIT_ERROR));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn gzip_error(e: std::io::Error) -> FetchError {
    let text = e.to_string();
    if text == BODY_SIZE_LIMIT_ERROR {
        FetchError(text)
    } else {
        FetchError(format!("gzip: {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_follows_the_job_protocols() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            accept_header(&p(&["PrometheusText0.0.4"]), NameScheme::Utf8),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
        assert_eq!(
            accept_header(
                &p(&["PrometheusText1.0.0", "OpenMetricsText1.0.0"]),
                NameScheme::Legacy
            ),
            "text/plain;version=1.0.0;escaping=underscores;q=0.6,\
             application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.4"
        );
    }
}
