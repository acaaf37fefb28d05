//! Building one scraped sample's label set as Prometheus's scrape loop does, before the
//! relabel rules: the sample's labels plus `__name__` (noting a repeated label name), the
//! target labels merged per `honor_labels` (`mutateSampleLabels`), and the checks every
//! relabeled sample must pass (metric name present, legacy name validity, `label_limit`,
//! `label_name_length_limit`, `label_value_length_limit`), whose failure fails the scrape.
//!
//! The loop calls `relabel` (`metric_relabel_configs`), `check`, then `add_external` (otelcol
//! adds external labels in its appender, after Prometheus's checks). Not here: conversion.

use std::borrow::Cow;

use super::promconfig::{Limits, ScrapeConfig};
use super::target::Target;
use crate::exposition::Sample;
use crate::relabel::{process, Labels, NameScheme, Rule};

/// `{a="1", b="2"}` as Prometheus prints label sets.
pub fn fmt_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let inner: Vec<String> = labels.map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Go's `%.50s`.
fn trunc50(s: &str) -> &str {
    s.char_indices().nth(50).map_or(s, |(i, _)| &s[..i])
}

fn legacy_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The per-target part of label building. The label set is built in place, in one set reused
/// across samples: labels equal to the previous sample's (the target labels, a repeated metric
/// name) cost no allocation.
pub struct SampleLabels {
    /// The target's public labels (no `__` prefix), sorted by name.
    target_labels: Vec<(String, String)>,
    honor_labels: bool,
    scheme: NameScheme,
    limits: Limits,
    /// (index into `target_labels`, scraped value) of clashing labels.
    conflicts: Vec<(usize, String)>,
    scratch: Labels,
}

impl SampleLabels {
    pub fn new(target: &Target, cfg: &ScrapeConfig) -> Self {
        Self {
            target_labels: target
                .public_labels()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            honor_labels: cfg.honor_labels,
            scheme: cfg.name_scheme,
            limits: cfg.limits,
            conflicts: Vec::new(),
            scratch: Labels::new(),
        }
    }

    /// The label set of the current sample.
    pub fn get(&self) -> &Labels {
        &self.scratch
    }

    /// The label set of the current sample, for relabeling and external labels.
    pub fn get_mut(&mut self) -> &mut Labels {
        &mut self.scratch
    }

    fn target_index(&self, name: &str) -> Option<usize> {
        self.target_labels
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
    }

    /// Builds the sample's labels plus `__name__` merged with the target labels as
    /// Prometheus's `mutateSampleLabels` (without the relabeling): with `honor_labels` the
    /// target labels only fill gaps; otherwise they win and clashing scraped values move to
    /// `exported_<name>` (shorter names first, prefixing until the name is free). Empty
    /// values count as absent. Returns the first label name the sample repeats, if any.
    /// `seen` is scratch space for that check.
    pub fn build<'a>(&mut self, s: &Sample<'a>, seen: &mut Vec<Cow<'a, str>>) -> Option<String> {
        // Back to "target labels (+ the previous metric name)" without reallocating them.
        let targets = &self.target_labels;
        self.scratch.retain(|n| {
            n == "__name__" || targets.binary_search_by(|(k, _)| k.as_str().cmp(n)).is_ok()
        });
        for (k, v) in targets {
            self.scratch.set(k, v);
        }
        self.scratch.set("__name__", &s.name);
        self.conflicts.clear();
        seen.clear();
        seen.push(Cow::Borrowed("__name__"));
        let mut dup = None;
        for (k, v) in s.labels() {
            if dup.is_none() && seen.contains(&k) {
                dup = Some(k.to_string());
            }
            match self.target_index(&k) {
                Some(i) if !self.honor_labels => {
                    if !v.is_empty() {
                        self.conflicts.push((i, v.into_owned()));
                    }
                }
                Some(_) => {
                    if !v.is_empty() {
                        self.scratch.set(&k, &v);
                    }
                }
                None => self.scratch.set(&k, &v),
            }
            seen.push(k);
        }
        if !self.conflicts.is_empty() {
            let names = &self.target_labels;
            self.conflicts.sort_by_key(|(i, _)| names[*i].0.len());
            for (i, value) in &self.conflicts {
                let mut new_name = names[*i].0.clone();
                loop {
                    new_name.insert_str(0, "exported_");
                    if self.scratch.get(&new_name).is_empty() {
                        self.scratch.set(&new_name, value);
                        break;
                    }
                }
            }
        }
        dup
    }

    /// Runs `metric_relabel_configs` on the built set; false when the sample is dropped.
    pub fn relabel(&mut self, rules: &[Rule]) -> bool {
        rules.is_empty() || (process(&mut self.scratch, rules) && !self.scratch.is_empty())
    }

    /// Adds otelcol's external labels, overwriting same-named ones.
    pub fn add_external(&mut self, external: &Labels) {
        for (k, v) in external.iter() {
            self.scratch.set(k, v);
        }
    }

    /// The checks Prometheus applies to every relabeled sample; any failure fails the scrape.
    pub fn check(&self) -> Result<(), String> {
        let lb = &self.scratch;
        let name = lb.get("__name__");
        if name.is_empty() {
            return Err("missing metric name (__name__ label)".into());
        }
        if self.scheme == NameScheme::Legacy
            && (!legacy_metric_name(name)
                || lb
                    .iter()
                    .any(|(k, _)| !NameScheme::Legacy.valid_label_name(k)))
        {
            return Err(format!(
                "invalid metric name or label names: {}",
                fmt_labels(lb.iter())
            ));
        }
        let limits = &self.limits;
        let met = trunc50(name);
        if limits.label_limit > 0 && lb.len() as u64 > limits.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {met}, number of labels: {}, limit: {})",
                lb.len(),
                limits.label_limit
            ));
        }
        if limits.label_name_length_limit == 0 && limits.label_value_length_limit == 0 {
            return Ok(());
        }
        for (k, v) in lb.iter() {
            if limits.label_name_length_limit > 0 && k.len() as u64 > limits.label_name_length_limit
            {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {met}, label name: {}, length: {}, limit: {})",
                    trunc50(k),
                    k.len(),
                    limits.label_name_length_limit
                ));
            }
            if limits.label_value_length_limit > 0 {
                let n = v.chars().count() as u64;
                if n > limits.label_value_length_limit {
                    return Err(format!(
                        "label_value_length_limit exceeded (metric: {met}, label name: {}, value: {:?}, length: {n}, limit: {})",
                        trunc50(k),
                        trunc50(v),
                        limits.label_value_length_limit
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Entry, Format, Parser};

    fn cfg(extra: &str) -> ScrapeConfig {
        let y = format!("scrape_configs:\n- job_name: j\n{extra}");
        let c = super::super::promconfig::parse(&serde_yaml::from_str(&y).unwrap(), "c").unwrap();
        c.scrape_configs[0].clone()
    }

    fn target(cfg: &ScrapeConfig) -> Target {
        let l = Labels::from_pairs([("__address__", "h:1"), ("team", "a")]);
        match super::super::target::populate(l, cfg) {
            super::super::target::Populated::Active(t) => t,
            other => panic!("{other:?}"),
        }
    }

    /// Builds every sample of `body` with one builder; the last result.
    fn build_all(body: &str, extra: &str) -> Vec<Result<(Labels, Option<String>), String>> {
        let c = cfg(extra);
        let mut b = SampleLabels::new(&target(&c), &c);
        let mut p = Parser::new(body.as_bytes(), Format::PromText).unwrap();
        let mut seen = Vec::new();
        let mut out = Vec::new();
        while let Some(e) = p.next().unwrap() {
            let Entry::Sample(s) = e else { continue };
            let dup = b.build(&s, &mut seen);
            out.push(b.check().map(|_| (b.get().clone(), dup)));
            // What relabeling might do to the reused set must not leak into the next sample.
            b.get_mut().set("team", "changed");
            b.get_mut().set("extra", "x");
        }
        out
    }

    fn build(line: &str, extra: &str) -> Result<Labels, String> {
        build_all(line, extra).pop().unwrap().map(|(l, _)| l)
    }

    #[test]
    fn exported_prefix_repeats_until_free_shorter_names_first() {
        let l = build("m{team=\"x\",exported_team=\"y\",job=\"z\"} 1", "").unwrap();
        let got: Vec<_> = l.iter().collect();
        assert_eq!(
            got,
            vec![
                ("__name__", "m"),
                ("exported_exported_team", "x"),
                ("exported_job", "z"),
                ("exported_team", "y"),
                ("instance", "h:1"),
                ("job", "j"),
                ("team", "a"),
            ]
        );
    }

    #[test]
    fn the_reused_set_starts_afresh_for_every_sample() {
        let out = build_all(
            "a{x=\"1\"} 1\nb{y=\"2\",y=\"3\"} 2\nb{__name__=\"c\"} 3\nc 4\n",
            "",
        );
        let sets: Vec<_> = out.into_iter().map(Result::unwrap).collect();
        let names = |l: &Labels| {
            l.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&sets[0].0),
            ["__name__=a", "instance=h:1", "job=j", "team=a", "x=1"]
        );
        assert_eq!(sets[0].1, None);
        assert_eq!(sets[1].1.as_deref(), Some("y"));
        assert_eq!(sets[2].1.as_deref(), Some("__name__"));
        assert_eq!(
            names(&sets[3].0),
            ["__name__=c", "instance=h:1", "job=j", "team=a"]
        );
        let honored = build("m{team=\"mine\",job=\"\"} 1", "  honor_labels: true\n").unwrap();
        assert_eq!((honored.get("team"), honored.get("job")), ("mine", "j"));
    }

    #[test]
    fn limits_and_legacy_names_fail_with_prometheus_texts() {
        let long = "v".repeat(60);
        let e = build(
            &format!("m{{a=\"{long}\"}} 1"),
            "  label_value_length_limit: 10\n",
        );
        assert_eq!(
            e.unwrap_err(),
            format!(
                "label_value_length_limit exceeded (metric: m, label name: a, value: {:?}, length: 60, limit: 10)",
                &long[..50]
            )
        );
        // `__name__` counts too, as in Prometheus.
        let e = build("m{abcdefghi=\"1\"} 1", "  label_name_length_limit: 8\n");
        assert_eq!(
            e.unwrap_err(),
            "label_name_length_limit exceeded (metric: m, label name: abcdefghi, length: 9, limit: 8)"
        );
        let e = build(
            "{\"my.metric\"} 1",
            "  metric_name_validation_scheme: legacy\n",
        );
        assert!(e
            .unwrap_err()
            .starts_with("invalid metric name or label names: {__name__=\"my.metric\""));
        assert!(
            build("{\"my.metric\"} 1", "").is_ok(),
            "utf8 is the default"
        );
    }
}
