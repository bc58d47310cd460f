-- bench/ops.lua -- single tensor ops against PyTorch in the same run: the
-- elementwise, transcendental, comparison, reduction, softmax, loss, copy
-- and product ops a model written in Lua is made of, on float32
-- [3840, 64] (the RNN/LSTM benchmark's output: batch 64 x 60 steps x
-- hidden 64), at 1 thread. Each op allocates its result, as in a training
-- step (PyTorch's side too).
--
--   build/synlua bench/ops.lua [rounds] [--no-torch]      (default 3 rounds)
-- PyTorch (bench/ops_torch.py) comes from Debian's python3-torch at
-- /usr/bin/python3, run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1.
-- Each figure is the median over rounds of the best of 3 blocks of 20 calls;
-- the sides alternate within a round. PT/sy > 1: synlua is faster.
local sy = require("synlua")

local ROUNDS, NO_TORCH = 3, false
for _, a in ipairs(arg or {}) do
  if a == "--no-torch" then NO_TORCH = true
  else ROUNDS = assert(math.tointeger(tonumber(a)), "usage: ops.lua [rounds] [--no-torch]") end
end
sy.set_num_threads(1)
sy.manual_seed(0)

local R, C = 3840, 64
local x, y, w = sy.randn(R, C), sy.randn(R, C), sy.randn(C, C)
local xg = sy.randn(R, C):requires_grad(true)
local pos = x:abs() + 0.5

-- The same list, in the same order and with the same names, is in ops_torch.py.
local OPS = {
  { "add", function() return x + y end },
  { "mul", function() return x * y end },
  { "div", function() return x / y end },
  { "add scalar", function() return x + 1 end },
  { "pow 2", function() return x ^ 2 end },
  { "neg", function() return -x end },
  { "abs", function() return x:abs() end },
  { "sqrt", function() return pos:sqrt() end },
  { "exp", function() return x:exp() end },
  { "log", function() return pos:log() end },
  { "tanh", function() return x:tanh() end },
  { "sigmoid", function() return x:sigmoid() end },
  { "relu", function() return x:relu() end },
  { "gelu", function() return sy.gelu(x) end },
  { "clamp", function() return x:clamp(-1, 1) end },
  { "gt scalar", function() return x:gt(0) end },
  { "where", function() return sy.where(x:gt(0), x, y) end },
  { "sum", function() return x:sum() end },
  { "sum dim 1", function() return x:sum(1) end },
  { "sum dim 2", function() return x:sum(2) end },
  { "mean dim 2", function() return x:mean(2) end },
  { "max dim 2", function() return x:max(2) end },
  { "softmax dim 2", function() return sy.softmax(x, 2) end },
  { "log_softmax dim 2", function() return sy.log_softmax(x, 2) end },
  { "transpose copy", function() return x:t():contiguous() end },
  { "cat dim 2", function() return sy.cat({ x, y }, 2) end },
  { "matmul [3840,64]x[64,64]", function() return x:matmul(w) end },
  { "mse_loss", function() return sy.mse_loss(x, y) end },
  { "mse_loss fwd+bwd", function() xg.grad = nil; sy.mse_loss(xg, y):backward() end },
  { "tanh fwd+bwd", function() xg.grad = nil; xg:tanh():sum():backward() end },
}

local function best_of_blocks(f)
  f()
  local best = math.huge
  for _ = 1, 3 do
    local t0 = sy._now()
    for _ = 1, 20 do f() end
    best = math.min(best, (sy._now() - t0) / 20)
  end
  return best
end

local function torch_round()
  if NO_TORCH or not io.open("/usr/bin/python3") then return nil end
  local dir = arg and arg[0] and arg[0]:match("^(.*)/[^/]*$") or "bench"
  local p = io.popen(("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 %s/ops_torch.py 2>/dev/null"):format(dir))
  local out = {}
  for line in p:lines() do
    local name, s = line:match('^"(.-)"%s+([%d%.e%-]+)$')
    if name then out[name] = tonumber(s) end
  end
  p:close()
  return next(out) and out or nil
end

local function median(xs)
  local s = { table.unpack(xs) }
  if #s == 0 then return nil end
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local sy_t, pt_t = {}, {}
for _ = 1, ROUNDS do
  for _, op in ipairs(OPS) do
    sy_t[op[1]] = sy_t[op[1]] or {}
    table.insert(sy_t[op[1]], best_of_blocks(op[2]))
  end
  for name, s in pairs(torch_round() or {}) do
    pt_t[name] = pt_t[name] or {}
    table.insert(pt_t[name], s)
  end
end

print(("## synlua %s vs PyTorch: single ops on float32 [%d, %d], 1 thread, us per call"):format(sy.version, R, C))
print()
print(("%s; median over %d rounds of the best of 3 x 20 calls; PT/sy > 1: synlua faster."):format(
  os.date("!%Y-%m-%d %H:%M UTC"), ROUNDS))
print()
print("| op | synlua us | PyTorch us | PT/sy |")
print("|---|---:|---:|---:|")
local slower = {}
for _, op in ipairs(OPS) do
  local s, p = median(sy_t[op[1]]), pt_t[op[1]] and median(pt_t[op[1]])
  print(("| %s | %.1f | %s | %s |"):format(op[1], s * 1e6, p and ("%.1f"):format(p * 1e6) or "-",
    p and ("%.2fx"):format(p / s) or "-"))
  if p and p / s < 1 then slower[#slower + 1] = ("%s (%.2fx)"):format(op[1], p / s) end
end
if next(pt_t) then
  print()
  print(#slower == 0 and "synlua is at least as fast as PyTorch on every op."
    or ("Slower than PyTorch: %s."):format(table.concat(slower, ", ")))
end
