#!/usr/bin/env bash
# Installs everything the test suite drives, from package registries only:
# Debian's prometheus (promtool), node exporter and alertmanager; DuckDB for
# Python (an independent Parquet reader); psql (the Postgres listener's client); openssl (test certificates); Debian's chromium (headless, for the
# expression browser's end-to-end test); moto's S3 server (a local S3 API
# for the object-store tests) and pyarrow (its S3 client, for DuckDB); tansu (the Kafka-protocol broker,
# built once into $HOME/.cache/sluice/tools).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-build-deps.sh
need_apt=()
command -v prometheus-node-exporter >/dev/null || need_apt+=(prometheus-node-exporter)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v chromium >/dev/null || need_apt+=(chromium)
# The scrape TLS test makes its CA and certificates with the openssl CLI.
command -v openssl >/dev/null || need_apt+=(openssl)
# The Kafka TLS test fronts the broker with socat's TLS listener.
command -v socat >/dev/null || need_apt+=(socat)
# The container image test packs with umoci and writes the archive with skopeo.
command -v umoci >/dev/null || need_apt+=(umoci)
command -v skopeo >/dev/null || need_apt+=(skopeo)
# The Postgres wire-protocol test drives the real psql (libpq).
psql --version >/dev/null 2>&1 || need_apt+=(postgresql-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install -q duckdb
python3 -c 'import moto.server, flask_cors' 2>/dev/null || python3 -m pip install -q 'moto[server]'
python3 -c 'import pyarrow.fs' 2>/dev/null || python3 -m pip install -q pyarrow
scripts/install-tansu.sh >/dev/null
