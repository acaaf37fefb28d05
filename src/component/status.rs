//! The collector's health as `health_check` reports it: starting, ready (all components
//! started) or stopping, plus the time it became ready.

use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Ready,
    Stopping,
}

#[derive(Debug)]
pub struct StatusRegistry {
    inner: Mutex<(Health, Option<SystemTime>)>,
}

impl Default for StatusRegistry {
    fn default() -> Self {
        Self {
            inner: Mutex::new((Health::Starting, None)),
        }
    }
}

impl StatusRegistry {
    pub fn set(&self, h: Health) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if h == Health::Ready && g.1.is_none() {
            g.1 = Some(SystemTime::now());
        }
        g.0 = h;
    }

    pub fn health(&self) -> Health {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// When the collector first became ready.
    pub fn up_since(&self) -> Option<SystemTime> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}
