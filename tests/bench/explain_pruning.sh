#!/usr/bin/env bash
# EXPLAIN ANALYZE of a PromQL query through SQL's promql(): how many
# segments and Parquet row groups the scan read and how many it skipped.
#
# Generates Kubernetes-network data (tests/bench/gen_k8s_network.py),
# imports it with `sluice import` into 24 h segments (so skipping happens
# at row-group level inside one file, not only between files), starts
# `sluice query`, and posts the EXPLAIN ANALYZE to /api/v1/sql.
# Needs python3, curl and a built sluice ($SLUICE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SLUICE=${SLUICE:-/root/.cache/sluice/target/debug/sluice}
SERIES=${SERIES:-2000}
HOURS=${HOURS:-6}
PORT=${PORT:-19464}
OUT=${OUT:-/tmp/sluice-explain}
QUERY=${QUERY:-'sum by (job) (rate(node_network_receive_bytes_total{device=~"eth.*"}[5m]))'}
rm -rf "$OUT" && mkdir -p "$OUT/store"
python3 "$here/gen_k8s_network.py" --series "$SERIES" --hours "$HOURS" --seed 7 -o "$OUT/data.om"
printf 'kafka:\n  brokers: "127.0.0.1:1"\nsink:\n  path: %s\nquery:\n  listen: 127.0.0.1:%s\n' "$OUT/store" "$PORT" >"$OUT/sluice.yml"
"$SLUICE" import --config "$OUT/sluice.yml" --block-duration 24h "$OUT/data.om" | tail -1
"$SLUICE" query --config "$OUT/sluice.yml" >"$OUT/query.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/-/healthy" >/dev/null && break; sleep 0.2; done
# The data starts at the generator's fixed epoch; query its last hour.
start=$(awk '!/^#/ {print $NF; exit}' "$OUT/data.om")
end=$(python3 -c "print(int($start) + $HOURS * 3600)")
from=$((end - 3600))
sql="EXPLAIN ANALYZE SELECT * FROM promql('${QUERY//\'/\'\'}', $from, $end, '1m')"
echo "$sql"
curl -sf "http://127.0.0.1:$PORT/api/v1/sql" --data-urlencode "query=$sql" --data-urlencode format=text | tee "$OUT/explain.txt"
echo "segments in the store: $(find "$OUT/store" -name '*.parquet' | wc -l)"
grep -o 'row_groups_pruned_statistics=[^,]*\|files_ranges_pruned_statistics=[^,]*\|page_index_rows_pruned=[^,]*\|output_rows=[0-9.KM]*' "$OUT/explain.txt" | sort | uniq -c
