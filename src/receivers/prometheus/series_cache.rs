//! A target's per-series cache, as Prometheus's scrape cache: keyed by the series text as
//! written in the exposition (`name{labels}`), it keeps what label building, relabeling, the
//! checks and conversion made of that series the last time, so a series scraped again costs
//! one lookup and a clone of its attributes. It also knows the series of the last successful
//! scrape, which makes their stale markers possible without keeping the old body.
//!
//! Entries are only valid for the metadata they were made under (the family's type and name);
//! a mismatch is a miss. The cache holds at most the series text seen in the last successful
//! scrape (plus the current one): entries not seen again are swept at its end, and a failed
//! scrape empties it.

use std::collections::HashMap;

use super::convert::PreparedSeries;
use crate::exposition::MetricType;

/// What one series text turned into.
#[derive(Debug)]
pub struct CachedSeries {
    /// The identity of the final label set (the staleness set's key).
    pub hash: u64,
    kind: MetricType,
    family_len: usize,
    /// None when `metric_relabel_configs` drops the series.
    pub prepared: Option<PreparedSeries>,
    seen: bool,
}

impl CachedSeries {
    pub fn kept(hash: u64, kind: MetricType, family: &str, prepared: PreparedSeries) -> Self {
        Self {
            hash,
            kind,
            family_len: family.len(),
            prepared: Some(prepared),
            seen: true,
        }
    }

    pub fn dropped(kind: MetricType, family: &str) -> Self {
        Self {
            hash: 0,
            kind,
            family_len: family.len(),
            prepared: None,
            seen: true,
        }
    }
}

/// The cache of one scrape loop.
#[derive(Debug, Default)]
pub struct SeriesCache {
    map: HashMap<Box<str>, CachedSeries, foldhash::fast::RandomState>,
}

impl SeriesCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entry for `series` made under the same family and type, marked seen.
    pub fn hit(&mut self, series: &str, kind: MetricType, family: &str) -> Option<&CachedSeries> {
        let c = self.map.get_mut(series)?;
        if c.kind != kind || c.family_len != family.len() {
            return None;
        }
        c.seen = true;
        Some(c)
    }

    pub fn insert(&mut self, series: &str, entry: CachedSeries) {
        self.map.insert(series.into(), entry);
    }

    /// Ends a successful scrape: the entries not seen in it are removed and returned; the
    /// others start the next scrape unseen.
    pub fn sweep(&mut self) -> Vec<CachedSeries> {
        let mut gone = Vec::new();
        let unseen: Vec<Box<str>> = self
            .map
            .iter_mut()
            .filter_map(|(k, c)| {
                let was_seen = std::mem::replace(&mut c.seen, false);
                (!was_seen).then(|| k.clone())
            })
            .collect();
        for k in unseen {
            if let Some(c) = self.map.remove(&k) {
                gone.push(c);
            }
        }
        gone
    }

    /// Ends a failed scrape or the run: every entry is removed and returned, and the memory
    /// released.
    pub fn drain(&mut self) -> Vec<CachedSeries> {
        std::mem::take(&mut self.map).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::prometheus::convert::TargetResource;
    use crate::relabel::Labels;

    fn prepared(name: &str) -> PreparedSeries {
        let t = TargetResource {
            job: "j".into(),
            instance: "i".into(),
            extra: Vec::new(),
        };
        PreparedSeries::new(
            &Labels::from_pairs([("__name__", name)]),
            name,
            MetricType::Gauge,
            &t,
        )
        .unwrap()
    }

    #[test]
    fn hits_need_the_same_metadata_and_unseen_entries_are_swept() {
        let mut c = SeriesCache::new();
        c.insert(
            "a{x=\"1\"}",
            CachedSeries::kept(1, MetricType::Gauge, "a", prepared("a")),
        );
        c.insert("b", CachedSeries::dropped(MetricType::Counter, "b"));
        // End of the first scrape: both were seen.
        assert!(c.sweep().is_empty());
        assert_eq!(c.len(), 2);
        // Second scrape: `a` is seen, but as a counter now (a miss), `b` is not seen.
        assert!(c.hit("a{x=\"1\"}", MetricType::Counter, "a").is_none());
        assert!(c.hit("a{x=\"1\"}", MetricType::Gauge, "a_x").is_none());
        let hit = c.hit("a{x=\"1\"}", MetricType::Gauge, "a").unwrap();
        assert_eq!(hit.hash, 1);
        assert_eq!(hit.prepared.as_ref().unwrap().metric(), "a");
        let gone: Vec<u64> = c.sweep().iter().map(|e| e.hash).collect();
        assert_eq!(gone, vec![0]);
        assert_eq!(c.len(), 1);
        assert_eq!(c.drain().len(), 1);
        assert_eq!(c.len(), 0);
    }
}
