//! Prometheus exposition parsing: the text format (0.0.4 / 1.0.0) and OpenMetrics 1.0, as a
//! pull parser over `&[u8]` that borrows names and label values from the input and allocates
//! nothing per sample (label spans go into a buffer reused across samples; only escaped
//! values are unescaped into an owned string). Content-type negotiation lives here too.
//!
//! Not here: grouping samples into metric families or converting them to OTLP (that is the
//! prometheus receiver's `convert`).

mod lexer;
pub mod parser;

pub use parser::{Entry, Exemplar, MetricType, ParseError, Parser, Sample};

/// The exposition formats ferrocol understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and 1.0.0): timestamps in milliseconds.
    PromText,
    /// `application/openmetrics-text`: timestamps in seconds, exemplars, `# EOF`.
    OpenMetrics,
}

/// The `Accept` header a scraper sends, preferring OpenMetrics then the text format
/// (Prometheus's default `scrape_protocols` order minus protobuf).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

/// Picks the parser for a response `Content-Type`. Prometheus 3 is strict: an unknown or
/// missing type is an error unless a fallback protocol is configured.
pub fn format_for(content_type: Option<&str>, fallback: Option<Format>) -> Result<Format, String> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/openmetrics-text" => Ok(Format::OpenMetrics),
        "text/plain" => Ok(Format::PromText),
        _ => fallback.ok_or_else(|| {
            if media.is_empty() {
                "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target".to_string()
            } else {
                format!("received unsupported Content-Type {media:?} and no fallback_scrape_protocol specified for target")
            }
        }),
    }
}

#[cfg(test)]
mod tests;

/// Go-compatible float parsing (`NaN`, `+Inf`, exponent forms), for label values such as `le`.
pub fn parse_float_pub(s: &str) -> Option<f64> {
    lexer::parse_float(s)
}
