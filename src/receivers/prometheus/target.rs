//! Turning discovered labels into a scrape target, as Prometheus's `PopulateLabels`: job and
//! scrape defaults are added, `relabel_configs` run, the address and the interval/timeout
//! labels are checked, `__meta_*` labels go away and `instance` defaults to the address.
//! A target's identity is a hash of its labels and URL, which also gives its start offset.

use std::hash::Hasher;
use std::time::Duration;

use super::promconfig::ScrapeConfig;
use super::yaml_reader::{format_prom_duration, parse_prom_duration};
use crate::relabel::{process, Labels};

/// A target ready to scrape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The labels before relabeling (Prometheus's "discoveredLabels").
    pub discovered: Labels,
    /// All labels after relabeling, including the `__` ones that drive the scrape.
    pub labels: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// What became of one discovered label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Populated {
    Active(Target),
    /// Dropped by relabeling (keeps the discovered labels for the targets API).
    Dropped(Labels),
    /// Invalid after relabeling (no address, bad interval...).
    Rejected(String),
}

fn target_duration(s: &str) -> Result<Duration, String> {
    parse_prom_duration(s).or_else(|_| {
        crate::config::types::parse_go_duration(s)
            .map_err(|e| e.trim_start_matches("time: ").to_string())
    })
}

/// Applies Prometheus's target population to one discovered label set.
pub fn populate(discovered_in: Labels, cfg: &ScrapeConfig) -> Populated {
    let mut lb = discovered_in;
    let defaults = [
        ("job", cfg.job_name.clone()),
        (
            "__scrape_interval__",
            format_prom_duration(cfg.scrape_interval),
        ),
        (
            "__scrape_timeout__",
            format_prom_duration(cfg.scrape_timeout),
        ),
        ("__metrics_path__", cfg.metrics_path.clone()),
        ("__scheme__", cfg.scheme.clone()),
    ];
    for (k, v) in defaults {
        if lb.get(k).is_empty() {
            lb.set(k, &v);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("__param_{k}");
        if let Some(first) = v.first() {
            if !lb.contains(&name) {
                lb.set(&name, first);
            }
        }
    }
    let discovered = lb.clone();
    if !process(&mut lb, &cfg.relabel_configs) {
        return Populated::Dropped(discovered);
    }
    let addr = lb.get("__address__").to_string();
    if addr.is_empty() {
        return Populated::Rejected("no address".into());
    }
    if addr.contains('/') {
        return Populated::Rejected(format!("invalid address {addr:?}: it must be host[:port]"));
    }
    let interval = match target_duration(lb.get("__scrape_interval__")) {
        Ok(d) if d.is_zero() => return Populated::Rejected("scrape interval cannot be 0".into()),
        Ok(d) => d,
        Err(e) => return Populated::Rejected(format!("error parsing scrape interval: {e}")),
    };
    let timeout = match target_duration(lb.get("__scrape_timeout__")) {
        Ok(d) if d.is_zero() => return Populated::Rejected("scrape timeout cannot be 0".into()),
        Ok(d) => d,
        Err(e) => return Populated::Rejected(format!("error parsing scrape timeout: {e}")),
    };
    if timeout > interval {
        return Populated::Rejected(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            lb.get("__scrape_timeout__"),
            lb.get("__scrape_interval__")
        ));
    }
    let nhcb = lb.get("__convert_classic_histograms_to_nhcb__");
    if !nhcb.is_empty()
        && !matches!(
            nhcb,
            "1" | "t"
                | "T"
                | "TRUE"
                | "true"
                | "True"
                | "0"
                | "f"
                | "F"
                | "FALSE"
                | "false"
                | "False"
        )
    {
        return Populated::Rejected(format!(
            "error parsing convert classic histograms to nhcb: strconv.ParseBool: parsing {nhcb:?}: invalid syntax"
        ));
    }
    lb.retain(|n| !n.starts_with("__meta_"));
    if lb.get("instance").is_empty() {
        lb.set("instance", &addr);
    }
    let url = target_url(&lb, cfg);
    Populated::Active(Target {
        discovered,
        labels: lb,
        url,
        interval,
        timeout,
    })
}

/// `<scheme>://<address><path>?<params>`, where `__param_<name>` labels override the job's
/// params of the same name.
fn target_url(lb: &Labels, cfg: &ScrapeConfig) -> String {
    let mut params: Vec<(String, Vec<String>)> = cfg
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in lb.iter() {
        if let Some(name) = k.strip_prefix("__param_") {
            match params.iter_mut().find(|(n, _)| n == name) {
                Some((_, vals)) if !vals.is_empty() => vals[0] = v.to_string(),
                Some((_, vals)) => vals.push(v.to_string()),
                None => params.push((name.to_string(), vec![v.to_string()])),
            }
        }
    }
    let mut url = format!(
        "{}://{}{}",
        lb.get("__scheme__"),
        lb.get("__address__"),
        lb.get("__metrics_path__")
    );
    let mut first = true;
    for (k, vals) in &params {
        for v in vals {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
        }
    }
    url
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Target {
    /// The public labels (no `__` prefix), as the targets API and scraped samples see them.
    pub fn public_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().filter(|(k, _)| !k.starts_with("__"))
    }

    /// Identity: FNV-1a over the labels and the URL.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        for (k, v) in self.labels.iter() {
            h.write(k.as_bytes());
            h.write(&[0xff]);
            h.write(v.as_bytes());
            h.write(&[0xff]);
        }
        h.write(self.url.as_bytes());
        h.finish()
    }

    /// How long to wait before the first scrape so that targets spread over the interval,
    /// deterministically per target (Prometheus's hash-based offset).
    pub fn offset(&self, now_nanos: u128) -> Duration {
        let interval = self.interval.as_nanos().max(1);
        let base = interval - now_nanos % interval;
        let offset = (u128::from(self.hash()) % interval + base) % interval;
        Duration::from_nanos(offset as u64)
    }
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests;
