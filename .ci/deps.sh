#!/usr/bin/env bash
# Installs the Debian packages synlua builds and tests with (as root, or
# through sudo). Used by .ci/run and scripts/main.sh.
set -euo pipefail
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends \
  build-essential cmake pkg-config lua5.4 liblua5.4-dev libopenblas-dev libcsv-dev lua-busted "$@"
