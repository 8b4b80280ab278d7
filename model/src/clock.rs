//! The injected time source. Window and alert logic asks a [`TimeProvider`]
//! for "now" so tests can run on virtual time instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Something that knows the current time in milliseconds since the epoch.
pub trait TimeProvider: Send + Sync + std::fmt::Debug {
    /// Current time, milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl TimeProvider for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Default, Clone)]
pub struct MockClock(Arc<AtomicI64>);

impl MockClock {
    /// A clock standing at `ms`.
    pub fn at(ms: i64) -> Self {
        MockClock(Arc::new(AtomicI64::new(ms)))
    }
    /// Moves the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl TimeProvider for MockClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
