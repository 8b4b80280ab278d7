#!/usr/bin/env bash
# Ingest cost: `sluice scrape` -> tansu against Prometheus 2.42 in agent mode
# (remote_write to a loopback endpoint that discards), both scraping the
# same loopback exporters; interleaved rounds, CPU from /proc. Prints each
# round and a Markdown table (median, min-max, ratio); figures go to
# BENCHMARKS.md.
#
#   tests/bench/ingest_cpu.sh                                  # defaults
#   INGEST_TARGETS=20 INGEST_ROUNDS=2 tests/bench/ingest_cpu.sh  # a quick look
#
# Environment: INGEST_TARGETS (50), INGEST_INTERVAL_S (2), INGEST_ROUNDS (3),
# INGEST_WARMUP_S (10), INGEST_WINDOW_S (30), INGEST_PIPELINE (1: one more
# round with `sluice sink` consuming live, for its peak RSS).
# Sluice's crates at opt-level 3 (dependencies are opt-level 2 anyway, see
# Cargo.toml); OPT_LEVEL=0 runs the dev build the other tests use.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
command -v prometheus >/dev/null || { echo "prometheus not found (scripts/setup-test-deps.sh)" >&2; exit 1; }
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(prometheus --version 2>&1 | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- ingest model src 2>/dev/null || echo +uncommitted); sluice binary ${SLUICE_BIN:-built here}"
CARGO_PROFILE_DEV_OPT_LEVEL=${OPT_LEVEL:-3} cargo test --workspace --test it -- \
  --ignored --exact bench_ingest::bench_ingest_cpu --nocapture 2>&1 |
  grep -E "^\||^(targets|round|remote_write|broker|pipeline|note)|test result|panicked"
