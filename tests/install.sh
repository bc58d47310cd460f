#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, moves it (the install must
# be relocatable) and checks what users of an install rely on: the file
# layout, the installed synlua finding its Lua files under the prefix,
# `require "synlua"` from a stock lua5.4, and a C program built with
# `pkg-config --cflags --libs synlua` that opens the module in its own state.
#
# usage: install.sh BUILD_DIR SOURCE_DIR CMAKE CC LUA54 SANITIZE(0|1) LIBDIR
set -euo pipefail
build=$1 source=$2 cmake=$3 cc=$4 lua=$5 sanitize=$6 libdir=$7

# Resolved, since the installed synlua sees its own path without symlinks.
work=$(realpath "$(mktemp -d)")
trap 'rm -rf "$work"' EXIT
fail() {
  echo "install test: $*" >&2
  exit 1
}

"$cmake" --install "$build" --prefix "$work/staged" >/dev/null
mv "$work/staged" "$work/prefix"
prefix=$work/prefix

for f in bin/synlua lib/lua/5.4/synlua/core.so share/lua/5.4/synlua/init.lua \
  include/synlua/lua/sylua.h include/synlua/core/tensor.h include/synlua/ops/ops.h \
  include/synlua/synlua_version.h "$libdir/libsynlua.a" "$libdir/libsynlua_core.a" \
  "$libdir/pkgconfig/synlua.pc"; do
  [[ -f $prefix/$f ]] || fail "missing $f under the prefix"
done
[[ -x $prefix/bin/synlua ]] || fail "bin/synlua is not executable"
(cd "$source/lua" && find synlua -name '*.lua' | sort) >"$work/want"
(cd "$prefix/share/lua/5.4" && find synlua -name '*.lua' | sort) >"$work/got"
diff "$work/want" "$work/got" || fail "installed Lua files differ from lua/synlua"

# The installed interpreter uses the prefix's Lua files, not the checkout's.
got=$("$prefix/bin/synlua" -e 'print(package.searchpath("synlua", package.path))')
[[ $got == "$prefix/bin/../share/lua/5.4/synlua/init.lua" ]] ||
  fail "installed synlua loads $got"
got=$("$prefix/bin/synlua" -e 'local sy = require("synlua")
  print(table.concat(sy.tensor({{1, 2}, {3, 4}}):t():totable()[2], ","))')
[[ $got == "2.0,4.0" ]] || fail "installed synlua computed '$got', expected '2.0,4.0'"

# A stock lua5.4 finds both halves through LUA_PATH / LUA_CPATH. Under the
# sanitizers the module needs their runtime, which lua5.4 does not link.
lua_env=(LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;"
  LUA_CPATH="$prefix/lib/lua/5.4/?.so;;")
san_flags=()
if [[ $sanitize == 1 ]]; then
  lua_env+=(LD_PRELOAD="$("$cc" -print-file-name=libasan.so):$("$cc" -print-file-name=libubsan.so)"
    ASAN_OPTIONS=detect_leaks=0)
  san_flags=(-fsanitize=address,undefined)
fi
matmul='print(sy.tensor({{1, 2}, {3, 4}}):matmul(sy.tensor({{1}, {1}})))'
shown=$("$prefix/bin/synlua" -e "local sy = require('synlua'); $matmul")
got=$(env "${lua_env[@]}" "$lua" -e "local sy = require('synlua')
  print(package.searchpath('synlua.core', package.cpath))
  print(sy.tensor({{1, 2}, {3, 4}}):matmul(sy.tensor({{1}, {1}})):totable()[2][1])
  $matmul")
[[ $got == "$prefix/lib/lua/5.4/synlua/core.so"$'\n'"7.0"$'\n'"$shown" ]] ||
  fail "stock lua5.4 printed '$got'"

# A C program embeds synlua with nothing but pkg-config's flags.
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
[[ $(pkg-config --modversion synlua) == "$("$prefix/bin/synlua" -e 'io.write(require("synlua").version)')" ]] ||
  fail "synlua.pc has the wrong version"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs synlua)"
"$cc" -std=c11 -Wall -Wextra -Werror "${san_flags[@]}" "$source/tests/embed/embed.c" \
  "${pc_flags[@]}" -o "$work/embed" || fail "the embedding program does not build"
got=$("$work/embed")
[[ $got == "embedded synlua $(pkg-config --modversion synlua)" ]] || fail "embed printed '$got'"
# ... and, given LUA_PATH, the whole module over the linked-in core.
got=$(LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua;;" "$work/embed" \
  'local sy = require("synlua"); print(sy == package.loaded["synlua.core"], sy.ones(4):numel())')
[[ $got == "true	4" ]] || fail "embed with the Lua module printed '$got'"
echo "install test: ok ($prefix)"
