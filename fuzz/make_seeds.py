#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (committed; rerun after
changing this script).

Exposition and PromQL seeds are copied from ../shared/testdata (Apache-2.0
upstream test data of the Prometheus and OpenMetrics projects, see
corpus/NOTICE); protobuf seeds for the bus and remote_write targets are
built here, byte by byte, so no protobuf or snappy library is needed.
Files named regress-* are inputs that once crashed a target, added by hand;
this script leaves them alone.
"""

import hashlib
import re
import struct
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
TESTDATA = FUZZ.parent.parent / "shared" / "testdata"
CORPUS = FUZZ / "corpus"
# promqltest files of experimental features the engine does not implement.
SKIP_PROMQL = {"duration_expression", "extended_vectors", "fill-modifier", "info", "limit",
               "native_histograms", "start_timestamps", "type_and_unit"}
MAX_QUERIES = 400


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(tag, payload):
    """A length-delimited protobuf field."""
    return varint(tag << 3 | 2) + varint(len(payload)) + payload


def series(labels, samples):
    pb = b"".join(field(1, field(1, n.encode()) + field(2, v.encode())) for n, v in labels)
    for ts, value in samples:
        sample = b"\x09" + struct.pack("<d", value) if isinstance(value, float) else b"\x09" + value
        sample += varint(2 << 3) + varint(ts & 0xFFFFFFFFFFFFFFFF)
        pb += field(2, sample)
    return field(1, pb)


def metadata(kind, name, help_text, unit):
    return field(3, varint(1 << 3) + varint(kind) + field(2, name.encode())
                 + field(4, help_text.encode()) + field(5, unit.encode()))


STALE = struct.pack("<Q", 0x7FF0000000000002)


def write_requests():
    up = [("__name__", "up"), ("instance", "a:9100"), ("job", "node")]
    return {
        "empty": b"",
        "one_series": series(up, [(1000, 1.0)]),
        "stale_marker": series(up, [(1000, 1.0), (2000, STALE)]),
        "two_series": series(up, [(1, 0.5)]) + series([("__name__", "x"), ("le", "+Inf")], [(5, 2.0)]),
        "negative_ts": series(up, [(-5, -0.0), (0, float("inf"))]),
        "empty_value_dropped": series([("__name__", "up"), ("empty", ""), ("job", "x")], [(7, 3.0)]),
        "no_samples": series(up, []),
        "unsorted": series([("job", "x"), ("__name__", "up")], [(1, 1.0)]),
        "duplicate": series([("__name__", "up"), ("job", "a"), ("job", "b")], [(1, 1.0)]),
        "no_name": series([("job", "x")], [(1, 1.0)]),
        "bad_label_name": series([("__name__", "up"), ("a-b", "1")], [(1, 1.0)]),
        "out_of_order": series(up, [(9, 1.0), (5, 2.0)]),
        "utf8_values": series([("__name__", "up"), ("city", "Zürich \"q\"\n")], [(1, 1.0)]),
        "with_metadata": series(up, [(1, 1.0)]) + metadata(1, "up", "Target up.", "seconds"),
    }


def snappy_literal(data):
    """Snappy's raw block format with the whole input as one literal."""
    n = len(data)
    if n == 0:
        return b"\x00"
    if n <= 60:
        return varint(n) + bytes([(n - 1) << 2]) + data
    size = (n - 1).to_bytes(4, "little").rstrip(b"\x00") or b"\x00"
    return varint(n) + bytes([(59 + len(size)) << 2]) + size + data


def promql_queries():
    queries = []
    for f in sorted((TESTDATA / "promqltest" / "v3.5").glob("*.test")):
        if f.stem in SKIP_PROMQL:
            continue
        for line in f.read_text().splitlines():
            m = re.match(r"eval(?:_ordered|_fail|_warn|_info)?\s+(?:instant at \S+|range from \S+ to \S+ step \S+)\s+(.*)", line)
            if m and m.group(1).strip() not in queries:
                queries.append(m.group(1).strip())
    # Every k-th query, so each file keeps some seeds.
    k = max(1, len(queries) // MAX_QUERIES)
    return queries[::k][:MAX_QUERIES]


def main():
    if not TESTDATA.is_dir():
        sys.exit(f"no test data at {TESTDATA}")
    for case in sorted((TESTDATA / "openmetrics" / "parsers").iterdir()):
        data = (case / "metrics").read_bytes()
        for target in ("exposition_text", "exposition_openmetrics"):
            write(target, f"om-{case.name}", data)
    for name in ("1histogram.om.txt", "alltypes.5mfs.om.txt"):
        data = (TESTDATA / "exposition" / name).read_bytes()
        write("exposition_openmetrics", name, data)
    # The start of a large text exposition, cut at a line end.
    big = (TESTDATA / "exposition" / "alltypes.237mfs.prom.txt").read_bytes()
    write("exposition_text", "alltypes-head.prom.txt", big[: big.rindex(b"\n", 0, 4096) + 1])
    for name, pb in write_requests().items():
        write("bus_decode", name, pb)
        write("remote_write_decode", f"raw-{name}", b"\x01" + pb)
        write("remote_write_decode", f"snappy-{name}", b"\x00" + snappy_literal(pb))
    for q in promql_queries():
        write("promql", hashlib.sha1(q.encode()).hexdigest(), q.encode())


if __name__ == "__main__":
    main()
