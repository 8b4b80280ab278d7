//! Segment names, and which segments are visible.
//!
//! A segment's key is `<table>/p<partition>/<first>-<last>.parquet` (or
//! `<table>/import/...` for backfill), `first`/`last` being the inclusive
//! Kafka offsets it covers. The listing is the manifest: a segment is
//! published the moment its key exists.
//!
//! Compaction replaces several segments of a partition by one covering their
//! union of offsets. The merged segment is published first; from then on
//! every segment whose offset range lies inside another's is *superseded*:
//! readers ignore it and the compactor deletes it later. So readers see
//! either the inputs or the output, never both and never neither, even if
//! compaction dies between the two steps.

/// The pseudo-partition of segments written by `sluice import` (backfill),
/// which do not come from Kafka; their "offsets" are an import sequence.
pub const IMPORT_PARTITION: i32 = -1;

/// What a segment's key says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentKey {
    /// Kafka partition ([`IMPORT_PARTITION`] for backfill).
    pub partition: i32,
    /// First offset covered (inclusive).
    pub first_offset: i64,
    /// Last offset covered (inclusive).
    pub last_offset: i64,
}

impl SegmentKey {
    /// The key of a segment of the single record at `offset` of
    /// `partition` (what tests and the query role's rehearsal write).
    pub const fn single(partition: i32, offset: i64) -> Self {
        SegmentKey {
            partition,
            first_offset: offset,
            last_offset: offset,
        }
    }

    /// `p<partition>/<first>-<last>.parquet`, relative to the table.
    pub fn relative_path(&self) -> String {
        format!(
            "{}/{}",
            partition_dir_name(self.partition),
            segment_file_name(self.first_offset, self.last_offset)
        )
    }

    /// True if `other` covers every offset of `self` and more.
    pub fn is_superseded_by(&self, other: &SegmentKey) -> bool {
        self.partition == other.partition
            && self != other
            && other.first_offset <= self.first_offset
            && self.last_offset <= other.last_offset
    }
}

/// `p00003`, or `import` for backfill.
pub fn partition_dir_name(partition: i32) -> String {
    if partition == IMPORT_PARTITION {
        "import".to_string()
    } else {
        format!("p{partition:05}")
    }
}

/// `<first>-<last>.parquet`, zero-padded so names sort by offset.
pub fn segment_file_name(first_offset: i64, last_offset: i64) -> String {
    format!("{first_offset:020}-{last_offset:020}.parquet")
}

/// The key of a segment from its directory and file names, or `None` for
/// anything else (temp files, foreign files).
pub fn parse_segment_key(dir: &str, name: &str) -> Option<SegmentKey> {
    let partition = match dir {
        "import" => IMPORT_PARTITION,
        d => d.strip_prefix('p')?.parse().ok()?,
    };
    let stem = name.strip_suffix(".parquet")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 20 || b.len() != 20 {
        return None;
    }
    let (first_offset, last_offset) = (a.parse().ok()?, b.parse().ok()?);
    (first_offset <= last_offset).then_some(SegmentKey {
        partition,
        first_offset,
        last_offset,
    })
}

/// Splits keys into (visible, superseded). `keys` may be in any order.
pub fn split_superseded<T>(items: Vec<T>, key: impl Fn(&T) -> SegmentKey) -> (Vec<T>, Vec<T>) {
    // Per partition, sorted by first offset ascending and last offset
    // descending, a segment is superseded iff an earlier one in that order
    // reaches at least as far.
    let mut order: Vec<(SegmentKey, usize)> = items.iter().enumerate().map(|(i, t)| (key(t), i)).collect();
    order.sort_by(|(a, _), (b, _)| {
        (a.partition, a.first_offset, std::cmp::Reverse(a.last_offset)).cmp(&(
            b.partition,
            b.first_offset,
            std::cmp::Reverse(b.last_offset),
        ))
    });
    let mut superseded = vec![false; items.len()];
    let mut reach: Option<(i32, i64)> = None;
    for (k, i) in order {
        match reach {
            Some((p, last)) if p == k.partition && k.last_offset <= last => superseded[i] = true,
            _ => reach = Some((k.partition, k.last_offset)),
        }
    }
    let (mut vis, mut sup) = (Vec::new(), Vec::new());
    for (t, s) in items.into_iter().zip(superseded) {
        if s { sup.push(t) } else { vis.push(t) }
    }
    (vis, sup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(partition: i32, first_offset: i64, last_offset: i64) -> SegmentKey {
        SegmentKey {
            partition,
            first_offset,
            last_offset,
        }
    }

    #[test]
    fn names_round_trip_and_sort_by_offset() {
        let a = segment_file_name(9, 10);
        let b = segment_file_name(11, 200);
        assert!(a < b);
        assert_eq!(parse_segment_key("p00007", &b), Some(k(7, 11, 200)));
        assert_eq!(parse_segment_key("import", &a), Some(k(IMPORT_PARTITION, 9, 10)));
        assert_eq!(parse_segment_key("p00007", ".x.parquet.tmp"), None);
        assert_eq!(parse_segment_key("other", &a), None);
        assert_eq!(
            k(3, 1, 2).relative_path(),
            format!("p00003/{}", segment_file_name(1, 2))
        );
    }

    #[test]
    fn merged_segment_hides_its_inputs_only() {
        let keys = vec![
            k(0, 0, 9),
            k(0, 10, 19),
            k(0, 0, 19),
            k(0, 20, 29),
            k(1, 0, 9),
            k(1, 5, 30),
        ];
        let (vis, sup) = split_superseded(keys, |x| *x);
        assert_eq!(vis, vec![k(0, 0, 19), k(0, 20, 29), k(1, 0, 9), k(1, 5, 30)]);
        assert_eq!(sup, vec![k(0, 0, 9), k(0, 10, 19)]);
    }
}
