#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every test
# (unit tests and the end-to-end tests in tests/it against real services),
# and closes with one summary line over all test binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_TANSU="${SLUICE_TANSU:-$HOME/.cache/sluice/tools/bin/tansu}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1); if ($i ~ /^ignored;?$/) s += $(i-1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
