//! Scrape body buffers shared by all scrape loops of the process. A loop takes a buffer when
//! its scrape starts and gives it back once the body is parsed, so the memory held for bodies
//! follows how many scrapes run at once (a handful on a node agent) instead of the number of
//! targets: 100 targets with 200 KB bodies held 20 MB of buffers between scrapes before.
//!
//! The pool keeps at most `MAX_POOLED` buffers, and not one that grew far beyond the body it
//! last held (a one-off huge body does not stay resident).

use std::sync::Mutex;

/// Buffers kept between scrapes.
const MAX_POOLED: usize = 8;
/// A returned buffer is kept only when its capacity is within this much of its last body.
const SLACK: usize = 1 << 20;

/// The process's pool.
pub static BODIES: BodyPool = BodyPool::new();

pub struct BodyPool(Mutex<Vec<Vec<u8>>>);

impl BodyPool {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// An empty buffer with room for `size_hint` bytes (the target's previous body size).
    pub fn take(&self, size_hint: usize) -> Vec<u8> {
        let pooled = self.0.lock().map(|mut p| p.pop()).unwrap_or_default();
        let mut buf = pooled.unwrap_or_default();
        buf.clear();
        buf.reserve(size_hint);
        buf
    }

    /// Returns a buffer after its body was used.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > 2 * buf.len() + SLACK {
            return;
        }
        if let Ok(mut p) = self.0.lock() {
            if p.len() < MAX_POOLED {
                p.push(buf);
            }
        }
    }

    #[cfg(test)]
    fn capacities(&self) -> Vec<usize> {
        self.0
            .lock()
            .map(|p| p.iter().map(Vec::capacity).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_bounded_and_oversized_ones_dropped() {
        let pool = BodyPool::new();
        let mut b = pool.take(1000);
        assert!(b.is_empty() && b.capacity() >= 1000);
        b.extend_from_slice(&[7; 1000]);
        let ptr = b.as_ptr();
        pool.give(b);
        let again = pool.take(10);
        assert!(again.is_empty(), "a reused buffer starts empty");
        assert_eq!(again.as_ptr(), ptr, "the pooled buffer is handed out again");
        pool.give(again);
        assert_eq!(pool.capacities().len(), 1);
        // A buffer far larger than what it held is not kept, nor an unallocated one.
        let mut huge = Vec::with_capacity(4 * SLACK);
        huge.push(1u8);
        pool.give(huge);
        pool.give(Vec::new());
        assert_eq!(pool.capacities().len(), 1);
        for _ in 0..2 * MAX_POOLED {
            let mut b = Vec::with_capacity(64);
            b.push(0u8);
            pool.give(b);
        }
        assert_eq!(pool.capacities().len(), MAX_POOLED);
        // A small pooled buffer grows to the hint.
        assert!(pool.take(5000).capacity() >= 5000);
    }
}
