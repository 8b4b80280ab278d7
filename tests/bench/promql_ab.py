#!/usr/bin/env python3
"""Two Sluice builds side by side on the same segments: before/after a change.

    tests/bench/promql_ab.py OLD_BINARY NEW_BINARY SEGMENT_DIR END [REPS]

Starts `sluice query` from both binaries on the segments of
tests/bench/promql_latency.sh ($OUT/data/<size>/sluice; END is that run's
last sample, Unix s), runs a few of its queries at 1 h/15 s and 7 d/5 m on
both, interleaved (the binary that goes first alternates), and prints the
median per binary, their ratio, and whether the two answers are
byte-identical. Standard library only; ports 19291/19292.
"""

import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the tree
from promql_latency import QUERIES, ranges  # noqa: E402

WANT = ("sum-rate", "error-ratio", "node-rate")


def main():
    old, new, segments, end = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 9
    procs, ports = [], [19291, 19292]
    with tempfile.TemporaryDirectory() as tmp:
        for binary, port in zip((old, new), ports):
            cfg = "%s/%d.yml" % (tmp, port)
            with open(cfg, "w") as f:
                f.write('kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\nquery:\n  listen: "127.0.0.1:%d"\n' % (segments, port))
            procs.append(subprocess.Popen([binary, "query", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            for port in ports:
                for _ in range(100):
                    try:
                        urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=1).read()
                        break
                    except OSError:
                        time.sleep(0.1)

            def run(port, expr, s, e, step):
                qs = urllib.parse.urlencode({"query": expr, "start": s, "end": e, "step": step})
                t0 = time.perf_counter()
                body = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query_range?%s" % (port, qs)).read()
                return time.perf_counter() - t0, body

            for qid, expr in QUERIES:
                if qid not in WANT:
                    continue
                for rid, s, e, step in ranges(end):
                    bodies = [run(p, expr, s, e, step)[1] for p in ports]
                    t = [[], []]
                    for r in range(reps):
                        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                            t[i].append(run(ports[i], expr, s, e, step)[0])
                    m = [statistics.median(x) * 1e3 for x in t]
                    print("| %s:%s | %.1f | %.1f | %.2f | %s |" % (
                        qid, rid, m[0], m[1], m[1] / m[0], "identical" if bodies[0] == bodies[1] else "DIFFERENT"), flush=True)
        finally:
            for p in procs:
                p.terminate()
                p.wait()


if __name__ == "__main__":
    main()
