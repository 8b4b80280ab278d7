#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker from crates.io into a cache under
# $HOME so reruns (and later CI runs on the same machine) reuse it.
# Prints the path of the tansu binary on stdout.
set -euo pipefail
TANSU_VERSION="${TANSU_VERSION:-0.6}"
root="${SLUICE_TOOLS:-$HOME/.cache/sluice/tools}"
bin="$root/bin/tansu"
if [ ! -x "$bin" ]; then
  echo "installing tansu $TANSU_VERSION into $root (takes ~10 min on 2 cores, once)" >&2
  cargo install tansu --version "^$TANSU_VERSION" --locked \
    --features dynostore,libsql --root "$root" >&2
fi
echo "$bin"
