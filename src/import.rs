//! `sluice import FILE`: backfill from OpenMetrics text (the input of
//! `promtool tsdb create-blocks-from openmetrics`) into segments, through
//! the same segment writer the sink uses.
//!
//! The file is parsed in chunks cut at metric-family boundaries, so memory
//! holds the decoded samples, not the text. Samples are grouped into
//! segments by time block (default 2 h, like Prometheus' blocks), so the
//! query layer can prune imported history by time like everything else.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, bail};
use sluice_ingest::exposition::{Format, parse};
use sluice_model::{Sample, TimeSeries};
use sluice_sink::segment::SAMPLES_TABLE;
use sluice_sink::segment::layout::{IMPORT_PARTITION, SegmentKey};
use sluice_sink::segment::writer::{SegmentSpec, write_segment};
use sluice_sink::store::SegmentStore;

/// Text per parse call; cut only where a new metric family starts.
const CHUNK_BYTES: usize = 64 << 20;

/// What an import did.
#[derive(Debug, Default)]
pub(crate) struct ImportSummary {
    /// Samples written.
    pub samples: u64,
    /// Distinct series.
    pub series: usize,
    /// Segments written.
    pub segments: usize,
    /// Bytes of the segments.
    pub bytes: u64,
}

/// Splits OpenMetrics text into parseable chunks, each ending in `# EOF`.
fn chunks(text: &str) -> Vec<String> {
    let body = text.trim_end();
    let body = body.strip_suffix("# EOF").unwrap_or(body);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut last_was_sample = false;
    for line in body.lines() {
        let is_meta = line.starts_with("# ");
        if is_meta && last_was_sample && cur.len() >= CHUNK_BYTES {
            cur.push_str("# EOF\n");
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(line);
        cur.push('\n');
        last_was_sample = !is_meta;
    }
    cur.push_str("# EOF\n");
    out.push(cur);
    out
}

/// Imports `file` into the segments in `store`.
/// The sequence number the next import segment of `table` takes: import
/// segments share one pseudo-partition and number themselves after the
/// newest one already there.
pub(crate) async fn next_import_seq(store: &SegmentStore, table: &str) -> anyhow::Result<i64> {
    Ok(store
        .list(table)
        .await?
        .iter()
        .filter(|s| s.key.partition == IMPORT_PARTITION)
        .map(|s| s.key.last_offset + 1)
        .max()
        .unwrap_or(0))
}

pub(crate) async fn import(
    file: &Path,
    store: &SegmentStore,
    block_ms: i64,
) -> anyhow::Result<ImportSummary> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // Series by (block, fingerprint).
    let mut blocks: BTreeMap<i64, HashMap<u64, TimeSeries>> = BTreeMap::new();
    let mut summary = ImportSummary::default();
    let mut all_series = std::collections::HashSet::new();
    for (i, chunk) in chunks(&text).iter().enumerate() {
        let expo = parse(chunk.as_bytes(), Format::OpenMetrics)
            .map_err(|e| anyhow::anyhow!("{} (chunk {i}): {e}", file.display()))?;
        for s in expo.samples {
            let Some(ts) = s.timestamp_ms else {
                bail!(
                    "{}: sample {} has no timestamp; backfill needs timestamps",
                    file.display(),
                    s.labels
                );
            };
            let block = ts.div_euclid(block_ms);
            let h = s.labels.hash();
            all_series.insert(h);
            blocks
                .entry(block)
                .or_default()
                .entry(h)
                .or_insert_with(|| TimeSeries {
                    labels: s.labels.clone(),
                    samples: Vec::new(),
                })
                .samples
                .push(Sample::new(ts, s.value));
        }
    }
    let mut seq = next_import_seq(store, SAMPLES_TABLE).await?;
    for (_, series) in blocks {
        let mut series: Vec<TimeSeries> = series
            .into_values()
            .map(|mut s| {
                s.samples.sort_by_key(|x| x.timestamp_ms);
                s.samples.dedup_by_key(|x| x.timestamp_ms);
                s
            })
            .collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let spec = SegmentSpec {
            table: SAMPLES_TABLE,
            key: SegmentKey {
                partition: IMPORT_PARTITION,
                first_offset: seq,
                last_offset: seq,
            },
        };
        if let Some(meta) = write_segment(store, &spec, series).await? {
            summary.samples += meta.rows as u64;
            summary.bytes += meta.bytes;
            summary.segments += 1;
            seq += 1;
        }
    }
    summary.series = all_series.len();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cut_only_at_family_starts_and_end_with_eof() {
        let text = "# TYPE a counter\na_total 1 1\n# TYPE b gauge\nb 2 1\n# EOF\n";
        let c = chunks(text);
        assert_eq!(c.len(), 1);
        assert!(c[0].ends_with("b 2 1\n# EOF\n"));
    }

    #[tokio::test]
    async fn imports_into_time_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("in.om");
        std::fs::write(
            &f,
            "# TYPE x gauge\nx{a=\"1\"} 1 0\nx{a=\"1\"} 2 3600\nx{a=\"1\"} 3 7200\nx{a=\"2\"} 4 7300\n# EOF\n",
        )
        .unwrap();
        let store = SegmentStore::local(&dir.path().join("segments")).unwrap();
        let s = import(&f, &store, 2 * 3600 * 1000).await.unwrap();
        assert_eq!((s.samples, s.series, s.segments), (4, 2, 2));
        // A second import appends with new sequence numbers.
        let s2 = import(&f, &store, 2 * 3600 * 1000).await.unwrap();
        assert_eq!(s2.segments, 2);
        let files = store.list(SAMPLES_TABLE).await.unwrap();
        let seqs: Vec<i64> = files.iter().map(|f| f.key.first_offset).collect();
        assert_eq!(seqs, vec![0, 1, 2, 3]);
    }
}
