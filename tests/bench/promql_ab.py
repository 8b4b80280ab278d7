#!/usr/bin/env python3
"""Two Sluice builds side by side on the same segments: before/after a change.

    tests/bench/promql_ab.py OLD_BINARY NEW_BINARY SEGMENT_DIR END [REPS]

Starts `sluice query` from both binaries on the segments of
tests/bench/promql_latency.sh ($OUT/data/<size>/sluice; END is that run's
last sample, Unix s), runs a few of its queries at 1 h/15 s and 7 d/5 m on
both, interleaved (the binary that goes first alternates), and prints the
median per binary, their ratio, and whether the two answers are
byte-identical; then the same for the server's CPU time per query
(every thread's time on CPU across the request, from
/proc/<pid>/task/*/schedstat), which other load on the machine disturbs far less than
wall time. Standard library only; ports 19291/19292.
"""

import os
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

            def cpu_seconds(pid):
                # Nanoseconds on CPU of every thread (/proc/<pid>/task/*/schedstat,
                # first field): exact, unlike the 10 ms ticks of /proc/<pid>/stat.
                total = 0
                for tid in os.listdir("/proc/%d/task" % pid):
                    try:
                        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                            total += int(f.read().split()[0])
                    except OSError:
                        pass  # the thread ended meanwhile
                return total / 1e9

            def run(i, expr, s, e, step):
                qs = urllib.parse.urlencode({"query": expr, "start": s, "end": e, "step": step})
                c0, t0 = cpu_seconds(procs[i].pid), time.perf_counter()
                body = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query_range?%s" % (ports[i], qs)).read()
                return time.perf_counter() - t0, body, cpu_seconds(procs[i].pid) - c0

            print("| query | old ms | new ms | new/old | old CPU ms | new CPU ms | new/old | answers |")
            print("|---|---|---|---|---|---|---|---|")
            for qid, expr in QUERIES:
                if qid not in WANT:
                    continue
                for rid, s, e, step in ranges(end):
                    bodies = [run(i, expr, s, e, step)[1] for i in (0, 1)]
                    t, cpu = [[], []], [[], []]
                    for r in range(reps):
                        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                            wall, _, used = run(i, expr, s, e, step)
                            t[i].append(wall)
                            cpu[i].append(used)
                    m = [statistics.median(x) * 1e3 for x in t]
                    c = [statistics.median(x) * 1e3 for x in cpu]
                    print("| %s:%s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %s |" % (
                        qid, rid, m[0], m[1], m[1] / m[0], c[0], c[1], c[1] / max(c[0], 1e-9),
                        "identical" if bodies[0] == bodies[1] else "DIFFERENT"), flush=True)
            hwm = []
            for p in procs:
                with open("/proc/%d/status" % p.pid) as f:
                    hwm += [l.split()[1] for l in f if l.startswith("VmHWM:")]
            print("| peak RSS (VmHWM) KiB | %s | %s |" % tuple(hwm))
        finally:
            for p in procs:
                p.terminate()
                p.wait()


if __name__ == "__main__":
    main()
