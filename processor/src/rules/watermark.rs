//! Event time for an operator that reads every partition.
//!
//! Each partition's clock is the newest sample timestamp read from it.
//! The watermark is the oldest clock among partitions that still have
//! records to deliver, minus the allowed lateness: a backlog replayed at
//! any speed, in any interleaving of partitions, moves it identically. A
//! partition that has been read to its end is idle and stops holding the
//! watermark back (else one partition without traffic would stop every
//! evaluation); its next record makes it count again. The watermark never
//! moves backwards.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Per-partition event time and the resulting watermark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Watermarks {
    /// Newest sample timestamp read from each partition.
    pub(crate) newest: BTreeMap<i32, i64>,
    /// The watermark reached so far.
    pub(crate) current: Option<i64>,
    /// The oldest sample time seen (where a fresh evaluator starts).
    #[serde(default)]
    pub(crate) earliest: Option<i64>,
    /// Partitions read to their end (not checkpointed: after a restart
    /// every partition counts until it is caught up again).
    #[serde(skip)]
    idle: BTreeMap<i32, bool>,
}

impl Watermarks {
    /// Tracks `partitions` (a partition with no data and not yet idle
    /// holds the watermark until it is).
    pub(crate) fn track(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.idle.insert(*p, false);
        }
    }

    /// A record from `partition` with samples from `oldest_ms` up to `newest_ms`.
    pub(crate) fn observe(&mut self, partition: i32, oldest_ms: Option<i64>, newest_ms: Option<i64>) {
        self.idle.insert(partition, false);
        if let Some(t) = oldest_ms {
            self.earliest = Some(self.earliest.map_or(t, |e| e.min(t)));
        }
        if let Some(t) = newest_ms {
            let e = self.newest.entry(partition).or_insert(t);
            *e = (*e).max(t);
        }
    }

    /// `partition` has been read to its end.
    pub(crate) fn caught_up(&mut self, partition: i32) {
        self.idle.insert(partition, true);
    }

    /// Recomputes the watermark; returns it.
    pub(crate) fn advance(&mut self, lateness_ms: i64) -> Option<i64> {
        let mut busy = self.idle.iter().filter(|(_, idle)| !**idle).map(|(p, _)| p);
        let candidate = if busy.clone().next().is_some() {
            // Every busy partition must have data, else nothing is known.
            busy.try_fold(i64::MAX, |min, p| self.newest.get(p).map(|t| min.min(*t)))
        } else {
            self.newest.values().max().copied()
        };
        if let Some(c) = candidate {
            let w = c - lateness_ms;
            self.current = Some(self.current.map_or(w, |cur| cur.max(w)));
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowest_busy_partition_decides_and_idle_ones_do_not_block() {
        let mut w = Watermarks::default();
        w.track(&[0, 1, 2]);
        w.observe(0, Some(100), Some(100));
        assert_eq!(w.advance(10), None, "partitions 1 and 2 have told nothing yet");
        w.observe(1, Some(50), Some(50));
        w.caught_up(2);
        assert_eq!(w.advance(10), Some(40));
        w.caught_up(1);
        assert_eq!(w.advance(10), Some(90), "only partition 0 is busy");
        w.observe(1, Some(60), Some(60));
        assert_eq!(w.advance(10), Some(90), "never backwards");
        w.caught_up(0);
        w.caught_up(1);
        w.observe(2, Some(500), Some(500));
        assert_eq!(w.earliest, Some(50));
        assert_eq!(w.advance(10), Some(490));
    }
}
