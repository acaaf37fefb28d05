//! The bodies `health_check` answers with, byte-for-byte as otelcol's legacy responder:
//! `{"status":"Server available","upSince":"<RFC3339Nano>","uptime":"<Go duration>"}` when
//! ready, `{"status":"Server not available","upSince":"0001-01-01T00:00:00Z","uptime":""}`
//! otherwise, or the configured fixed bodies.
//!
//! Includes the two Go formats it needs without a time crate: `time.Time` as RFC 3339 with
//! nanoseconds (always UTC here, where Go would use the local zone, which is UTC in
//! containers) and `time.Duration.String()`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Go's zero `time.Time`, as JSON-encoded by the legacy responder when not ready.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize)]
struct LegacyStatus<'a> {
    status: &'a str,
    #[serde(rename = "upSince")]
    up_since: String,
    uptime: String,
}

/// The default JSON body. `up_since` is the time to report when ready.
pub fn legacy_json(ready: bool, up_since: SystemTime, now: SystemTime) -> String {
    let body = if ready {
        LegacyStatus {
            status: "Server available",
            up_since: rfc3339_nano(up_since),
            uptime: go_duration(now.duration_since(up_since).unwrap_or_default()),
        }
    } else {
        LegacyStatus {
            status: "Server not available",
            up_since: ZERO_TIME.to_string(),
            uptime: String::new(),
        }
    };
    // Serializing a struct of strings cannot fail; fall back to a fixed body regardless.
    serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"))
}

/// Formats a time as Go's `time.RFC3339Nano` in UTC (fraction without trailing zeros).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let frac = fraction(u64::from(d.subsec_nanos()), 9);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a duration as Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let u = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let int = u / 10u64.pow(prec);
        return format!("{int}{}{unit}", fraction(u, prec));
    }
    let frac = fraction(u, 9);
    let secs = u / 1_000_000_000;
    let mut out = String::new();
    let mins = secs / 60;
    if mins > 0 {
        let hours = mins / 60;
        if hours > 0 {
            out.push_str(&format!("{hours}h"));
        }
        out.push_str(&format!("{}m", mins % 60));
    }
    out.push_str(&format!("{}{frac}s", secs % 60));
    out
}

/// The fractional part of `v / 10^prec` as `.ddd` without trailing zeros ("" when zero).
fn fraction(v: u64, prec: u32) -> String {
    if prec == 0 {
        return String::new();
    }
    let f = v % 10u64.pow(prec);
    if f == 0 {
        return String::new();
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}
