#!/usr/bin/env python3
"""PromQL range-query latency over the HTTP API: Sluice vs Prometheus, A/B.

Driven by tests/bench/promql_latency.sh, which prepares the two stores from
the same OpenMetrics file; this script only starts and stops the servers,
times /api/v1/query_range and compares the answers. Standard library only.

Phases (the servers never run a query at the same time; a query is timed
from sending the request to having read the whole response body):

* cold: for every case, each server is stopped, the page cache of its data
  directory is evicted (posix_fadvise DONTNEED on every file, or the whole
  page cache with --drop-caches), the server is started, and the case's
  query is the first one it answers. --cold-reps rounds; the server that
  goes first alternates per case and round.
* hot: both servers started once; each case is run once untimed (these
  answers are the ones compared), then --reps rounds of every case on both,
  interleaved, the server that goes first alternating.

Prints a Markdown table (median and min-max in ms, ratio of the medians,
Sluice / Prometheus) and writes every timing to --out/results.json.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# Dashboard queries over the generator's families (tests/bench/gen_k8s_network.py).
QUERIES = [
    ("sum-rate", 'sum by (namespace) (rate(container_network_receive_bytes_total[5m]))'),
    ("topk", 'topk(5, sum by (namespace, pod) (rate(container_network_transmit_bytes_total[5m])))'),
    ("hist-quantile", 'histogram_quantile(0.99, sum by (namespace, le) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("error-ratio",
     'sum by (namespace) (rate(http_request_duration_seconds_count{code=~"5.."}[5m]))'
     ' / sum by (namespace) (rate(http_request_duration_seconds_count[5m]))'),
    ("node-rate", 'rate(node_network_receive_bytes_total{device!="lo"}[5m])'),
]


def ranges(end):
    """(id, start, end, step) of the two dashboard ranges.

    They end 7 s before the last sample, so no window edge falls on a
    sample timestamp (samples are on the minute, steps 15 s apart): range
    windows are [t - r, t] in Prometheus 2.42 and (t - r, t] in Sluice
    (Prometheus 3 semantics), which only differ for a sample exactly at
    t - r.
    """
    end -= 7
    return [
        ("1h@15s", end - 3600, end, 15),
        ("7d@5m", end - 7 * 86400, end, 300),
    ]


class Server:
    def __init__(self, name, argv, port, data_dir, log):
        self.name, self.argv, self.port, self.data_dir, self.log = name, argv, port, data_dir, log
        self.proc = None
        self.peak_kb = 0

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=120):
        assert self.proc is None
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("%s exited with %s during start-up; see %s" % (self.name, self.proc.returncode, self.log))
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        raise SystemExit("%s not ready after %d s; see %s" % (self.name, timeout, self.log))

    def vm_hwm_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def note_peak(self):
        self.peak_kb = max(self.peak_kb, self.vm_hwm_kb())

    def stop(self):
        if self.proc is None:
            return
        self.note_peak()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def query_range(self, expr, start, end, step, timeout=300):
        qs = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        t0 = time.perf_counter()
        with urllib.request.urlopen(self.base + "/api/v1/query_range?" + qs, timeout=timeout) as r:
            body = r.read()
        return time.perf_counter() - t0, body


def evict(path, drop_caches):
    """Evicts `path`'s files from the page cache (or the whole cache)."""
    subprocess.run(["sync"], check=True)
    if drop_caches:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return
    for root, _, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def result_map(body):
    """{frozenset(labels): {t: value}} of a query_range answer."""
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise ValueError("query failed: %s" % body[:500])
    out = {}
    for s in doc["data"]["result"]:
        key = frozenset(s["metric"].items())
        out[key] = {float(t): float(v) for t, v in s["values"]}
    return out


def compare(a_body, b_body, rel=1e-6, abs_=1e-9):
    """How far two answers agree: series and point counts, mismatches."""
    a, b = result_map(a_body), result_map(b_body)
    common = set(a) & set(b)
    points = mismatched = 0
    worst = 0.0
    for k in common:
        pa, pb = a[k], b[k]
        for t in set(pa) | set(pb):
            points += 1
            va, vb = pa.get(t), pb.get(t)
            if va is None or vb is None:
                mismatched += 1
                worst = math.inf
                continue
            if math.isnan(va) and math.isnan(vb):
                continue
            d = abs(va - vb)
            if d > abs_ + rel * max(abs(va), abs(vb)):
                mismatched += 1
                worst = max(worst, d / max(abs(va), abs(vb), 1e-300))
    return {
        "series_sluice": len(a),
        "series_prometheus": len(b),
        "series_only_sluice": len(set(a) - common),
        "series_only_prometheus": len(set(b) - common),
        "points_sluice": sum(len(v) for v in a.values()),
        "points_prometheus": sum(len(v) for v in b.values()),
        "points_compared": points,
        "points_mismatched": mismatched,
        "max_rel_diff": worst,
    }


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt_ms(s):
    return "%.0f (%.0f–%.0f)" % (s["median"] * 1e3, s["min"] * 1e3, s["max"] * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", required=True, help="sluice binary")
    ap.add_argument("--sluice-config", required=True)
    ap.add_argument("--sluice-data", required=True, help="segment directory (evicted for cold runs)")
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--prom-data", required=True, help="TSDB directory with the backfilled blocks")
    ap.add_argument("--prom-port", type=int, default=19190)
    ap.add_argument("--sluice-port", type=int, default=19191)
    ap.add_argument("--end", type=int, required=True, help="last sample, Unix s (ranges end here)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--cold-reps", type=int, default=5)
    ap.add_argument("--drop-caches", action="store_true", help="drop the whole page cache for cold runs")
    ap.add_argument("--only", default="", help="comma-separated case ids (query:range) to run")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    prom_cfg = os.path.join(a.out, "prometheus.yml")
    with open(prom_cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    prom = Server(
        "prometheus",
        [a.prometheus, "--config.file=" + prom_cfg, "--storage.tsdb.path=" + a.prom_data,
         "--web.listen-address=127.0.0.1:%d" % a.prom_port, "--storage.tsdb.retention.time=10y",
         # Blocks are 18 h; ranges 2h/6h/18h only, so no compaction runs mid-benchmark.
         "--storage.tsdb.max-block-duration=24h", "--log.level=warn"],
        a.prom_port, a.prom_data, os.path.join(a.out, "prometheus.log"))
    sluice = Server(
        "sluice", [a.sluice, "query", "--config", a.sluice_config],
        a.sluice_port, a.sluice_data, os.path.join(a.out, "sluice.log"))
    servers = {"sluice": sluice, "prometheus": prom}

    cases = [(qid + ":" + rid, expr, s, e, step) for qid, expr in QUERIES for rid, s, e, step in ranges(a.end)]
    if a.only:
        keep = set(a.only.split(","))
        cases = [c for c in cases if c[0] in keep]
    times = {c[0]: {"cold": {"sluice": [], "prometheus": []}, "hot": {"sluice": [], "prometheus": []}} for c in cases}
    checks = {}
    cold_peak = {}

    def order(i):
        return ["sluice", "prometheus"] if i % 2 == 0 else ["prometheus", "sluice"]

    try:
        # Cold: each query is the first a freshly started server answers.
        for rnd in range(a.cold_reps):
            for ci, (cid, expr, s, e, step) in enumerate(cases):
                for name in order(rnd + ci):
                    srv = servers[name]
                    srv.stop()
                    evict(srv.data_dir, a.drop_caches)
                    srv.start()
                    dt, _ = srv.query_range(expr, s, e, step)
                    srv.note_peak()
                    srv.stop()
                    times[cid]["cold"][name].append(dt)
                    print("cold %d %-22s %-10s %8.1f ms" % (rnd, cid, name, dt * 1e3), file=sys.stderr, flush=True)
        cold_peak = {n: srv.peak_kb for n, srv in servers.items()}
        for srv in servers.values():
            srv.peak_kb = 0

        # Hot: both servers up; one untimed run per case (compared), then reps.
        for srv in servers.values():
            srv.start()
        for cid, expr, s, e, step in cases:
            bodies = {n: servers[n].query_range(expr, s, e, step)[1] for n in ("sluice", "prometheus")}
            checks[cid] = compare(bodies["sluice"], bodies["prometheus"])
            print("check %-22s %s" % (cid, checks[cid]), file=sys.stderr, flush=True)
        for rnd in range(a.reps):
            for ci, (cid, expr, s, e, step) in enumerate(cases):
                for name in order(rnd + ci):
                    dt, _ = servers[name].query_range(expr, s, e, step)
                    times[cid]["hot"][name].append(dt)
                print("hot  %d %-22s sluice %8.1f ms  prometheus %8.1f ms" % (
                    rnd, cid, times[cid]["hot"]["sluice"][-1] * 1e3, times[cid]["hot"]["prometheus"][-1] * 1e3),
                    file=sys.stderr, flush=True)
        for srv in servers.values():
            srv.note_peak()
        hot_peak = {n: srv.peak_kb for n, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()

    res = {"cases": {c[0]: {"expr": c[1], "start": c[2], "end": c[3], "step": c[4]} for c in cases},
           "times": times, "checks": checks, "peak_rss_kb": {"cold": cold_peak, "hot": hot_peak}}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)

    print("| figure | Sluice ms, median (min–max) | Prometheus 2.42 ms, median (min–max) | ratio | answers |")
    print("|---|---|---|---|---|")
    for cid, expr, s, e, step in cases:
        c = checks[cid]
        same = "same: %d series, %d points" % (c["series_sluice"], c["points_sluice"])
        if c["series_only_sluice"] or c["series_only_prometheus"] or c["points_mismatched"]:
            same = "DIFFER: %d/%d series (%d only Sluice, %d only Prometheus), %d of %d points off (max rel %.2g)" % (
                c["series_sluice"], c["series_prometheus"], c["series_only_sluice"], c["series_only_prometheus"],
                c["points_mismatched"], c["points_compared"], c["max_rel_diff"])
        for phase in ("hot", "cold"):
            t = times[cid][phase]
            if not t["sluice"]:
                continue
            ss, ps = summary(t["sluice"]), summary(t["prometheus"])
            print("| %s, %s (n=%d) | %s | %s | %.2f | %s |" % (
                cid, phase, ss["n"], fmt_ms(ss), fmt_ms(ps), ss["median"] / ps["median"], same))
    for phase, peak in (("cold runs", cold_peak), ("hot runs", hot_peak)):
        if peak.get("sluice") and peak.get("prometheus"):
            print("| peak RSS MB (VmHWM), %s | %.0f | %.0f | %.2f | |" % (
                phase, peak["sluice"] / 1024, peak["prometheus"] / 1024, peak["sluice"] / peak["prometheus"]))


if __name__ == "__main__":
    main()
