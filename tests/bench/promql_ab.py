#!/usr/bin/env python3
"""Two Sluice builds side by side on the same segments: before/after a change.

    tests/bench/promql_ab.py [--cold] [--new-segments DIR] OLD_BINARY NEW_BINARY SEGMENT_DIR END [REPS]

Starts `sluice query` from both binaries on the segments of
tests/bench/promql_latency.sh ($OUT/data/<size>/sluice; END is that run's
last sample, Unix s), runs a few of its queries at 1 h/15 s and 7 d/5 m on
both, interleaved (the binary that goes first alternates), and prints the
median per binary, their ratio, and whether the two answers are
byte-identical; then the same for the server's CPU time per query
(every thread's time on CPU across the request, from
/proc/<pid>/task/*/schedstat), which other load on the machine disturbs far less than
wall time. With --cold every timed query is the first one of a new
server process whose segment files were evicted from the page cache.
With --new-segments the new binary reads DIR instead (the same data
imported by the new build: a change of the segment layout).
Standard library only; ports 19291/19292.
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
from promql_latency import QUERIES, evict, ranges  # noqa: E402

WANT = ("sum-rate", "error-ratio", "node-rate")


def cpu_seconds(pid):
    """Seconds on CPU of every thread of `pid` (/proc/<pid>/task/*/schedstat,
    first field, in nanoseconds): exact, unlike the 10 ms ticks of
    /proc/<pid>/stat."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # the thread ended meanwhile
    return total / 1e9


class Server:
    """`sluice query` of one binary on the segments, on its own port."""

    def __init__(self, binary, port, segments, tmp):
        self.binary, self.port, self.proc = binary, port, None
        self.cfg = "%s/%d.yml" % (tmp, port)
        with open(self.cfg, "w") as f:
            f.write('kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\nquery:\n  listen: "127.0.0.1:%d"\n' % (segments, port))

    def start(self):
        self.proc = subprocess.Popen([self.binary, "query", "--config", self.cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("%s did not get ready" % self.binary)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def peak_rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return next(l.split()[1] for l in f if l.startswith("VmHWM:"))

    def run(self, expr, s, e, step):
        """(wall s, body, CPU s) of one range query."""
        qs = urllib.parse.urlencode({"query": expr, "start": s, "end": e, "step": step})
        c0, t0 = cpu_seconds(self.proc.pid), time.perf_counter()
        body = urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query_range?%s" % (self.port, qs)).read()
        return time.perf_counter() - t0, body, cpu_seconds(self.proc.pid) - c0


def main():
    args = sys.argv[1:]
    cold = "--cold" in args
    new_segments = None
    if "--new-segments" in args:
        i = args.index("--new-segments")
        new_segments = args[i + 1]
        del args[i:i + 2]
    args = [a for a in args if a != "--cold"]
    old, new, segments, end = args[0], args[1], args[2], int(args[3])
    reps = int(args[4]) if len(args) > 4 else 9
    dirs = (segments, new_segments or segments)
    with tempfile.TemporaryDirectory() as tmp:
        servers = [Server(b, p, d, tmp) for b, p, d in ((old, 19291, dirs[0]), (new, 19292, dirs[1]))]
        try:
            for srv in servers:
                srv.start()
            print("| query | old ms | new ms | new/old | old CPU ms | new CPU ms | new/old | answers |")
            print("|---|---|---|---|---|---|---|---|")
            for qid, expr in QUERIES:
                if qid not in WANT:
                    continue
                for rid, s, e, step in ranges(end):
                    bodies = [srv.run(expr, s, e, step)[1] for srv in servers]
                    t, cpu = [[], []], [[], []]
                    for r in range(reps):
                        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                            if cold:
                                # A new process whose segment files are out
                                # of the page cache (as promql_latency.py's
                                # cold rounds); the query is its first.
                                servers[i].stop()
                                evict(dirs[i], False)
                                servers[i].start()
                            wall, _, used = servers[i].run(expr, s, e, step)
                            t[i].append(wall)
                            cpu[i].append(used)
                    m = [statistics.median(x) * 1e3 for x in t]
                    c = [statistics.median(x) * 1e3 for x in cpu]
                    print("| %s:%s%s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %s |" % (
                        qid, rid, " cold" if cold else "", m[0], m[1], m[1] / m[0], c[0], c[1],
                        c[1] / max(c[0], 1e-9), "identical" if bodies[0] == bodies[1] else "DIFFERENT"), flush=True)
            print("| peak RSS (VmHWM) KiB | %s | %s |" % tuple(srv.peak_rss_kib() for srv in servers))
        finally:
            for srv in servers:
                srv.stop()


if __name__ == "__main__":
    main()
