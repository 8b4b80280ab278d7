#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test
# (unit tests and the end-to-end tests in tests/it against real services).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_TANSU="${SLUICE_TANSU:-$HOME/.cache/sluice/tools/bin/tansu}"
cargo test --workspace "$@"
