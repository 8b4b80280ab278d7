#!/usr/bin/env bash
# Sample-to-alert latency (Kafka-acknowledged threshold crossing -> firing
# record on sluice.alerts, `for: 0`), with Sluice's crates optimised
# (opt-level 3; dependencies are always opt-level 2, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test --workspace --test it -- \
  --ignored --exact bench_alert::bench_sample_to_alert_latency --nocapture 2>&1 | grep -E "sample-to-alert|test result"
