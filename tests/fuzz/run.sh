#!/usr/bin/env bash
# Builds one libFuzzer target and runs it for a set time:
#   tests/fuzz/run.sh csv|safetensors|lua_api SECONDS [extra libFuzzer flags]
# The build goes to $SYNLUA_FUZZ_BUILD (default build-libfuzzer) with clang
# and SYNLUA_FUZZ=ON. New inputs go to <build>/corpus/<target> (the
# committed seeds in tests/fuzz/corpus/<target> are only read), crashes to
# <build>/artifacts/<target>/. Replay one input: <build>/tests/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

target=${1:?usage: tests/fuzz/run.sh csv|safetensors|lua_api SECONDS [libFuzzer flags]}
seconds=${2:?usage: tests/fuzz/run.sh csv|safetensors|lua_api SECONDS [libFuzzer flags]}
shift 2
case $target in
  csv | safetensors | lua_api) ;;
  *) echo "run.sh: unknown target '$target' (csv, safetensors or lua_api)" >&2; exit 2 ;;
esac
build=${SYNLUA_FUZZ_BUILD:-build-libfuzzer}

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -DCMAKE_C_COMPILER="${CC:-clang}" -DSYNLUA_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}" --target "fuzz_$target" >/dev/null

mkdir -p "$build/corpus/$target" "$build/artifacts/$target"
dict=()
[[ -f tests/fuzz/$target.dict ]] && dict=(-dict="tests/fuzz/$target.dict")
exec "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/$target/" "${dict[@]}" "$@" \
  "$build/corpus/$target" "tests/fuzz/corpus/$target"
