//! The per-target series set that drives Prometheus staleness: exactly the series of the last
//! successful scrape, as 64-bit hashes of their final label sets (keyed SipHash, so exposed
//! label values cannot be chosen to collide) with a flag byte each, about 16 bytes per series.
//! A series still exposed costs one hash and one lookup per scrape and no allocation.
//!
//! At the end of a successful scrape the series not seen again are returned as gone; a failed
//! scrape returns every series of the previous successful scrape and forgets them all, as
//! Prometheus appends an empty scrape. The set never holds more than one scrape's series and
//! is freed with the loop.
//!
//! Not here: turning gone hashes back into points. The scrape loop's series cache
//! (`series_cache`) holds the prepared form of every series of the last successful scrape.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use super::prehashed::HashKeyed;
use crate::relabel::Labels;

const SEEN: u8 = 1;
const NEW: u8 = 2;
const TRACK: u8 = 4;

/// What `observe` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not in the previous successful scrape.
    New,
    /// Also in the previous successful scrape.
    Known,
    /// Already seen in this scrape.
    Duplicate,
}

/// The series of the last successful scrape, plus those seen so far in the current one.
#[derive(Debug, Default)]
pub struct SeriesSet {
    /// Keyed by the hashes themselves: they are keyed SipHash outputs already.
    map: HashKeyed<u8>,
    keys: RandomState,
}

impl SeriesSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// The identity of a final label set (names and values, in order).
    pub fn hash(&self, labels: &Labels) -> u64 {
        let mut h = self.keys.build_hasher();
        // Each part ends with a byte UTF-8 text never holds: no two lists feed the same bytes.
        for (k, v) in labels.iter() {
            h.write(k.as_bytes());
            h.write_u8(0xff);
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    /// Number of series held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Records a series of the scrape in progress. `track` is false for series whose stale
    /// markers Prometheus does not write (explicit timestamps without
    /// `track_timestamps_staleness`).
    pub fn observe(&mut self, hash: u64, track: bool) -> Seen {
        let track_bit = if track { TRACK } else { 0 };
        if let Some(flags) = self.map.get_mut(&hash) {
            if *flags & SEEN != 0 {
                return Seen::Duplicate;
            }
            *flags = SEEN | track_bit;
            return Seen::Known;
        }
        self.map.insert(hash, SEEN | NEW | track_bit);
        Seen::New
    }

    /// Ends a successful scrape: the tracked series of the previous scrape that were not seen
    /// again are returned and forgotten; the rest become "the previous scrape".
    pub fn commit(&mut self) -> HashSet<u64> {
        let mut gone = HashSet::new();
        self.map.retain(|hash, flags| {
            if *flags & SEEN == 0 {
                if *flags & TRACK != 0 {
                    gone.insert(*hash);
                }
                return false;
            }
            *flags &= TRACK;
            true
        });
        gone
    }

    /// Ends a failed scrape (or the run): every tracked series of the previous successful
    /// scrape is returned (series first seen in the failed scrape were never sent), then all
    /// are forgotten and the memory is released.
    pub fn fail(&mut self) -> HashSet<u64> {
        let gone = self
            .map
            .iter()
            .filter(|(_, f)| **f & NEW == 0 && **f & TRACK != 0)
            .map(|(h, _)| *h)
            .collect();
        self.map = HashKeyed::default();
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    #[test]
    fn hashes_separate_names_from_values() {
        let s = SeriesSet::new();
        let a = Labels::from_pairs([("ab", "c")]);
        let b = Labels::from_pairs([("a", "bc")]);
        assert_ne!(s.hash(&a), s.hash(&b));
        assert_eq!(s.hash(&a), s.hash(&a.clone()));
    }

    #[test]
    fn disappearing_series_are_reported_once() {
        let mut s = SeriesSet::new();
        let (a, b) = (s.hash(&l("a")), s.hash(&l("b")));
        assert_eq!(s.observe(a, true), Seen::New);
        assert_eq!(s.observe(b, true), Seen::New);
        assert_eq!(s.observe(b, true), Seen::Duplicate);
        assert!(s.commit().is_empty());
        assert_eq!(s.observe(a, true), Seen::Known);
        assert_eq!(s.commit(), HashSet::from([b]));
        assert_eq!(s.len(), 1);
        assert!(
            s.commit().contains(&a),
            "a was not seen in the third scrape"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn a_failed_scrape_reports_only_previous_tracked_series() {
        let mut s = SeriesSet::new();
        let (a, b, c) = (s.hash(&l("a")), s.hash(&l("b")), s.hash(&l("c")));
        s.observe(a, true);
        s.observe(b, false);
        s.commit();
        s.observe(a, true);
        s.observe(c, true);
        assert_eq!(s.fail(), HashSet::from([a]));
        assert!(s.is_empty());
    }
}
