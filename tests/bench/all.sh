#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, one after the other, each script's
# output (its Markdown table and per-round lines) kept under
# tests/bench/results/<UTC date>/<script>.txt, and a line per run (machine,
# commit, load) in runs.txt beside them.
#
#   tests/bench/all.sh                      # the sizes BENCHMARKS.md records (about 2-3 h on 2 cores)
#   tests/bench/all.sh parse_throughput promql_latency   # some of them
#
# Each script takes its own size variables (see its header), passed through
# from the environment: e.g. `SERIES=500 DAYS=2 REPS=3 COLD_REPS=1 SIZES=1000x6
# HOURS=2 RESULTS=/tmp/quick tests/bench/all.sh` is a quick look at every
# figure. Needs what the tests need (scripts/setup-test-deps.sh: tansu,
# Prometheus 2.42, promtool) plus python3 with pyarrow for the layout
# details. A script that fails is reported at the end; the others still
# run.
set -uo pipefail
cd "$(dirname "$0")/../.."

# Cheap and self-contained first, the long Prometheus comparisons last.
ALL=(parse_throughput produce_throughput sink_throughput downsample_throughput
     alert_latency ingest_cpu load tier_query explain_pruning bytes_per_sample
     promql_latency)
if [ $# -gt 0 ]; then RUN=("$@"); else RUN=("${ALL[@]}"); fi

# RESULTS puts a run elsewhere (e.g. a quick look beside the day's
# recorded-size outputs instead of over them).
dir=${RESULTS:-tests/bench/results/$(date -u +%F)}
mkdir -p "$dir"
# One line per run of this script (several runs may share a day).
runs="$dir/runs.txt"
# The size and binary variables set for this run: a run at other sizes
# than the recorded ones says so in its line.
sizes=$(env | grep -E '^(SIZES|SERIES|DAYS|HOURS|INTERVAL|REPS|COLD_REPS|SEED|OPT_LEVEL|SLUICE|SLUICE_BIN|INGEST_[A-Z_]+|LOAD_[A-Z_]+)=' | sort | tr '\n' ' ')
echo "$(date -u +%FT%TZ) start: ${RUN[*]}; $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); load average $(cut -d' ' -f1-3 /proc/loadavg); ${sizes:-recorded sizes}" >> "$runs"

failed=()
for name in "${RUN[@]}"; do
    script=tests/bench/$name.sh
    if [ ! -x "$script" ]; then
        echo "== $name: no such benchmark ($script)" >&2
        failed+=("$name")
        continue
    fi
    echo "== $name -> $dir/$name.txt ($(date -u +%T))" >&2
    start=$(date +%s)
    if "$script" > "$dir/$name.txt" 2>&1; then
        echo "   done in $(( $(date +%s) - start )) s" >&2
    else
        echo "   FAILED after $(( $(date +%s) - start )) s; tail of its output:" >&2
        tail -5 "$dir/$name.txt" >&2
        failed+=("$name")
    fi
done

echo "$(date -u +%FT%TZ) end: ${#failed[@]} failed ${failed[*]}" >> "$runs"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#RUN[@]} benchmarks ran; outputs in $dir" >&2
