#!/usr/bin/env bash
# C libraries the build links: OpenSSL for librdkafka's TLS and SASL/SCRAM
# (rdkafka's `ssl` feature finds it with pkg-config). Debian packages only.
set -euo pipefail
if ! (command -v pkg-config >/dev/null && pkg-config --exists openssl); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq pkg-config libssl-dev >/dev/null
fi
