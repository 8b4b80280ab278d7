//! The producer's memory budget: bytes handed to librdkafka and not yet
//! reported back (delivered or failed).
//!
//! A write reserves the size of all its records at once or not at all, so a
//! write is never half-queued: when the budget is full, nothing of it
//! reaches Kafka and the caller can safely retry (or count it as dropped).
//! Each record's share is released by librdkafka's delivery report, not by
//! whoever waits for it, so a request that gave up waiting still counts
//! until its records really left memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shared counter of bytes in flight against a limit.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// Bytes asked for.
    pub wanted: usize,
    /// Bytes in flight at the time.
    pub in_flight: usize,
    /// The limit.
    pub limit: usize,
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "producer buffer full: {} bytes waiting for Kafka, {} more asked, budget {} (kafka.producer_buffer_bytes)",
            self.in_flight, self.wanted, self.limit
        )
    }
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            limit,
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    /// Reserves `sizes.iter().sum()` bytes, one [`Reservation`] per size, or
    /// nothing. A write larger than the whole budget is let through alone
    /// when nothing else is in flight, so an oversized write is slow rather
    /// than refused forever.
    pub fn try_reserve(self: &Arc<Self>, sizes: &[usize]) -> Result<Vec<Reservation>, Full> {
        let wanted: usize = sizes.iter().sum();
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            let fits = current + wanted <= self.limit || current == 0;
            if !fits {
                return Err(Full {
                    wanted,
                    in_flight: current,
                    limit: self.limit,
                });
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + wanted,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.peak.fetch_max(current + wanted, Ordering::Relaxed);
        Ok(sizes
            .iter()
            .map(|&bytes| Reservation {
                budget: self.clone(),
                bytes,
            })
            .collect())
    }

    /// Bytes reserved and not yet released.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The most ever in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Bytes of one record; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing_and_released_on_drop() {
        let b = Budget::new(100);
        let first = b.try_reserve(&[30, 30]).unwrap();
        assert_eq!(b.in_flight(), 60);
        // 60 + 50 > 100: refused whole, nothing reserved.
        let full = b.try_reserve(&[20, 30]).unwrap_err();
        assert_eq!(
            full,
            Full {
                wanted: 50,
                in_flight: 60,
                limit: 100
            }
        );
        assert_eq!(b.in_flight(), 60);
        let mut first = first.into_iter();
        drop(first.next());
        assert_eq!(b.in_flight(), 30);
        let second = b.try_reserve(&[20, 30]).unwrap();
        assert_eq!((b.in_flight(), b.peak()), (80, 80));
        drop(second);
        drop(first);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.peak(), 80);
    }

    #[test]
    fn an_oversized_write_goes_alone() {
        let b = Budget::new(100);
        let small = b.try_reserve(&[1]).unwrap();
        assert!(b.try_reserve(&[150]).is_err());
        drop(small);
        let big = b.try_reserve(&[150]).unwrap();
        assert_eq!(b.in_flight(), 150);
        assert!(b.try_reserve(&[1]).is_err());
        drop(big);
        assert_eq!(b.in_flight(), 0);
    }
}
