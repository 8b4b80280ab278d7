#!/usr/bin/env bash
# Runs the whole pipeline on this host: tansu (Kafka protocol), the node
# exporter if installed, and `sluice all` with deploy/examples/sluice.yml.
# Installs what is missing on first use. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$PWD/data"   # deploy/examples/sluice.yml writes segments to ./data/segments
mkdir -p "$DATA"

if ! command -v prometheus-node-exporter >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-node-exporter >/dev/null || true
fi
scripts/install-build-deps.sh
TANSU="$(scripts/install-tansu.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
# The dev profile builds dependencies optimised (Cargo.toml) and shares its
# build with the test suite; use `cargo build --release` for production.
cargo build --bin sluice
SLUICE="$CARGO_TARGET_DIR/debug/sluice"

pids=()
# Each child in its own process group (job control): Ctrl-C at the terminal
# reaches only this script, whose trap then stops the children in reverse
# start order — sluice first, while the broker still takes its last
# staleness markers and checkpoints, then the exporter and the broker. (With
# the broker killed at the same moment, sluice's stages wait out their
# bounded Kafka writes: ~36 s instead of ~2.)
set -m
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

# tansu resolves sqlite://PATH against its working directory.
(cd "$DATA" && exec "$TANSU" broker --listener-url tcp://127.0.0.1:9092 --advertised-listener-url tcp://127.0.0.1:9092 \
  --storage-engine sqlite://bus.db >tansu.log 2>&1) &
pids+=($!)
if command -v prometheus-node-exporter >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/9100) 2>/dev/null; then
  prometheus-node-exporter --web.listen-address=127.0.0.1:9100 >"$DATA/node-exporter.log" 2>&1 &
  pids+=($!)
fi
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null && break; sleep 0.2; done

echo "sluice: Prometheus API on http://127.0.0.1:9464 (segments in $DATA/segments)" >&2
"$SLUICE" all --config deploy/examples/sluice.yml &
pids+=($!)
wait -n
