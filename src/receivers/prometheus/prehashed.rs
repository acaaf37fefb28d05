//! Maps keyed by values that already are good hashes (keyed SipHash outputs of label sets):
//! hashing them again would only cost time, so the hasher passes the `u64` through.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for `u64` keys that are already uniformly distributed hashes.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is expected; fold anything else in so it still works.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type BuildPassThrough = BuildHasherDefault<PassThrough>;
/// A map from a pre-computed hash.
pub type HashKeyed<V> = HashMap<u64, V, BuildPassThrough>;
/// A set of pre-computed hashes.
pub type HashSetKeyed = HashSet<u64, BuildPassThrough>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pass_through_and_lookups_work() {
        let mut m: HashKeyed<&str> = HashKeyed::default();
        m.insert(0xdead_beef, "a");
        m.insert(7, "b");
        assert_eq!(m.get(&0xdead_beef), Some(&"a"));
        assert_eq!(m.get(&7), Some(&"b"));
        assert_eq!(m.get(&8), None);
        let mut h = PassThrough::default();
        h.write_u64(42);
        assert_eq!(h.finish(), 42);
    }
}
