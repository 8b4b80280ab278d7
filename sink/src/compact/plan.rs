//! Deciding what to merge and what to delete, from the catalog alone.
//!
//! Pure functions over segment summaries, so the policy is tested without
//! files. The executor ([`super::merge`]) carries the plan out.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::segment::layout::SegmentKey;
use crate::segment::meta::SegmentMeta;

/// When segments are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct MergePolicy {
    /// Time windows, e.g. `[2h, 1d]`: segments whose samples start in the
    /// same window are merged once the window has closed. The largest
    /// window is tried first, so a closed day becomes one file at once.
    pub ranges_ms: Vec<i64>,
    /// How long after a window ends it is considered closed (late data and
    /// the sink's flush interval still land in it until then).
    pub settle_ms: i64,
    /// Largest merged segment, in rows: bounds the compactor's memory.
    pub max_rows: i64,
}

/// One merge: `inputs` (consecutive in offset order, one partition) become
/// one segment covering `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The segments to merge, in offset order.
    pub inputs: Vec<Arc<SegmentMeta>>,
    /// The merged segment's partition and offsets.
    pub key: SegmentKey,
}

/// The merges due at `now_ms` among the visible segments of one table.
pub fn plan_merges(visible: &[Arc<SegmentMeta>], policy: &MergePolicy, now_ms: i64) -> Vec<Merge> {
    let mut by_partition: BTreeMap<i32, Vec<Arc<SegmentMeta>>> = BTreeMap::new();
    for s in visible {
        by_partition.entry(s.partition).or_default().push(s.clone());
    }
    let mut ranges = policy.ranges_ms.clone();
    ranges.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::new();
    for (_, mut segs) in by_partition {
        segs.sort_by_key(|s| s.first_offset);
        let mut claimed = vec![false; segs.len()];
        for &range in ranges.iter().filter(|r| **r > 0) {
            let window = |s: &SegmentMeta| s.min_time_ms.div_euclid(range);
            let closed = |w: i64| (w + 1).saturating_mul(range).saturating_add(policy.settle_ms) <= now_ms;
            let mut i = 0;
            while i < segs.len() {
                if claimed[i] || !closed(window(&segs[i])) {
                    i += 1;
                    continue;
                }
                let w = window(&segs[i]);
                let mut rows = segs[i].rows;
                let mut j = i + 1;
                while j < segs.len()
                    && !claimed[j]
                    && window(&segs[j]) == w
                    && rows + segs[j].rows <= policy.max_rows
                {
                    rows += segs[j].rows;
                    j += 1;
                }
                if j - i >= 2 {
                    let inputs: Vec<_> = segs[i..j].to_vec();
                    claimed[i..j].iter_mut().for_each(|c| *c = true);
                    out.push(Merge {
                        key: SegmentKey {
                            partition: inputs[0].partition,
                            first_offset: inputs[0].first_offset,
                            last_offset: inputs[inputs.len() - 1].last_offset,
                        },
                        inputs,
                    });
                }
                i = j;
            }
        }
    }
    out
}

/// Segments wholly older than `now_ms - retention_ms`. The newest segment
/// of each partition is kept whatever its age: its name records how far
/// the partition was consumed, which a restarted sink resumes from.
pub fn expired(visible: &[Arc<SegmentMeta>], retention_ms: i64, now_ms: i64) -> Vec<Arc<SegmentMeta>> {
    if retention_ms <= 0 {
        return Vec::new();
    }
    let mut newest: BTreeMap<i32, i64> = BTreeMap::new();
    for s in visible {
        let e = newest.entry(s.partition).or_insert(s.last_offset);
        *e = (*e).max(s.last_offset);
    }
    let cutoff = now_ms.saturating_sub(retention_ms);
    visible
        .iter()
        .filter(|s| s.max_time_ms < cutoff && newest.get(&s.partition) != Some(&s.last_offset))
        .cloned()
        .collect()
}

/// Superseded segments that may be deleted: the segment replacing them has
/// been published for `delay_ms`, longer than a query that listed the old
/// ones could still be reading them.
pub fn deletable_superseded(
    superseded: &[Arc<SegmentMeta>],
    visible: &[Arc<SegmentMeta>],
    delay_ms: i64,
    now_ms: i64,
) -> Vec<Arc<SegmentMeta>> {
    superseded
        .iter()
        .filter(|old| {
            visible
                .iter()
                .any(|new| old.key().is_superseded_by(&new.key()) && new.modified_ms + delay_ms <= now_ms)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn seg(partition: i32, first: i64, last: i64, min_t: i64, max_t: i64, rows: i64) -> Arc<SegmentMeta> {
        Arc::new(SegmentMeta {
            location: Default::default(),
            modified_ms: 0,
            partition,
            first_offset: first,
            last_offset: last,
            min_time_ms: min_t,
            max_time_ms: max_t,
            rows,
            bytes: 0,
            metrics: Default::default(),
        })
    }

    fn policy() -> MergePolicy {
        MergePolicy {
            ranges_ms: vec![2 * H, 24 * H],
            settle_ms: 10 * 60_000,
            max_rows: 1000,
        }
    }

    fn keys(m: &[Merge]) -> Vec<(i32, i64, i64)> {
        m.iter()
            .map(|m| (m.key.partition, m.key.first_offset, m.key.last_offset))
            .collect()
    }

    #[test]
    fn closed_windows_merge_open_ones_wait() {
        // Four segments in window [0, 2h), two in [2h, 4h), at 2h05m: the
        // first window is not settled yet.
        let segs: Vec<_> = (0..6)
            .map(|i| {
                let t = if i < 4 { i * 1000 } else { 2 * H + i };
                seg(0, i * 10, i * 10 + 9, t, t + 10, 10)
            })
            .collect();
        assert!(plan_merges(&segs, &policy(), 2 * H + 5 * 60_000).is_empty());
        // At 2h10m it is.
        assert_eq!(
            keys(&plan_merges(&segs, &policy(), 2 * H + 10 * 60_000)),
            vec![(0, 0, 39)]
        );
        // A day later, the whole day becomes one segment.
        assert_eq!(keys(&plan_merges(&segs, &policy(), 25 * H)), vec![(0, 0, 59)]);
    }

    #[test]
    fn partitions_are_separate_and_row_cap_splits_runs() {
        let mut segs: Vec<_> = (0..5).map(|i| seg(1, i * 10, i * 10 + 9, i, i, 400)).collect();
        segs.push(seg(2, 0, 9, 0, 0, 1));
        // 400 + 400 <= 1000 < 1200: runs of two; the fifth stays alone, and
        // partition 2's single segment has nothing to merge with.
        assert_eq!(
            keys(&plan_merges(&segs, &policy(), 48 * H)),
            vec![(1, 0, 19), (1, 20, 39)]
        );
    }

    #[test]
    fn retention_keeps_each_partitions_newest_segment() {
        let segs = vec![
            seg(0, 0, 9, 0, H, 1),
            seg(0, 10, 19, H, 2 * H, 1),
            seg(1, 0, 5, 0, H, 1),
        ];
        let gone = expired(&segs, 3 * H, 10 * H);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].last_offset, 9);
        assert!(expired(&segs, 0, 10 * H).is_empty());
    }

    #[test]
    fn superseded_inputs_wait_for_the_delay() {
        let old = vec![seg(0, 0, 9, 0, 1, 1)];
        let mut merged = seg(0, 0, 19, 0, 2, 2);
        Arc::get_mut(&mut merged).unwrap().modified_ms = 1000;
        let visible = vec![merged];
        assert!(deletable_superseded(&old, &visible, 500, 1400).is_empty());
        assert_eq!(deletable_superseded(&old, &visible, 500, 1500).len(), 1);
    }
}
