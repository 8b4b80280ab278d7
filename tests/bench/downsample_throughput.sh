#!/usr/bin/env bash
# Downsampling throughput (input samples per CPU-second of `sluice process`
# over a Kafka backlog, 5 m + 1 h tiers), with Sluice's crates optimised
# (opt-level 3; dependencies are always opt-level 2, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_downsample::bench_downsample_throughput --nocapture 2>&1 | grep -E "downsample throughput|test result"
