#!/usr/bin/env python3
"""Segment layout experiments: bytes/sample and query latency per layout.

    python3 tests/bench/layouts.py SEGMENT_DIR [--out DIR] [--runs 5]

SEGMENT_DIR holds segments written by `sluice import` (any `*.parquet`
below it). Each input segment is rewritten once per layout (so the time
blocking of the input is kept), sizes are summed over all files, and two
queries are timed with DuckDB (median of --runs, after one warm-up):

  Q1  one metric + one label value over 1 h:
      container_network_receive_bytes_total, namespace = 'payments',
      the second hour of the data, returning (series, time, value)
  Q2  aggregation over all series of one metric:
      sum(value) by minute of node_network_receive_bytes_total

Layouts:
  A*  labels as dictionary columns, one row per sample, sorted by series
      then time (the current segment schema, docs/architecture.md)
  B*  a series table (one row per series: id + labels) plus a sample table
      (series id, timestamp, value); bytes = both files
Printed as a Markdown table; --json FILE also writes the raw figures.
pyarrow + duckdb (+ numpy).
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TS = "__timestamp__"
VAL = "__value__"
SID = "__series_id__"
NAME = "__name__"


def writer_kwargs(zstd=3, rg=256 * 1024, value="dict", ts="delta", sid="dict", stats=True, page_index=None,
                  dict_labels=True, columns=()):
    """pyarrow.parquet.write_table arguments for one variant."""
    if page_index is None:
        page_index = stats
    dict_cols = []
    enc = {}
    for c in columns:
        if c in (TS, "__dt__"):
            if ts == "delta":
                enc[c] = "DELTA_BINARY_PACKED"
            elif ts == "dict":
                dict_cols.append(c)
            else:
                enc[c] = "PLAIN"
        elif c == VAL:
            if value == "dict":
                dict_cols.append(c)
            elif value == "bss":
                enc[c] = "BYTE_STREAM_SPLIT"
            else:
                enc[c] = "PLAIN"
        elif c in (SID, "sid"):
            if sid == "dict":
                dict_cols.append(c)
            elif sid == "delta":
                enc[c] = "DELTA_BINARY_PACKED"
            else:
                enc[c] = "PLAIN"
        else:  # label columns
            if dict_labels:
                dict_cols.append(c)
    return dict(
        compression="zstd",
        compression_level=zstd,
        row_group_size=rg,
        use_dictionary=dict_cols,
        column_encoding=enc or None,
        write_statistics=stats,
        write_page_index=page_index,
        data_page_size=1 << 20,
    )


def split_series(t):
    """(series table with dense `sid`, sample table sid/ts/value) for a table sorted by series."""
    ids = t.column(SID).to_numpy()
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    lengths = np.diff(np.append(starts, len(ids)))
    label_cols = [c for c in t.column_names if c not in (TS, VAL)]
    series = t.select(label_cols).take(pa.array(starts))
    series = series.append_column("sid", pa.array(np.arange(len(starts), dtype=np.int32)))
    sid = pa.array(np.repeat(np.arange(len(starts), dtype=np.int32), lengths))
    samples = pa.table({"sid": sid, TS: t.column(TS), VAL: t.column(VAL)})
    return series, samples


def delta_from_start(samples):
    """Timestamps as ms since the series' first sample (int32) + a per-series start."""
    sid = samples.column("sid").to_numpy()
    ts = samples.column(TS).cast(pa.int64()).to_numpy()
    starts = np.flatnonzero(np.concatenate(([True], sid[1:] != sid[:-1])))
    first = ts[starts]
    lengths = np.diff(np.append(starts, len(ts)))
    rel = ts - np.repeat(first, lengths)
    return pa.table({"sid": samples.column("sid"), "__dt__": pa.array(rel.astype(np.int32)), VAL: samples.column(VAL)}), first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("segments")
    ap.add_argument("--out", default="/tmp/sluice-layouts")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--only", help="comma-separated layout names")
    ap.add_argument("--span-minutes", type=float, help="re-cut the input into files of this time span (what a sink flushing that often writes)")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.segments, "**", "*.parquet"), recursive=True))
    blocks = [pq.read_table(f) for f in files]
    if a.span_minutes:
        span = int(a.span_minutes * 60000)
        cut = []
        for b in blocks:
            k = pc.divide(b.column(TS).cast(pa.int64()), span)
            for v in pc.unique(k).to_pylist():
                cut.append(b.filter(pc.equal(k, v)))
        blocks = cut
    n = sum(b.num_rows for b in blocks)
    orig = sum(os.path.getsize(f) for f in files)
    tmin = min(pc.min(b.column(TS)).value for b in blocks)
    t1 = tmin + 3600 * 1000
    t2 = tmin + 2 * 3600 * 1000

    layouts = {}

    def A(name, desc, drop_sid=False, **kw):
        layouts[name] = ("A", desc, kw, drop_sid)

    def B(name, desc, **kw):
        layouts[name] = ("B", desc, kw, False)

    A("A0", "current: labels dict, ZSTD(3), ts DELTA, value dict→PLAIN fallback, 256Ki rows, stats+page index")
    A("A-zstd1", "A0 with ZSTD(1)", zstd=1)
    A("A-zstd9", "A0 with ZSTD(9)", zstd=9)
    A("A-vplain", "A0, value PLAIN (no dictionary)", value="plain")
    A("A-vbss", "A0, value BYTE_STREAM_SPLIT", value="bss")
    A("A-vbss-z9", "A0, value BYTE_STREAM_SPLIT, ZSTD(9)", value="bss", zstd=9)
    A("A-rg64k", "A0 with 64Ki-row row groups", rg=64 * 1024)
    A("A-rg1m", "A0 with 1Mi-row row groups", rg=1024 * 1024)
    A("A-nostats", "A0 without statistics / page index", stats=False)
    A("A-nosid", "A0 without the __series_id__ column", drop_sid=True)
    A("A-vbss-z1", "A0, value BYTE_STREAM_SPLIT, ZSTD(1)", value="bss", zstd=1)
    A("A-vbss-rg1m", "A0, value BYTE_STREAM_SPLIT, 1Mi-row row groups", value="bss", rg=1024 * 1024)
    A("A-vbss-nostats", "A0, value BYTE_STREAM_SPLIT, no statistics / page index", value="bss", stats=False)
    A("A-best", "labels dict, ts DELTA, value BSS, sid dict, ZSTD(9), 1Mi rows", value="bss", zstd=9, rg=1024 * 1024)
    B("B0", "series table + (sid int32 dense, ts DELTA, value dict) ZSTD(3), 256Ki rows")
    B("B-vbss", "B0, value BYTE_STREAM_SPLIT", value="bss")
    B("B-vbss-z9", "B0, value BYTE_STREAM_SPLIT, ZSTD(9)", value="bss", zstd=9)
    B("B-sid-delta", "B0, sid DELTA_BINARY_PACKED, value BSS", sid="delta", value="bss")
    B("B-dt", "B-vbss with ts as int32 ms since series start, DELTA (start in series table)", value="bss", dt=True)
    B("B-hash", "B-vbss keyed by the uint64 xxh3 id (dict) instead of a dense id", value="bss", hashkey=True)

    only = set(a.only.split(",")) if a.only else None
    results = []
    con = duckdb.connect()
    con.execute("set threads = 2")
    for name, (kind, desc, kw, drop_sid) in layouts.items():
        if only and name not in only:
            continue
        d = os.path.join(a.out, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        kw = dict(kw)
        dt = kw.pop("dt", False)
        hashkey = kw.pop("hashkey", False)
        t0 = time.perf_counter()
        size = 0
        for i, b in enumerate(blocks):
            if kind == "A":
                t = b.drop_columns([SID]) if drop_sid else b
                p = os.path.join(d, "samples-%04d.parquet" % i)
                pq.write_table(t, p, **writer_kwargs(columns=t.column_names, **kw))
                size += os.path.getsize(p)
            else:
                series, samples = split_series(b)
                if hashkey:
                    samples = pa.table({SID: b.column(SID), TS: b.column(TS), VAL: b.column(VAL)})
                    series = series.drop_columns(["sid"])
                    key = SID
                else:
                    series = series.drop_columns([SID])
                    key = "sid"
                if dt:
                    samples, first = delta_from_start(samples)
                    series = series.append_column("__start__", pa.array(first, pa.int64()))
                ps = os.path.join(d, "series-%04d.parquet" % i)
                pd_ = os.path.join(d, "samples-%04d.parquet" % i)
                pq.write_table(series, ps, **writer_kwargs(columns=series.column_names, **{k: v for k, v in kw.items() if k in ("zstd",)}))
                pq.write_table(samples, pd_, **writer_kwargs(columns=samples.column_names, **kw))
                size += os.path.getsize(ps) + os.path.getsize(pd_)
        write_s = time.perf_counter() - t0
        cols = {}
        for f in glob.glob(os.path.join(d, "*.parquet")):
            md = pq.ParquetFile(f).metadata
            kindf = os.path.basename(f).split("-")[0]
            for rg in range(md.num_row_groups):
                for c in range(md.num_columns):
                    cc = md.row_group(rg).column(c)
                    col = cc.path_in_schema if kindf == "samples" or cc.path_in_schema in (SID, "sid") else "(series table)"
                    if kindf == "series" and cc.path_in_schema in (SID, "sid"):
                        col = "(series table)"
                    cols[col] = cols.get(col, 0) + cc.total_compressed_size
        label_bytes = sum(v for k, v in cols.items() if k not in (TS, VAL, SID, "sid", "__dt__"))
        colsum = {k: round(cols[k] / n, 3) for k in (TS, VAL, SID, "sid", "__dt__") if k in cols}
        colsum["labels"] = round(label_bytes / n, 3)
        colsum["footers+other"] = round((size - sum(cols.values())) / n, 3)

        glob_s = os.path.join(d, "samples-*.parquet")
        glob_r = os.path.join(d, "series-*.parquet")
        ts_lit = lambda ms: "make_timestamp(%d)" % (ms * 1000)  # noqa: E731
        if kind == "A":
            q1 = (f"select pod, __timestamp__, __value__ from read_parquet('{glob_s}', union_by_name=true) "
                  f"where __name__ = 'container_network_receive_bytes_total' and namespace = 'payments' "
                  f"and __timestamp__ >= {ts_lit(t1)} and __timestamp__ < {ts_lit(t2)}")
            q2 = (f"select date_trunc('minute', __timestamp__) m, sum(__value__) from read_parquet('{glob_s}', union_by_name=true) "
                  f"where __name__ = 'node_network_receive_bytes_total' group by 1")
        else:
            # series and samples files pair up by block number; the id is per block (dense) or global (hash)
            key = SID if hashkey else "sid"
            blk = "" if hashkey else " and s.blk = r.blk"
            if hashkey:  # one id per label set across blocks: the series tables repeat it
                ser = f"(select distinct * from read_parquet('{glob_r}', union_by_name=true))"
            else:
                ser = f"(select *, regexp_extract(filename, '(\\d+)\\.parquet$', 1) blk from read_parquet('{glob_r}', union_by_name=true, filename=true))"
            smp = f"(select *, regexp_extract(filename, '(\\d+)\\.parquet$', 1) blk from read_parquet('{glob_s}', filename=true))"
            if dt:
                tcol = "make_timestamp((r.__start__ + s.__dt__) * 1000)"
                tfilter = f"r.__start__ + s.__dt__ >= {t1} and r.__start__ + s.__dt__ < {t2}"
            else:
                tcol = "s.__timestamp__"
                tfilter = f"s.__timestamp__ >= {ts_lit(t1)} and s.__timestamp__ < {ts_lit(t2)}"
            q1 = (f"select r.{key}, {tcol}, s.__value__ from {smp} s join {ser} r on s.{key} = r.{key}{blk} "
                  f"where r.__name__ = 'container_network_receive_bytes_total' and r.namespace = 'payments' and {tfilter}")
            q2 = (f"select date_trunc('minute', {tcol}) m, sum(s.__value__) from {smp} s join {ser} r on s.{key} = r.{key}{blk} "
                  f"where r.__name__ = 'node_network_receive_bytes_total' group by 1")
        lat = {}
        rows = {}
        for qn, q in (("q1", q1), ("q2", q2)):
            rows[qn] = len(con.execute(q).fetchall())  # warm-up
            ts_ = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                con.execute(q).fetchall()
                ts_.append(time.perf_counter() - t0)
            lat[qn] = statistics.median(ts_) * 1000
        r = dict(layout=name, desc=desc, bytes=size, samples=n, bps=size / n, write_s=write_s,
                 q1_ms=lat["q1"], q2_ms=lat["q2"], q1_rows=rows["q1"], q2_rows=rows["q2"], columns=colsum)
        results.append(r)
        print("%-12s %8.3f B/sample  q1 %7.1f ms (%d rows)  q2 %7.1f ms (%d rows)  write %.1fs" % (
            name, r["bps"], r["q1_ms"], r["q1_rows"], r["q2_ms"], r["q2_rows"], write_s), colsum, flush=True)

    print()
    print("input: %d files, %d samples, %d bytes (%.3f B/sample as written by sluice)" % (len(files), n, orig, orig / n))
    print()
    print("| layout | settings | bytes/sample | Q1 ms | Q2 ms |")
    print("|---|---|---|---|---|")
    for r in results:
        print("| %s | %s | %.3f | %.1f | %.1f |" % (r["layout"], r["desc"], r["bps"], r["q1_ms"], r["q2_ms"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(input=a.segments, files=len(files), samples=n, input_bytes=orig, results=results), f, indent=1)


if __name__ == "__main__":
    main()
