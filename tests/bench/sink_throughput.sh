#!/usr/bin/env bash
# Sink throughput (Kafka -> published segments), in samples per CPU-second of
# the sink process. Runs the ignored `bench_sink_throughput` test with our own
# crates optimised (opt-level 3; dependencies are always built at opt-level 2,
# see Cargo.toml), reusing the test build's dependency cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_sink::bench_sink_throughput --nocapture 2>&1 | grep -E "sink throughput|compaction:|test result"
