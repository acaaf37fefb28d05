//! CORS for the OTLP/HTTP server, following the rs/cors behaviour confighttp uses: enabled only
//! when `allowed_origins` is non-empty, credentials allowed (so the origin is echoed, never
//! `*`), origins may contain one `*` wildcard, preflights answer 204, and `Origin`, `Accept`,
//! `Content-Type` and `X-Requested-With` are always allowed request headers.
//!
//! Not implemented: rs/cors' private-network access headers.

use axum::extract::Request;
use axum::response::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::config::CorsConfig;

/// Methods rs/cors allows by default.
const ALLOWED_METHODS: &[&str] = &["GET", "POST", "HEAD"];
/// Request headers always allowed.
const ALWAYS_ALLOWED_HEADERS: &[&str] = &["origin", "accept", "content-type", "x-requested-with"];

pub struct Cors {
    /// Lower-cased patterns; `None` means any origin.
    origins: Option<Vec<String>>,
    /// Lower-cased; `None` means any header.
    headers: Option<Vec<String>>,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

impl Cors {
    /// CORS settings, or `None` when no origin is allowed (CORS off, as in confighttp).
    pub fn new(cfg: &CorsConfig) -> Option<Self> {
        if cfg.allowed_origins.is_empty() {
            if !cfg.allowed_headers.is_empty() {
                tracing::warn!("The CORS configuration specifies allowed headers but no allowed origins, and is therefore ignored.");
            }
            return None;
        }
        let origins = (!cfg.allowed_origins.iter().any(|o| o == "*")).then(|| {
            cfg.allowed_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect()
        });
        let headers = (!cfg.allowed_headers.iter().any(|h| h == "*")).then(|| {
            ALWAYS_ALLOWED_HEADERS
                .iter()
                .map(|h| h.to_string())
                .chain(cfg.allowed_headers.iter().map(|h| h.to_ascii_lowercase()))
                .collect()
        });
        let expose = (!cfg.exposed_headers.is_empty())
            .then(|| HeaderValue::from_str(&cfg.exposed_headers.join(", ")).ok())
            .flatten();
        let max_age = (cfg.max_age > 0)
            .then(|| HeaderValue::from_str(&cfg.max_age.to_string()).ok())
            .flatten();
        Some(Self {
            origins,
            headers,
            expose,
            max_age,
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        let Some(patterns) = &self.origins else {
            return true;
        };
        let origin = origin.to_ascii_lowercase();
        patterns.iter().any(|p| match p.split_once('*') {
            Some((pre, suf)) => {
                origin.len() >= pre.len() + suf.len()
                    && origin.starts_with(pre)
                    && origin.ends_with(suf)
            }
            None => *p == origin,
        })
    }

    fn headers_allowed(&self, requested: &str) -> bool {
        let Some(allowed) = &self.headers else {
            return true;
        };
        requested
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .all(|h| allowed.contains(&h))
    }

    /// Answers a preflight request (OPTIONS with `Access-Control-Request-Method`).
    pub fn preflight(&self, req: &Request) -> Option<Response> {
        if req.method() != Method::OPTIONS {
            return None;
        }
        let method = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
            .to_str()
            .unwrap_or("")
            .to_ascii_uppercase();
        let mut resp = Response::new(axum::body::Body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.append(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Method"),
        );
        h.append(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
        let origin = req.headers().get(header::ORIGIN);
        let requested_headers = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ok = origin
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| self.origin_allowed(o))
            && ALLOWED_METHODS.contains(&method.as_str())
            && self.headers_allowed(requested_headers);
        if let (true, Some(origin)) = (ok, origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            if let Ok(m) = HeaderValue::from_str(&method) {
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
            }
            if !requested_headers.is_empty() {
                if let Ok(v) = HeaderValue::from_str(requested_headers) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
                }
            }
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            if let Some(age) = &self.max_age {
                h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
            }
        }
        Some(resp)
    }

    /// Adds the CORS headers of an actual (non-preflight) request's response.
    pub fn decorate(&self, origin: &HeaderValue, h: &mut HeaderMap) {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if !origin.to_str().is_ok_and(|o| self.origin_allowed(o)) {
            return;
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if let Some(e) = &self.expose {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, e.clone());
        }
    }
}
