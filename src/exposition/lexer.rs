//! Byte-level helpers shared by both formats: whitespace, names, quoted strings with
//! Prometheus escapes, and Go-compatible float parsing.

use std::borrow::Cow;

pub(super) fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

/// Bytes of a metric name after the first (`[a-zA-Z0-9_:]`), one table load per byte: the
/// name of every sample is scanned, so this is on the hot path.
static NAME_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b':';
        b += 1;
    }
    t
};

pub(super) fn is_name_char(b: u8) -> bool {
    NAME_CHARS[usize::from(b)]
}

pub(super) fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
#[test]
fn name_char_table_is_the_name_grammar() {
    for b in 0..=255u8 {
        assert_eq!(
            is_name_char(b),
            b.is_ascii_alphanumeric() || b == b'_' || b == b':',
            "{b}"
        );
    }
}

/// Reads a double-quoted string starting at `s[0] == b'"'`. Returns the (possibly unescaped)
/// text and the number of bytes consumed, or an error message.
pub(super) fn quoted(s: &str) -> Result<(Cow<'_, str>, usize), &'static str> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let raw = &s[1..i];
                let text = if escaped {
                    Cow::Owned(unescape(raw)?)
                } else {
                    Cow::Borrowed(raw)
                };
                return Ok((text, i + 1));
            }
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'\n' => return Err("unexpected end of line inside a quoted string"),
            _ => i += 1,
        }
    }
    Err("unterminated quoted string")
}

fn unescape(raw: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                // Prometheus keeps unknown escapes as written.
                out.push('\\');
                out.push(other);
            }
            None => return Err("invalid escape at the end of a quoted string"),
        }
    }
    Ok(out)
}

/// Unescapes HELP text (`\\` and `\n`).
pub(super) fn help_text(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Go `strconv.ParseFloat` as Prometheus uses it: decimal and exponent forms, `NaN`, `Inf`,
/// `+Inf`, `-Inf`, `Infinity` (any case).
pub(super) fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => return Some(f64::INFINITY),
        "-Inf" | "-inf" => return Some(f64::NEG_INFINITY),
        "NaN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        let l = s.to_ascii_lowercase();
        return match l.as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "infinity" => Some(f64::INFINITY),
            _ => None,
        };
    }
    // Go's ParseFloat would take `1_000` and hex floats, which Prometheus refuses; Rust's
    // parser takes neither (tested in `go_only_float_spellings_are_invalid_values`).
    s.parse::<f64>().ok()
}
