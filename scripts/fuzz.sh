#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 60) and
# fails if any of them crashes. Prints one summary line per target.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# Stable Rust is enough: targets are built without a sanitizer (`-s none`;
# ASan needs a nightly compiler, and Sluice's own crates forbid unsafe code),
# with libFuzzer's coverage instrumentation, debug assertions and overflow
# checks. cargo-fuzz is built once by `cargo install` into
# $HOME/.cache/sluice/tools like the other tools. The committed seed corpora
# (fuzz/corpus/<target>) are only read; inputs the fuzzer finds go to a
# working corpus under the fuzz target dir, so later runs on the same machine
# resume from them. A crashing input is written to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13}"
tools="${SLUICE_TOOLS:-$HOME/.cache/sluice/tools}"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools (about 1 min, once)" >&2
  cargo install cargo-fuzz --version "^$CARGO_FUZZ_VERSION" --locked --root "$tools" >&2
fi
export PATH="$tools/bin:$PATH"
target_dir="${SLUICE_FUZZ_TARGET_DIR:-$HOME/.cache/sluice/target-fuzzing}"
cd fuzz
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

start=$(date +%s)
cargo fuzz build -s none --target-dir "$target_dir" >&2
echo "fuzz: built in $(( $(date +%s) - start ))s" >&2

status=0
for t in "${targets[@]}"; do
  work="$target_dir/corpus/$t"
  log="$target_dir/fuzz-$t.log"
  mkdir -p "$work" "artifacts/$t"
  # -timeout: one input running 25 s is a hang (the PromQL engine's own
  # timeout is 0.5 s in the target). Memory is capped by libFuzzer's default
  # -rss_limit_mb=2048, which also fails any single allocation above it.
  findings() { find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) 2>/dev/null | wc -l; }
  before=$(findings)
  # Tokens of the input language (fuzz/dict/<language>.dict), if any.
  dict=()
  if [ -f "dict/${t%%_*}.dict" ]; then dict=(-dict="dict/${t%%_*}.dict"); fi
  rc=0
  cargo fuzz run -s none --target-dir "$target_dir" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=25 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || rc=$?
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  crashes=$(( $(findings) - before ))
  echo "fuzz: $t: ${seconds}s, runs $(stat number_of_executed_units), $(stat average_exec_per_sec) execs/s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) files, crashes $crashes, exit $rc"
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E 'panicked|ERROR: libFuzzer|Test unit written|SUMMARY' "$log" | head -20 >&2 || true
    echo "fuzz: $t failed; full log in $log" >&2
  fi
done
exit "$status"
