#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, from the root of a clone:
#   bash scripts/main.sh [flags of scripts/patchtst_sp500.lua]
# Installs the Debian packages, builds build/ (Release), then runs the
# flagship study. Data: --data DIR, else $SYNLUA_DATA, else ../shared/datasets
# beside the clone when it exists, else datasets/ of the checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j 2 >/dev/null
if [[ -z ${SYNLUA_DATA:-} && -d ../shared/datasets ]]; then
  SYNLUA_DATA=$(realpath ../shared/datasets)
  export SYNLUA_DATA
fi
exec build/synlua scripts/patchtst_sp500.lua "$@"
