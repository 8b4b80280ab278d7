#!/usr/bin/env bash
# Let a real Prometheus 2.42 compact backfilled 2 h blocks, then measure them.
#
#   tests/bench/prom_compact.sh BLOCKS_DIR [SECONDS]
#
# Copies BLOCKS_DIR (promtool's output) to BLOCKS_DIR.compacted, starts
# `prometheus` on it with no scrape jobs on 127.0.0.1:19099 for SECONDS
# (default 150: the compactor runs once a minute), stops it, and prints the
# blocks and their bytes (block directories only: wal/ and chunks_head/ are
# the empty head's). Prometheus never compacts the newest block, and it
# compacts 2 h blocks to 6 h, then 18 h, ... only when a whole range is there.
set -euo pipefail
src=$1
secs=${2:-150}
dst=$src.compacted
rm -rf "$dst"
cp -a "$src" "$dst"
cfg=$(mktemp)
printf 'global:\n  scrape_interval: 15s\n' >"$cfg"
prometheus --config.file="$cfg" --storage.tsdb.path="$dst" --web.listen-address=127.0.0.1:19099 \
    --storage.tsdb.retention.time=10y >"$dst.log" 2>&1 &
pid=$!
sleep "$secs"
kill "$pid"
wait "$pid" || true
rm -f "$cfg"
grep -i "compact" "$dst.log" | tail -5 >&2 || true
total=0
for b in "$dst"/*/; do
    name=$(basename "$b")
    case $name in wal | chunks_head) continue ;; esac
    bytes=$(du -sb "$b" | cut -f1)
    total=$((total + bytes))
    echo "$name $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print((m["maxTime"]-m["minTime"])/3.6e6, "h", m["stats"]["numSamples"], "samples")' "$b/meta.json") $bytes bytes"
done
echo "total $total bytes"
