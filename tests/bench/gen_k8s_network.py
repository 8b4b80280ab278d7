#!/usr/bin/env python3
"""Deterministic Kubernetes-network metrics in OpenMetrics text, with timestamps.

The output is the input of both
    promtool tsdb create-blocks-from openmetrics FILE OUTDIR
    sluice import FILE --config CFG
so the two stores can be compared on exactly the same samples.

What it models (per scrape every --interval seconds, --hours long):

* node-exporter, per node (`job="node-exporter"`, `instance`), per device
  (eth0, eth1, cni0, lo): counters node_network_{receive,transmit}_bytes_total,
  node_network_receive_{errs,drop}_total; gauges node_network_up,
  node_network_mtu_bytes; per node node_sockstat_TCP_inuse, node_load1.
* cAdvisor via the kubelet (`job="kubelet"`, `metrics_path`, `node`,
  `namespace`, `pod`, `interface`, `id`): counters
  container_network_{receive,transmit}_bytes_total,
  container_network_{receive,transmit}_packets_dropped_total.
  Pods are replaced over time (exponential lifetimes, mean
  --pod-lifetime-hours): the old pod's series end, a new pod with a new name
  starts in its place, so series start and end inside the range (churn).
* request latency histograms per service (`job`, `namespace`, `service`,
  `code`): http_request_duration_seconds_{bucket,count,sum} with 11 finite
  buckets + "+Inf".

With --pack-families, more families follow (from their own random stream,
so everything above is byte-identical with or without the flag): what the
Kubernetes network pack (deploy/packs/kubernetes-network) queries besides
the above —
node_network_transmit_{errs,drop}_total, node_network_speed_bytes,
node_netstat_Tcp_{RetransSegs,OutSegs} (type unknown, as node exporter),
container_network_{receive,transmit}_{errors,packets}_total,
kube_pod_info (job="kube-state-metrics") and `up` for every job.

Counters grow by noisy integer increments and occasionally reset to 0
(--resets-per-day per series / per histogram). --series is the number of
series active at any one time (approximately: the mix is fixed, 20 % node,
50 % cAdvisor, 30 % histograms); churn adds series beyond it over time.

OpenMetrics ordering: families one after the other; inside a family, series
one after the other (a histogram: one label set after the other, each
MetricPoint = its buckets, _count, _sum), timestamps increasing per series.
Ends with "# EOF". Standard library only; same --seed → same bytes.
"""

import argparse
import math
import random
import sys

HIST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
DEVICES = ["eth0", "eth1", "cni0", "lo"]
NAMESPACES = ["default", "kube-system", "payments", "checkout", "search", "monitoring", "ingress-nginx", "auth"]
CODES = [("200", 20.0), ("404", 0.4), ("500", 0.05)]
ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def fmt_ts(t_ms):
    if t_ms % 1000 == 0:
        return str(t_ms // 1000)
    return "%d.%03d" % (t_ms // 1000, t_ms % 1000)


def labelstr(pairs):
    return "{" + ",".join('%s="%s"' % kv for kv in pairs) + "}"


class Gen:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.n_steps = int(a.hours * 3600 // a.interval)
        # per-step timestamps (optionally jittered, still strictly increasing)
        step_ms = int(a.interval * 1000)
        self.ts = []
        for i in range(self.n_steps):
            j = self.rng.randint(0, a.jitter_ms) if a.jitter_ms else 0
            self.ts.append(fmt_ts(a.start * 1000 + i * step_ms + j))
        self.reset_p = a.resets_per_day * a.interval / 86400.0
        target = a.series
        self.n_nodes = max(1, round(0.2 * target / (len(DEVICES) * 6 + 2)))
        self.n_pod_slots = max(1, round(0.5 * target / 4))
        self.n_services = max(1, round(0.3 * target / (len(CODES) * (len(HIST_BUCKETS) + 3))))
        self.nodes = ["ip-10-0-%d-%d.ec2.internal" % (i // 250, i % 250 + 1) for i in range(self.n_nodes)]
        self.node_ip = ["10.0.%d.%d" % (i // 250, i % 250 + 1) for i in range(self.n_nodes)]
        self.samples = 0
        self.series_written = 0

    # -- value models ---------------------------------------------------
    def counter(self, start, end, rate, burst=0.5, p_inc=1.0, max_inc=None):
        """Integer counter values for steps [start, end)."""
        rng = self.rng
        v = rng.randint(0, int(rate * 3600)) if start == 0 else 0
        out = []
        iv = self.a.interval
        rp = self.reset_p
        for _ in range(start, end):
            if rp and rng.random() < rp:
                v = 0
            if p_inc >= 1.0:
                v += int(rate * iv * (1.0 - burst + 2 * burst * rng.random()))
            elif rng.random() < p_inc:
                v += rng.randint(1, max_inc or 3)
            out.append(str(v))
        return out

    def series_lines(self, name, labels, values, start, out):
        ls = labelstr(labels)
        prefix = name + ls + " "
        ts = self.ts
        out.extend(prefix + v + " " + ts[i] + "\n" for i, v in zip(range(start, start + len(values)), values))
        self.samples += len(values)
        self.series_written += 1

    # -- families -------------------------------------------------------
    def node_families(self, w):
        rng = self.rng
        n = self.n_steps
        fams = [
            ("node_network_receive_bytes", "counter", "Network device statistic receive_bytes."),
            ("node_network_transmit_bytes", "counter", "Network device statistic transmit_bytes."),
            ("node_network_receive_errs", "counter", "Network device statistic receive_errs."),
            ("node_network_receive_drop", "counter", "Network device statistic receive_drop."),
        ]
        # per (node, device) base rates, fixed by seed
        rates = {}
        for ni in range(self.n_nodes):
            for d in DEVICES:
                base = {"eth0": 6e6, "eth1": 8e5, "cni0": 3e6, "lo": 2e5}[d]
                rates[ni, d] = (base * rng.lognormvariate(0, 0.6), base * rng.lognormvariate(-0.2, 0.6))
        for fi, (fam, typ, help_) in enumerate(fams):
            w("# HELP %s %s\n# TYPE %s %s\n" % (fam, help_, fam, typ))
            for ni, node in enumerate(self.nodes):
                for d in DEVICES:
                    labels = [("device", d), ("instance", self.node_ip[ni] + ":9100"), ("job", "node-exporter")]
                    if fi < 2:
                        vals = self.counter(0, n, rates[ni, d][fi], burst=0.6)
                    elif fi == 2:
                        vals = self.counter(0, n, 0, p_inc=0.0005 if d != "lo" else 0.0, max_inc=2)
                    else:
                        vals = self.counter(0, n, 0, p_inc=0.02 if d != "lo" else 0.0, max_inc=5)
                    out = []
                    self.series_lines(fam + "_total", labels, vals, 0, out)
                    w("".join(out))
        # gauges
        w("# HELP node_network_up Value is 1 if operstate is 'up', 0 otherwise.\n# TYPE node_network_up gauge\n")
        for ni in range(self.n_nodes):
            for d in DEVICES:
                out = []
                labels = [("device", d), ("instance", self.node_ip[ni] + ":9100"), ("job", "node-exporter")]
                self.series_lines("node_network_up", labels, ["1"] * n, 0, out)
                w("".join(out))
        w("# HELP node_network_mtu_bytes Network device property mtu_bytes.\n# TYPE node_network_mtu_bytes gauge\n")
        for ni in range(self.n_nodes):
            for d in DEVICES:
                out = []
                labels = [("device", d), ("instance", self.node_ip[ni] + ":9100"), ("job", "node-exporter")]
                self.series_lines("node_network_mtu_bytes", labels, ["65536" if d == "lo" else "9001"] * n, 0, out)
                w("".join(out))
        w("# HELP node_sockstat_TCP_inuse Number of TCP sockets in state inuse.\n# TYPE node_sockstat_TCP_inuse gauge\n")
        for ni in range(self.n_nodes):
            v = rng.randint(50, 2000)
            vals = []
            for _ in range(n):
                v = max(0, v + rng.randint(-8, 8))
                vals.append(str(v))
            out = []
            self.series_lines("node_sockstat_TCP_inuse", [("instance", self.node_ip[ni] + ":9100"), ("job", "node-exporter")], vals, 0, out)
            w("".join(out))
        w("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n")
        for ni in range(self.n_nodes):
            v = rng.uniform(0.5, 6.0)
            vals = []
            for _ in range(n):
                v = max(0.0, v * 0.92 + rng.uniform(0.5, 6.0) * 0.08)
                vals.append(repr(round(v, 2)))
            out = []
            self.series_lines("node_load1", [("instance", self.node_ip[ni] + ":9100"), ("job", "node-exporter")], vals, 0, out)
            w("".join(out))

    def pods(self):
        """Pod instances: (name, namespace, node index, uid, start step, end step, rx rate, tx rate)."""
        rng = self.rng
        n = self.n_steps
        mean_steps = self.a.pod_lifetime_hours * 3600 / self.a.interval
        out = []
        for slot in range(self.n_pod_slots):
            ns = NAMESPACES[slot % len(NAMESPACES)]
            app = "app%03d" % (slot // 3)
            rs = "".join(rng.choice(ALNUM) for _ in range(9))
            start = 0
            while start < n:
                life = max(1, int(rng.expovariate(1.0 / mean_steps))) if mean_steps > 0 else n
                end = min(n, start + life)
                name = "%s-%s-%s" % (app, rs, "".join(rng.choice(ALNUM) for _ in range(5)))
                uid = "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48))
                node = rng.randrange(self.n_nodes)
                rx = 5e4 * rng.lognormvariate(0, 1.2)
                tx = 3e4 * rng.lognormvariate(0, 1.2)
                out.append((name, ns, node, uid, start, end, rx, tx))
                start = end + 2  # the replacement pod is scraped 2 intervals later
                if rng.random() < 0.3:  # a rollout: new ReplicaSet hash
                    rs = "".join(rng.choice(ALNUM) for _ in range(9))
        return out

    def cadvisor_families(self, w):
        pods = self.pods()
        self.pod_list = pods
        fams = [
            ("container_network_receive_bytes", "Cumulative count of bytes received"),
            ("container_network_transmit_bytes", "Cumulative count of bytes transmitted"),
            ("container_network_receive_packets_dropped", "Cumulative count of packets dropped while receiving"),
            ("container_network_transmit_packets_dropped", "Cumulative count of packets dropped while transmitting"),
        ]
        for fi, (fam, help_) in enumerate(fams):
            w("# HELP %s %s\n# TYPE %s counter\n" % (fam, help_, fam))
            for (name, ns, node, uid, start, end, rx, tx) in pods:
                labels = [
                    ("id", "/kubepods/burstable/pod" + uid),
                    ("instance", self.node_ip[node] + ":10250"),
                    ("interface", "eth0"),
                    ("job", "kubelet"),
                    ("metrics_path", "/metrics/cadvisor"),
                    ("namespace", ns),
                    ("node", self.nodes[node]),
                    ("pod", name),
                ]
                if fi == 0:
                    vals = self.counter(start, end, rx, burst=0.8)
                elif fi == 1:
                    vals = self.counter(start, end, tx, burst=0.8)
                else:
                    vals = self.counter(start, end, 0, p_inc=0.005, max_inc=4)
                out = []
                self.series_lines(fam + "_total", labels, vals, start, out)
                w("".join(out))

    def histogram_family(self, w):
        rng = self.rng
        fam = "http_request_duration_seconds"
        w("# HELP %s Duration of HTTP requests.\n# TYPE %s histogram\n" % (fam, fam))
        les = [repr(b) for b in HIST_BUCKETS] + ["+Inf"]
        ts = self.ts
        iv = self.a.interval
        for si in range(self.n_services):
            ns = NAMESPACES[si % len(NAMESPACES)]
            svc = "svc-%03d" % si
            median = 0.02 * rng.lognormvariate(0, 0.8)
            sigma = 0.9
            # CDF of a lognormal latency at each finite bucket bound
            cdf = [0.5 * (1 + math.erf((math.log(b) - math.log(median)) / (sigma * math.sqrt(2)))) for b in HIST_BUCKETS]
            mean = median * math.exp(sigma * sigma / 2)
            for code, base_rate in CODES:
                rate = base_rate * rng.lognormvariate(0, 1.0)
                base = [("code", code), ("job", svc), ("namespace", ns), ("service", svc)]
                prefixes = [fam + "_bucket" + labelstr(base + [("le", le)]) + " " for le in les]
                p_count = fam + "_count" + labelstr(base) + " "
                p_sum = fam + "_sum" + labelstr(base) + " "
                cum = [0] * len(HIST_BUCKETS)
                count = rng.randint(0, int(rate * 3600))
                for i, c in enumerate(cdf):
                    cum[i] = int(count * c)
                total = count * mean
                out = []
                for step in range(self.n_steps):
                    if self.reset_p and rng.random() < self.reset_p:
                        cum = [0] * len(HIST_BUCKETS)
                        count = 0
                        total = 0.0
                    lam = rate * iv
                    if lam >= 20:
                        k = max(0, int(rng.gauss(lam, math.sqrt(lam))))
                    else:  # sparse: Poisson by inversion
                        k, p, L = 0, rng.random(), math.exp(-lam)
                        s = L
                        while p > s and k < 200:
                            k += 1
                            L *= lam / k
                            s += L
                    if k:
                        u = rng.random()
                        for i, c in enumerate(cdf):
                            cum[i] += int(k * c + u)
                            if cum[i] > count + k:
                                cum[i] = count + k
                        # keep buckets cumulative (non-decreasing in le)
                        for i in range(1, len(cum)):
                            if cum[i] < cum[i - 1]:
                                cum[i] = cum[i - 1]
                        count += k
                        total += k * mean * rng.uniform(0.8, 1.25)
                    t = " " + ts[step] + "\n"
                    for i, p in enumerate(prefixes[:-1]):
                        out.append(p + str(cum[i]) + t)
                    out.append(prefixes[-1] + str(count) + t)
                    out.append(p_count + str(count) + t)
                    out.append(p_sum + repr(total) + t)
                    if len(out) > 50000:
                        w("".join(out))
                        out = []
                w("".join(out))
                self.samples += self.n_steps * (len(les) + 2)
                self.series_written += len(les) + 2


def pack_families(g, w):
    """The extra families of --pack-families, from a random stream of their own."""
    saved = g.rng
    g.rng = random.Random(g.a.seed * 7919 + 17)
    rng = g.rng
    n = g.n_steps
    node_labels = lambda ni: [("instance", g.node_ip[ni] + ":9100"), ("job", "node-exporter")]

    def family(name, typ, help_, series):
        w("# HELP %s %s\n# TYPE %s %s\n" % (name, help_, name, typ))
        for sample_name, labels, vals, start in series:
            out = []
            g.series_lines(sample_name, labels, vals, start, out)
            w("".join(out))

    for fam, what in [("node_network_transmit_errs", "transmit_errs"), ("node_network_transmit_drop", "transmit_drop")]:
        p = 0.0005 if what == "transmit_errs" else 0.01
        family(fam, "counter", "Network device statistic %s." % what, [
            (fam + "_total", [("device", d)] + node_labels(ni), g.counter(0, n, 0, p_inc=p if d != "lo" else 0.0, max_inc=3), 0)
            for ni in range(g.n_nodes) for d in DEVICES])
    family("node_network_speed_bytes", "gauge", "Network device property speed_bytes.", [
        ("node_network_speed_bytes", [("device", d)] + node_labels(ni), ["1250000000"] * n, 0)
        for ni in range(g.n_nodes) for d in DEVICES if d != "lo"])
    out_rates = [rng.uniform(2e3, 2e4) for _ in range(g.n_nodes)]
    family("node_netstat_Tcp_OutSegs", "unknown", "Statistic TcpOutSegs.", [
        ("node_netstat_Tcp_OutSegs", node_labels(ni), g.counter(0, n, out_rates[ni], burst=0.3), 0)
        for ni in range(g.n_nodes)])
    family("node_netstat_Tcp_RetransSegs", "unknown", "Statistic TcpRetransSegs.", [
        ("node_netstat_Tcp_RetransSegs", node_labels(ni), g.counter(0, n, out_rates[ni] * rng.uniform(0.001, 0.03), burst=0.8), 0)
        for ni in range(g.n_nodes)])

    def pod_labels(pod):
        name, ns, node, uid = pod[:4]
        return [("id", "/kubepods/burstable/pod" + uid), ("instance", g.node_ip[node] + ":10250"), ("interface", "eth0"),
                ("job", "kubelet"), ("metrics_path", "/metrics/cadvisor"), ("namespace", ns), ("node", g.nodes[node]), ("pod", name)]

    for fam, help_, packets in [
        ("container_network_receive_errors", "Cumulative count of errors encountered while receiving", False),
        ("container_network_transmit_errors", "Cumulative count of errors encountered while transmitting", False),
        ("container_network_receive_packets", "Cumulative count of packets received", True),
        ("container_network_transmit_packets", "Cumulative count of packets transmitted", True),
    ]:
        family(fam, "counter", help_, [
            (fam + "_total", pod_labels(pod),
             g.counter(pod[4], pod[5], pod[6] / 800.0, burst=0.8) if packets else g.counter(pod[4], pod[5], 0, p_inc=0.002, max_inc=2),
             pod[4])
            for pod in g.pod_list])
    family("kube_pod_info", "gauge", "Information about pod.", [
        ("kube_pod_info", [("created_by_kind", "ReplicaSet"), ("job", "kube-state-metrics"), ("namespace", pod[1]),
                           ("node", g.nodes[pod[2]]), ("pod", pod[0]), ("uid", pod[3])], ["1"] * (pod[5] - pod[4]), pod[4])
        for pod in g.pod_list])
    ups = [([("instance", g.node_ip[ni] + ":9100"), ("job", "node-exporter")]) for ni in range(g.n_nodes)]
    ups += [([("instance", g.node_ip[ni] + ":10250"), ("job", "kubelet")]) for ni in range(g.n_nodes)]
    ups += [[("instance", "10.1.0.10:8080"), ("job", "kube-state-metrics")]]
    ups += [[("instance", "10.2.%d.1:8080" % si), ("job", "svc-%03d" % si), ("namespace", NAMESPACES[si % len(NAMESPACES)]),
             ("service", "svc-%03d" % si)] for si in range(g.n_services)]
    family("up", "gauge", "Whether the target was scraped.", [("up", labels, ["1"] * n, 0) for labels in ups])
    g.rng = saved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--series", type=int, default=1000, help="series active at a time (approx.)")
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--interval", type=float, default=15.0, help="scrape interval, seconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=1793491200, help="first timestamp, Unix seconds (default 2026-11-01T00:00Z)")
    ap.add_argument("--jitter-ms", type=int, default=0, help="scrape timestamp jitter, 0..N ms (Prometheus aligns to the grid within 2 ms, so 0 is realistic)")
    ap.add_argument("--pod-lifetime-hours", type=float, default=6.0, help="mean pod lifetime (churn); 0 = no churn")
    ap.add_argument("--resets-per-day", type=float, default=0.5, help="counter resets per series per day")
    ap.add_argument("--pack-families", action="store_true", help="add the families the Kubernetes network pack needs (see above)")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    g = Gen(a)
    f = sys.stdout if a.output == "-" else open(a.output, "w", buffering=1 << 22)
    w = f.write
    g.node_families(w)
    g.cadvisor_families(w)
    g.histogram_family(w)
    if a.pack_families:
        pack_families(g, w)
    w("# EOF\n")
    if f is not sys.stdout:
        f.close()
    print(
        "generated %d samples, %d series (%d nodes, %d pod slots, %d services), %d steps"
        % (g.samples, g.series_written, g.n_nodes, g.n_pod_slots, g.n_services, g.n_steps),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
