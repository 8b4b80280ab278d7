#!/usr/bin/env bash
# Kafka produce samples per CPU-second of the producing process
# (`KafkaPublisher` -> tansu in memory, loopback), encoded series as the
# scrape role writes them against plain series; Sluice's crates at
# opt-level 3 (dependencies are opt-level 2 anyway, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_produce::bench_produce_throughput --nocapture 2>&1 | grep -E "produce throughput|test result|panicked"
