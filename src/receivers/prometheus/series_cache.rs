//! A target's per-series cache, as Prometheus's scrape cache: keyed by the series text as
//! written in the exposition (`name{labels}`), it keeps what label building, relabeling, the
//! checks and conversion made of that series the last time, so a series scraped again costs
//! one lookup and a reference count on its encoded attributes. It also knows the series of
//! the last successful scrape, which makes their stale markers possible without keeping the
//! old body.
//!
//! Entries are only valid for the metadata they were made under (the family's type and name);
//! a mismatch is a miss. The cache holds at most the series text seen in the last successful
//! scrape (plus the current one): entries not seen again are swept at its end, and a failed
//! scrape empties it.

use std::hash::BuildHasher;

use hashbrown::HashTable;

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

/// One cached series text.
#[derive(Debug)]
struct Slot {
    key: Box<str>,
    entry: CachedSeries,
    /// Its position in the last successful scrape (`NOT_IN_PREV` if it was not there).
    prev_pos: u32,
}

const NOT_IN_PREV: u32 = u32::MAX;

/// The cache of one scrape loop. Lookups first try the series that followed the previous hit
/// in the last scrape (targets expose their series in a stable order, so this nearly always
/// hits without hashing), then the hash table.
#[derive(Debug, Default)]
pub struct SeriesCache {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Slot indices, hashed by their key.
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// The slots of the last successful scrape in exposition order, and where the next
    /// sample is expected in it.
    prev_order: Vec<u32>,
    cursor: usize,
    /// The slots seen so far in this scrape, in order.
    order: Vec<u32>,
}

impl SeriesCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn slot_of(&self, series: &str, hash: u64) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(hash, |&i| {
                slots[i as usize]
                    .as_ref()
                    .is_some_and(|s| &*s.key == series)
            })
            .copied()
    }

    /// The entry for `series` made under the same family and type, marked seen.
    pub fn hit(&mut self, series: &str, kind: MetricType, family: &str) -> Option<&CachedSeries> {
        let expected = self.prev_order.get(self.cursor).copied().filter(|&i| {
            self.slots[i as usize]
                .as_ref()
                .is_some_and(|s| &*s.key == series)
        });
        let i = match expected {
            Some(i) => {
                self.cursor += 1;
                i
            }
            None => {
                let i = self.slot_of(series, self.hasher.hash_one(series))?;
                // Resynchronise the sequential guess after an added or removed series.
                if let Some(pos) = self.slots[i as usize]
                    .as_ref()
                    .map(|s| s.prev_pos)
                    .filter(|&p| p != NOT_IN_PREV)
                {
                    self.cursor = pos as usize + 1;
                }
                i
            }
        };
        let slot = self.slots[i as usize].as_mut()?;
        if slot.entry.kind != kind || slot.entry.family_len != family.len() {
            return None;
        }
        if !slot.entry.seen {
            slot.entry.seen = true;
            self.order.push(i);
        }
        Some(&slot.entry)
    }

    /// Stores what `series` became (replacing an entry made under other metadata).
    pub fn insert(&mut self, series: &str, mut entry: CachedSeries) {
        entry.seen = true;
        let hash = self.hasher.hash_one(series);
        if let Some(i) = self.slot_of(series, hash) {
            if let Some(slot) = self.slots[i as usize].as_mut() {
                let was_seen = slot.entry.seen;
                slot.entry = entry;
                if !was_seen {
                    self.order.push(i);
                }
            }
            return;
        }
        let slot = Slot {
            key: series.into(),
            entry,
            prev_pos: NOT_IN_PREV,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                // Bounded by the series of one scrape, far below 4 billion.
                let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Some(slot));
                i
            }
        };
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table.insert_unique(hash, i, |&j| {
            slots[j as usize]
                .as_ref()
                .map_or(0, |s| hasher.hash_one(&*s.key))
        });
        self.order.push(i);
    }

    /// Ends a successful scrape: the entries not seen in it are removed and returned; the
    /// others start the next scrape unseen, in this scrape's order.
    pub fn sweep(&mut self) -> Vec<CachedSeries> {
        let mut gone = Vec::new();
        for i in 0..self.slots.len() {
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            if std::mem::replace(&mut slot.entry.seen, false) {
                continue;
            }
            let hash = self.hasher.hash_one(&*slot.key);
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            if let Ok(e) = self.table.find_entry(hash, |&j| j == idx) {
                e.remove();
            }
            if let Some(slot) = self.slots[i].take() {
                gone.push(slot.entry);
                self.free.push(idx);
            }
        }
        self.prev_order = std::mem::take(&mut self.order);
        for (pos, &i) in self.prev_order.iter().enumerate() {
            if let Some(slot) = self.slots[i as usize].as_mut() {
                slot.prev_pos = u32::try_from(pos).unwrap_or(NOT_IN_PREV);
            }
        }
        self.cursor = 0;
        gone
    }

    /// Ends a failed scrape or the run: every entry is removed and returned, and the memory
    /// released.
    pub fn drain(&mut self) -> Vec<CachedSeries> {
        let slots = std::mem::take(&mut self.slots);
        *self = Self::default();
        slots.into_iter().flatten().map(|s| s.entry).collect()
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

    #[test]
    fn lookups_survive_reordering_insertions_and_removals() {
        let mut c = SeriesCache::new();
        let names: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            c.insert(
                n,
                CachedSeries::kept(i as u64, MetricType::Gauge, n, prepared(n)),
            );
        }
        assert!(c.sweep().is_empty());
        // Next scrape: reversed, every third one missing, two new ones in the middle.
        let mut seen = Vec::new();
        for (i, n) in names.iter().enumerate().rev() {
            if i % 3 == 0 {
                continue;
            }
            if i == 25 {
                assert!(c.hit("new1", MetricType::Gauge, "new1").is_none());
                c.insert("new1", CachedSeries::dropped(MetricType::Gauge, "new1"));
            }
            let hit = c.hit(n, MetricType::Gauge, n).map(|e| e.hash);
            assert_eq!(hit, Some(i as u64), "{n}");
            seen.push(i);
        }
        let mut gone: Vec<u64> = c.sweep().iter().map(|e| e.hash).collect();
        gone.sort_unstable();
        let expected: Vec<u64> = (0..50).filter(|i| i % 3 == 0).collect();
        assert_eq!(gone, expected);
        assert_eq!(c.len(), seen.len() + 1);
        // Freed slots are reused, and everything is still found, in the old or a new order.
        c.insert("new2", CachedSeries::dropped(MetricType::Gauge, "new2"));
        for &i in &seen {
            let n = &names[i];
            assert_eq!(
                c.hit(n, MetricType::Gauge, n).map(|e| e.hash),
                Some(i as u64)
            );
        }
        assert!(c.hit("new1", MetricType::Gauge, "new1").is_some());
        assert!(c.sweep().is_empty());
        assert_eq!(c.len(), seen.len() + 2);
    }
}
