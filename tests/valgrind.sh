#!/usr/bin/env bash
# Runs a short training script (a tiny nn.LSTM + Adam for a few steps on
# synthetic data, a CSV read, sy.save and sy.load) in the synlua interpreter
# under valgrind's memcheck; fails on any invalid access, use of
# uninitialised memory or definite/indirect leak.
#
# usage: valgrind.sh SYNLUA_BIN SOURCE_DIR [VALGRIND]
set -euo pipefail
bin=$1 source=$2 valgrind=${3:-valgrind}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/train.lua" <<'LUA'
local sy = require("synlua")
local nn = sy.nn
local dir = arg[1]
sy.manual_seed(7)

local f = assert(io.open(dir .. "/data.csv", "w"))
f:write("t;a;b\n")
for i = 1, 40 do f:write(("%d;%d,5;%s\n"):format(i, i % 7, i % 5 == 0 and "NA" or tostring(i / 3))) end
f:close()
local df = sy.data.read_csv(dir .. "/data.csv", { decimal = "," })
assert(df:rows() == 40)

local Net = nn.Module:extend("ValgrindNet")
function Net:__init()
  self.lstm = nn.LSTM({ input_size = 3, hidden_size = 8 })
  self.fc = nn.Linear(8, 1)
end
function Net:forward(x)
  local out = self.lstm(x)
  return self.fc(out:select(2, out:size(2)))
end

local x = sy.randn(16, 6, 3)
local y = x:sum(2):sum(2, true) * 0.1
local model, loss_fn = Net(), nn.MSELoss()
local opt = sy.optim.Adam(model, { lr = 1e-2 })
local first, last
for step = 1, 5 do
  opt:zero_grad()
  local loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
  first = first or loss:item()
  last = loss:item()
end
assert(last < first, "the loss did not fall")

local path = dir .. "/net.safetensors"
sy.save(path, model:state_dict(), { steps = "5" })
local loaded, meta = sy.load(path)
assert(meta.steps == "5")
for name, t in pairs(model:state_dict()) do
  assert((loaded[name] - t):abs():max():item() == 0, name)
end
model:load_state_dict(loaded)
print(("valgrind script: loss %.4f -> %.4f"):format(first, last))
LUA

# OpenBLAS would pick AVX-512 kernels, which valgrind cannot run; one thread
# keeps the run short and the report free of thread-pool noise.
export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1
export LUA_PATH="$source/lua/?.lua;$source/lua/?/init.lua;;"
"$valgrind" --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect --quiet "$bin" "$work/train.lua" "$work"
