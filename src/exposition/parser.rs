//! The pull parser for both exposition formats. `Parser::next` yields one `Entry` per
//! meaningful line; errors carry the 1-based line number and what was expected.

use std::borrow::Cow;
use std::fmt;

use super::lexer::{
    help_text, is_label_char, is_label_start, is_name_char, is_name_start, parse_float, quoted,
};
use super::Format;

/// A metric family type as declared by `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    Unknown,
}

impl MetricType {
    fn parse(s: &str, format: Format) -> Option<MetricType> {
        Some(match (s, format) {
            ("counter", _) => MetricType::Counter,
            ("gauge", _) => MetricType::Gauge,
            ("histogram", _) => MetricType::Histogram,
            ("summary", _) => MetricType::Summary,
            ("untyped", Format::PromText) | ("unknown", Format::OpenMetrics) => MetricType::Unknown,
            ("gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            ("stateset", Format::OpenMetrics) => MetricType::StateSet,
            ("info", Format::OpenMetrics) => MetricType::Info,
            _ => return None,
        })
    }
}

/// A parse error: the line and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// An exemplar attached to an OpenMetrics sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar<'a> {
    labels_text: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Exemplar<'a> {
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter {
            rest: self.labels_text,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub name: Cow<'a, str>,
    /// The series as written: the metric name and label set, before the value. Equal text is
    /// the same series (the scrape loop caches per-series work under it); the converse does not
    /// hold (label order, spacing, escapes).
    pub series: &'a str,
    /// The validated text between the braces (after a quoted metric name, if any).
    labels_text: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar<'a>>,
}

impl<'a> Sample<'a> {
    /// The sample's labels in written order (names and values borrowed unless escaped).
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter {
            rest: self.labels_text,
        }
    }
}

/// Iterates `name="value"` pairs of already-validated label text.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let (pair, used) = lex_label(self.rest).ok()??;
        self.rest = &self.rest[used..];
        Some(pair)
    }
}

/// Lexes one `name="value"` (with leading separators) from `s`. Ok(None) at the end.
#[allow(clippy::type_complexity)]
fn lex_label(s: &str) -> Result<Option<((Cow<'_, str>, Cow<'_, str>), usize)>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
        i += 1;
    }
    if i >= b.len() {
        return Ok(None);
    }
    let name: Cow<'_, str>;
    if b[i] == b'"' {
        let (n, used) = quoted(&s[i..]).map_err(str::to_string)?;
        name = n;
        i += used;
    } else {
        if !is_label_start(b[i]) {
            return Err(format!(
                "invalid label name starting at {:?}",
                snippet(&s[i..])
            ));
        }
        let start = i;
        while i < b.len() && is_label_char(b[i]) {
            i += 1;
        }
        name = Cow::Borrowed(&s[start..i]);
    }
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    if b.get(i) != Some(&b'=') {
        return Err(format!("expected \"=\" after label name {name:?}"));
    }
    i += 1;
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    if b.get(i) != Some(&b'"') {
        return Err(format!("expected a quoted value for label {name:?}"));
    }
    let (value, used) = quoted(&s[i..]).map_err(str::to_string)?;
    i += used;
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    match b.get(i) {
        None | Some(b',') => Ok(Some(((name, value), i))),
        Some(_) => Err(format!(
            "expected \",\" or \"}}\" after the value of label {name:?}"
        )),
    }
}

fn snippet(s: &str) -> &str {
    let end = s.char_indices().nth(20).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// One meaningful line of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Help {
        name: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    Type {
        name: Cow<'a, str>,
        kind: MetricType,
    },
    Unit {
        name: Cow<'a, str>,
        unit: &'a str,
    },
    Sample(Sample<'a>),
}

/// The pull parser.
pub struct Parser<'a> {
    rest: &'a str,
    line: usize,
    format: Format,
    saw_eof: bool,
    /// Label sets are only delimited, not checked, until `check_labels` (see
    /// `defer_label_checks`).
    defer_labels: bool,
}

impl<'a> Parser<'a> {
    /// Creates a parser; the body must be UTF-8.
    pub fn new(body: &'a [u8], format: Format) -> Result<Self, ParseError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            let line = body[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            ParseError {
                line,
                message: "invalid UTF-8".into(),
            }
        })?;
        Ok(Self {
            rest: text,
            line: 0,
            format,
            saw_eof: false,
            defer_labels: false,
        })
    }

    /// Leaves checking each sample's label set to the caller (`check_labels`), for a caller
    /// that has already seen most series texts and checked them then: the scrape loop's
    /// series cache. A sample's labels must not be read before they were checked.
    pub fn defer_label_checks(mut self) -> Self {
        self.defer_labels = true;
        self
    }

    /// Checks the label set of the sample just returned (only needed with
    /// `defer_label_checks`); errors name the sample's line.
    pub fn check_labels(&self, s: &Sample<'a>) -> Result<(), ParseError> {
        self.check_label_text(s.labels_text)
    }

    fn check_label_text(&self, mut rest: &str) -> Result<(), ParseError> {
        while let Some((_, used)) = lex_label(rest).map_err(|e| self.err(e))? {
            rest = &rest[used..];
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
        }
    }

    /// The next entry, `Ok(None)` at the end of input.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        loop {
            if self.rest.is_empty() {
                if self.format == Format::OpenMetrics && !self.saw_eof {
                    return Err(self.err("data does not end with # EOF"));
                }
                return Ok(None);
            }
            let (line, rest) = match memchr::memchr(b'\n', self.rest.as_bytes()) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, ""),
            };
            self.rest = rest;
            self.line += 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if self.saw_eof {
                if line.is_empty() && self.rest.is_empty() {
                    return Ok(None);
                }
                return Err(self.err("unexpected data after # EOF"));
            }
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                match self.comment(comment)? {
                    Some(e) => return Ok(Some(e)),
                    None => continue,
                }
            }
            return self.sample(trimmed).map(|s| Some(Entry::Sample(s)));
        }
    }

    fn comment(&mut self, c: &'a str) -> Result<Option<Entry<'a>>, ParseError> {
        let c = c.trim_start_matches([' ', '\t']);
        if c.trim_end() == "EOF" && self.format == Format::OpenMetrics {
            self.saw_eof = true;
            return Ok(None);
        }
        let (kw, rest) = c.split_once([' ', '\t']).unwrap_or((c, ""));
        if !matches!(kw, "HELP" | "TYPE" | "UNIT")
            || (kw == "UNIT" && self.format == Format::PromText)
        {
            return Ok(None);
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (name, used) = self.metric_name(rest)?;
        let tail = &rest[used..];
        let tail = tail.strip_prefix([' ', '\t']).unwrap_or(tail);
        Ok(Some(match kw {
            "HELP" => Entry::Help {
                name,
                text: help_text(tail),
            },
            "TYPE" => {
                let t = tail.trim();
                let kind = MetricType::parse(t, self.format)
                    .ok_or_else(|| self.err(format!("invalid metric type {t:?}")))?;
                Entry::Type { name, kind }
            }
            _ => Entry::Unit {
                name,
                unit: tail.trim(),
            },
        }))
    }

    /// A metric name, bare or quoted; returns it and the bytes used.
    fn metric_name(&self, s: &'a str) -> Result<(Cow<'a, str>, usize), ParseError> {
        let b = s.as_bytes();
        match b.first() {
            Some(b'"') => quoted(s).map_err(|e| self.err(e)),
            Some(c) if is_name_start(*c) => {
                let end = b.iter().position(|c| !is_name_char(*c)).unwrap_or(b.len());
                Ok((Cow::Borrowed(&s[..end]), end))
            }
            _ => Err(self.err(format!("expected a metric name, got {:?}", snippet(s)))),
        }
    }

    fn sample(&self, line: &'a str) -> Result<Sample<'a>, ParseError> {
        let b = line.as_bytes();
        let mut name: Option<Cow<'a, str>> = None;
        let mut i = 0;
        if b[0] != b'{' {
            let (n, used) = self.metric_name(line)?;
            name = Some(n);
            i = used;
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t') {
                j += 1;
            }
            if b.get(j) == Some(&b'{') {
                i = j;
            }
        }
        let mut labels_text = "";
        if b.get(i) == Some(&b'{') {
            let close = find_close(&line[i..])
                .ok_or_else(|| self.err("unterminated label set: expected \"}\""))?;
            let mut inner = &line[i + 1..i + close];
            if name.is_none() {
                // `{"metric.name", a="b"}`: the first element is the quoted metric name.
                let t = inner.trim_start_matches([' ', '\t']);
                if !t.starts_with('"') {
                    return Err(self.err("expected a metric name before the label set"));
                }
                let (n, used) = quoted(t).map_err(|e| self.err(e))?;
                let after = t[used..].trim_start_matches([' ', '\t']);
                if after.starts_with('=') {
                    return Err(self.err("expected a metric name before the label set"));
                }
                name = Some(n);
                inner = after;
            }
            if !self.defer_labels {
                self.check_label_text(inner)?;
            }
            labels_text = inner;
            i += close + 1;
        }
        let name = name.ok_or_else(|| self.err("expected a metric name"))?;
        let rest = &line[i..];
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return Err(self.err(format!(
                "expected whitespace after the metric name or labels, got {:?}",
                snippet(rest)
            )));
        }
        let (main, exemplar_text) = match memchr::memmem::find(rest.as_bytes(), b" # ") {
            Some(p) => (&rest[..p], Some(&rest[p + 3..])),
            None => (rest, None),
        };
        let mut fields = main.split_ascii_whitespace();
        let vtext = fields
            .next()
            .ok_or_else(|| self.err(format!("expected a value for {name:?}")))?;
        let value = parse_float(vtext)
            .ok_or_else(|| self.err(format!("invalid value {vtext:?} for {name:?}")))?;
        let timestamp_ms = match fields.next() {
            None => None,
            Some(t) => Some(self.timestamp(t)?),
        };
        if let Some(extra) = fields.next() {
            return Err(self.err(format!(
                "unexpected {:?} after the timestamp",
                snippet(extra)
            )));
        }
        let exemplar = match exemplar_text {
            Some(_) if self.format == Format::PromText => {
                return Err(self.err("exemplars are only allowed in OpenMetrics"));
            }
            Some(t) => Some(self.exemplar(t)?),
            None => None,
        };
        Ok(Sample {
            name,
            series: &line[..i],
            labels_text,
            value,
            timestamp_ms,
            exemplar,
        })
    }

    fn timestamp(&self, t: &str) -> Result<i64, ParseError> {
        match self.format {
            Format::PromText => t
                .parse::<i64>()
                .map_err(|_| self.err(format!("invalid timestamp {t:?}"))),
            Format::OpenMetrics => parse_float(t)
                .filter(|v| v.is_finite())
                .map(|secs| (secs * 1000.0).round() as i64)
                .ok_or_else(|| self.err(format!("invalid timestamp {t:?}"))),
        }
    }

    fn exemplar(&self, t: &'a str) -> Result<Exemplar<'a>, ParseError> {
        let t = t.trim_start();
        if !t.starts_with('{') {
            return Err(self.err("expected \"{\" to start the exemplar labels"));
        }
        let close = find_close(t).ok_or_else(|| self.err("unterminated exemplar label set"))?;
        let inner = &t[1..close];
        let mut rest = inner;
        while let Some((_, used)) = lex_label(rest).map_err(|e| self.err(e))? {
            rest = &rest[used..];
        }
        let mut fields = t[close + 1..].split_ascii_whitespace();
        let v = fields
            .next()
            .ok_or_else(|| self.err("expected an exemplar value"))?;
        let value =
            parse_float(v).ok_or_else(|| self.err(format!("invalid exemplar value {v:?}")))?;
        let timestamp_ms = match fields.next() {
            Some(ts) => Some(self.timestamp(ts)?),
            None => None,
        };
        Ok(Exemplar {
            labels_text: inner,
            value,
            timestamp_ms,
        })
    }
}

/// Index of the `}` closing the label set opened at `s[0]`, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}
