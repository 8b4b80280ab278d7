//! Segment paths and names.

use std::path::{Path, PathBuf};

/// The pseudo-partition of segments written by `sluice import` (backfill),
/// which do not come from Kafka; their "offsets" are an import sequence.
pub const IMPORT_PARTITION: i32 = -1;

/// `<root>/<table>/p<partition>`, or `<root>/<table>/import` for backfill.
pub fn partition_dir(root: &Path, table: &str, partition: i32) -> PathBuf {
    if partition == IMPORT_PARTITION {
        return root.join(table).join("import");
    }
    root.join(table).join(format!("p{partition:05}"))
}

/// `<first>-<last>.parquet`, zero-padded so names sort by offset.
pub fn segment_file_name(first_offset: i64, last_offset: i64) -> String {
    format!("{first_offset:020}-{last_offset:020}.parquet")
}

/// The offsets in a segment file name, or `None` for anything else
/// (temp files, foreign files).
pub fn parse_segment_file_name(name: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(".parquet")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 20 || b.len() != 20 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Every published segment of `table`, sorted by path.
pub fn list_segments(root: &Path, table: &str) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dir = root.join(table);
    let parts = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for p in parts {
        let p = p?;
        if !p.file_type()?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(p.path())? {
            let f = f?;
            if parse_segment_file_name(&f.file_name().to_string_lossy()).is_some() {
                out.push(f.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The highest offset already published for a partition: records up to it
/// are in a segment and must not be written again.
pub fn max_published_offset(root: &Path, table: &str, partition: i32) -> std::io::Result<Option<i64>> {
    let dir = partition_dir(root, table, partition);
    let entries = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut max = None;
    for f in entries {
        if let Some((_, last)) = parse_segment_file_name(&f?.file_name().to_string_lossy()) {
            max = Some(max.map_or(last, |m: i64| m.max(last)));
        }
    }
    Ok(max)
}

/// Removes temp files a crash left behind (they were never published).
pub fn remove_temp_files(root: &Path, table: &str, partition: i32) -> std::io::Result<usize> {
    let dir = partition_dir(root, table, partition);
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for f in entries {
            let f = f?;
            if f.file_name().to_string_lossy().ends_with(".tmp") {
                std::fs::remove_file(f.path())?;
                n += 1;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_offset() {
        let a = segment_file_name(9, 10);
        let b = segment_file_name(11, 200);
        assert!(a < b);
        assert_eq!(parse_segment_file_name(&b), Some((11, 200)));
        assert_eq!(parse_segment_file_name(".x.parquet.tmp"), None);
    }
}
