#!/usr/bin/env bash
# A 30-day range query over the 1 h tier vs over raw samples (one `sluice
# query` server, interleaved runs), with Sluice's crates optimised
# (opt-level 3; dependencies are always opt-level 2, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_tier_query::bench_30_day_query_tier_vs_raw --nocapture 2>&1 | grep -E "tier query|data:|test result"
