#!/usr/bin/env bash
# PromQL range-query latency over the HTTP API, Sluice vs Prometheus 2.42,
# same data, same box, interleaved A/B; hot and cold.
#
#   tests/bench/promql_latency.sh                    # 2000 series x 7 d at 60 s, 7 hot + 5 cold rounds
#   SERIES=500 DAYS=2 REPS=3 COLD_REPS=1 tests/bench/promql_latency.sh   # a quick look
#
# 1. Builds Sluice's crates at opt-level 3 (dependencies are opt-level 2
#    anyway, see Cargo.toml) unless $SLUICE names a binary, and copies the
#    binary to $OUT so a concurrent build cannot replace it mid-run.
# 2. Generates OpenMetrics with tests/bench/gen_k8s_network.py (seed 1) and
#    loads the same file into both stores, in 18 h blocks on both sides
#    (promtool rounds a max block duration down to 2 h·3^k, so 24h gives
#    18 h too; Prometheus, started with max-block-duration 24h, does not
#    compact them further mid-run):
#    `promtool tsdb create-blocks-from openmetrics --max-block-duration=18h`
#    and `sluice import --block-duration 18h`. Cached in $OUT/data/<size>/
#    (delete it to regenerate); the text file is removed once both loaded.
# 3. Runs tests/bench/promql_latency.py: starts `prometheus` on the blocks
#    and `sluice query` on the segments (loopback ports), times the fixed
#    query set through /api/v1/query_range on both (cold: first query after
#    a fresh start with the data's page cache evicted; hot: repeated), checks
#    both answer the same, and prints a Markdown table.
#
# Why 2000 series x 7 d at 60 s: the 7 d range must be real data, and on 2
# cores with 23 GB the load has to stay cheap — about 20 M samples (4.2 GB
# of text, ~1 min to generate, 2-4 min per store to load; `sluice import`
# holds the text twice plus the samples: 12.8 GB peak). 60 s keeps five
# samples in every 5 m rate window; with the generator's pod churn (mean
# pod lifetime 6 h) the 7 d range touches ~28 000 cAdvisor series.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
SERIES=${SERIES:-2000}
DAYS=${DAYS:-7}
INTERVAL=${INTERVAL:-60}
SEED=${SEED:-1}
REPS=${REPS:-7}
COLD_REPS=${COLD_REPS:-5}
OUT=${OUT:-/tmp/sluice-promql}
PROMTOOL=${PROMTOOL:-promtool}
PROMETHEUS=${PROMETHEUS:-prometheus}
PROM_PORT=${PROM_PORT:-19190}
SLUICE_PORT=${SLUICE_PORT:-19191}
START=1793491200 # the generator's default --start (2026-11-01T00:00Z)

mkdir -p "$OUT"
if [ -z "${SLUICE:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
    echo "== building sluice (opt-level 3) in $CARGO_TARGET_DIR" >&2
    (cd "$root" && CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo build --workspace >&2)
    cp "$CARGO_TARGET_DIR/debug/sluice" "$OUT/sluice"
    SLUICE=$OUT/sluice
fi

d=$OUT/data/${SERIES}x${DAYS}d@${INTERVAL}s
mkdir -p "$d"
if [ ! -e "$d/loaded" ]; then
    rm -rf "$d/prom" "$d/sluice" "$d/data.om"
    echo "== generating ${SERIES} series x ${DAYS} d at ${INTERVAL} s" >&2
    python3 "$here/gen_k8s_network.py" --series "$SERIES" --hours $((DAYS * 24)) --interval "$INTERVAL" \
        --seed "$SEED" -o "$d/data.om" 2>"$d/gen.log"
    cat "$d/gen.log" >&2
    echo "== promtool tsdb create-blocks-from openmetrics --max-block-duration=18h" >&2
    /usr/bin/time -f "%e s, %M KB" -o "$d/promtool.time" \
        "$PROMTOOL" tsdb create-blocks-from openmetrics --max-block-duration=18h "$d/data.om" "$d/prom" >"$d/promtool.log" 2>&1 \
        || { cat "$d/promtool.log" >&2; exit 1; }
    cat "$d/promtool.time" >&2
    mkdir -p "$d/sluice"
    printf 'kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\n' "$d/sluice" >"$d/import.yml"
    echo "== sluice import --block-duration 18h" >&2
    /usr/bin/time -f "%e s, %M KB" -o "$d/import.time" \
        "$SLUICE" import --config "$d/import.yml" --block-duration 18h "$d/data.om" >"$d/import.log" 2>&1 \
        || { cat "$d/import.log" >&2; exit 1; }
    cat "$d/import.log" "$d/import.time" >&2
    rm -f "$d/data.om"
    touch "$d/loaded"
fi

cfg=$OUT/sluice-query.yml
printf 'kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\nquery:\n  listen: "127.0.0.1:%s"\n' \
    "$d/sluice" "$SLUICE_PORT" >"$cfg"
steps=$((DAYS * 86400 / INTERVAL))
end=$((START + (steps - 1) * INTERVAL))
run=$OUT/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$run"
echo "== running the query set -> $run" >&2
python3 "$here/promql_latency.py" --sluice "$SLUICE" --sluice-config "$cfg" --sluice-data "$d/sluice" \
    --prometheus "$PROMETHEUS" --prom-data "$d/prom" --prom-port "$PROM_PORT" --sluice-port "$SLUICE_PORT" \
    --end "$end" --reps "$REPS" --cold-reps "$COLD_REPS" --out "$run" ${BENCH_ARGS:-} | tee "$run/table.md"
