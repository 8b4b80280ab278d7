#!/usr/bin/env bash
# Exposition parsing MiB/s (Prometheus text format, one core) against
# `promtool check metrics` on the same bytes, with Sluice's crates optimised
# (opt-level 3; dependencies are always opt-level 2, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_parse::bench_parse_throughput --nocapture 2>&1 | grep -E "parse throughput|test result"
