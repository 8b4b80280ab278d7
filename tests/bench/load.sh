#!/usr/bin/env bash
# Overload on loopback: a closed-loop load generator (tests/it/bench_load.rs)
# against `sluice query` and the remote_write receiver of `sluice scrape`
# (`sluice sink` and tansu behind it) at 1, 4, 16 and 64 clients, then
# with small limits (2 query slots; a 1 MiB producer buffer). Prints a
# Markdown table; the figures are in docs/reliability.md#overload.
#
#   tests/bench/load.sh                                 # 15 s per level
#   LOAD_SECS=5 LOAD_CLIENTS=1,8 tests/bench/load.sh    # a quick look
#
# Sluice's crates at opt-level 3 (dependencies are opt-level 2 anyway, see
# Cargo.toml); OPT_LEVEL=0 runs the dev build the other tests use.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=${OPT_LEVEL:-3} cargo test --workspace --test it -- \
  --ignored --exact bench_load::bench_overload --nocapture 2>&1 |
  grep -E "^\||^(load|limits|producer buffer peak):|test result|panicked"
