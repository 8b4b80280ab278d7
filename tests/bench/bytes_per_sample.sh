#!/usr/bin/env bash
# Bytes per sample, Sluice vs Prometheus (promtool backfill), same data, same box.
#
#   tests/bench/bytes_per_sample.sh                 # sizes "1000x6 5000x12 10000x6" (~25 min on 2 cores, 9 GB RAM)
#   SIZES="1000x6" tests/bench/bytes_per_sample.sh  # SERIESxHOURS, space separated
#
# For each size: generate OpenMetrics (tests/bench/gen_k8s_network.py, seed 1,
# 15 s interval), backfill it with `promtool tsdb create-blocks-from
# openmetrics` (2 h blocks, and --max-block-duration=24h, which writes the
# blocks Prometheus' compaction would converge to), import it with
# `sluice import` (2 h segments, and --block-duration 24h), and print a
# Markdown table. Bytes are `du -sb` of the block directories / segment
# files (no WAL: backfill writes none); samples are counted by both tools and
# must agree. Needs python3, promtool, and a built sluice ($SLUICE).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
SLUICE=${SLUICE:-$(command -v sluice || echo /root/.cache/sluice/target/debug/sluice)}
PROMTOOL=${PROMTOOL:-promtool}
OUT=${OUT:-/tmp/sluice-bench}
SIZES=${SIZES:-"1000x6 5000x12 10000x6"}
SEED=${SEED:-1}

mkdir -p "$OUT"
rows=()

timed() { # timed LOG cmd... → runs cmd, appends "wall_s maxrss_kb" to LOG
    local log=$1; shift
    /usr/bin/time -o "$log.time" -f "%e %M" "$@" >"$log" 2>&1 || { cat "$log"; exit 1; }
}
wall() { cut -d' ' -f1 "$1.time"; }
rss_mb() { awk '{printf "%.0f", $2/1024}' "$1.time"; }

prom_blocks() { # dir → bytes samples
    local dir=$1 bytes=0
    for b in "$dir"/*/; do
        [ "$(basename "$b")" = wal ] && continue
        bytes=$((bytes + $(du -sb "$b" | cut -f1)))
    done
    local samples
    samples=$(awk 'NR>1 && length($1) == 26 && $1 ~ /^[0-9A-Z]+$/ {s+=$(NF-3)} END {print s+0}' "$dir.log")
    echo "$bytes $samples"
}

sluice_segments() { # dir log → bytes samples
    local bytes samples
    bytes=$(find "$1" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    samples=$(sed -n 's/^imported \([0-9]*\) samples.*/\1/p' "$2")
    echo "$bytes $samples"
}

for size in $SIZES; do
    series=${size%x*}
    hours=${size#*x}
    d=$OUT/${series}x${hours}
    rm -rf "$d"
    mkdir -p "$d"
    echo "== $size: generating" >&2
    timed "$d/gen.log" python3 "$here/gen_k8s_network.py" --series "$series" --hours "$hours" --seed "$SEED" -o "$d/data.om"
    cat "$d/gen.log" >&2
    gen_samples=$(sed -n 's/^generated \([0-9]*\) samples.*/\1/p' "$d/gen.log")
    file_bytes=$(stat -c %s "$d/data.om")

    echo "== $size: promtool (2h blocks)" >&2
    timed "$d/prom2h.log" "$PROMTOOL" tsdb create-blocks-from openmetrics "$d/data.om" "$d/prom2h"
    read -r p2_bytes p2_samples < <(prom_blocks "$d/prom2h")
    echo "== $size: promtool (--max-block-duration=24h)" >&2
    timed "$d/prom24h.log" "$PROMTOOL" tsdb create-blocks-from openmetrics --max-block-duration=24h "$d/data.om" "$d/prom24h"
    read -r p24_bytes p24_samples < <(prom_blocks "$d/prom24h")

    for blk in 2h 24h; do
        mkdir -p "$d/sluice$blk"
        printf 'kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\n' "$d/sluice$blk" >"$d/sluice$blk.yml"
        echo "== $size: sluice import (--block-duration $blk)" >&2
        timed "$d/sluice$blk.log" "$SLUICE" import --config "$d/sluice$blk.yml" --block-duration "$blk" "$d/data.om"
        cat "$d/sluice$blk.log" >&2
    done
    read -r s2_bytes s2_samples < <(sluice_segments "$d/sluice2h" "$d/sluice2h.log")
    read -r s24_bytes s24_samples < <(sluice_segments "$d/sluice24h" "$d/sluice24h.log")

    for n in "$p2_samples" "$p24_samples" "$s2_samples" "$s24_samples"; do
        if [ "$n" != "$gen_samples" ]; then
            echo "sample counts disagree: generated $gen_samples, promtool $p2_samples/$p24_samples, sluice $s2_samples/$s24_samples" >&2
            exit 1
        fi
    done
    n=$gen_samples
    cmd_gen="gen_k8s_network.py --series $series --hours $hours --seed $SEED"
    rows+=("$(awk -v a="$s2_bytes" -v b="$p2_bytes" -v n="$n" -v l="bytes/sample, ${series} series × ${hours} h, 2 h blocks ($n samples)" -v c="\`sluice import --block-duration 2h\` vs \`promtool tsdb create-blocks-from openmetrics\`" \
        'BEGIN {printf "| %s | %.3f | %.3f | %.2f | %s |", l, a/n, b/n, a/b, c}')")
    rows+=("$(awk -v a="$s24_bytes" -v b="$p24_bytes" -v n="$n" -v l="bytes/sample, ${series} series × ${hours} h, 24 h blocks" -v c="\`sluice import --block-duration 24h\` vs \`promtool … --max-block-duration=24h\`" \
        'BEGIN {printf "| %s | %.3f | %.3f | %.2f | %s |", l, a/n, b/n, a/b, c}')")
    rows+=("$(awk -v a="$(wall "$d/sluice2h.log")" -v b="$(wall "$d/prom2h.log")" -v l="import wall time s, ${series} × ${hours} h (2 h blocks)" -v c="same; OpenMetrics file $file_bytes bytes, generated in $(wall "$d/gen.log") s by \`$cmd_gen\`" \
        'BEGIN {printf "| %s | %.1f | %.1f | %.2f | %s |", l, a, b, a/b, c}')")
    rows+=("| import peak RSS MB, ${series} × ${hours} h (2 h blocks) | $(rss_mb "$d/sluice2h.log") | $(rss_mb "$d/prom2h.log") | $(awk -v a="$(rss_mb "$d/sluice2h.log")" -v b="$(rss_mb "$d/prom2h.log")" 'BEGIN{printf "%.2f", a/b}') | \`/usr/bin/time -f %M\` |")
done

echo
echo "| figure | Sluice | Prometheus 2.42 | ratio | command |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
