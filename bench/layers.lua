-- Forward + backward time of the paper's heavy layers, synlua against
-- PyTorch in the same run (issue 3 targets):
--   LSTM and RNN: batch 64, length 60, 10 features, hidden 64
--   encoder: 2 post-norm blocks, batch 64, 15 tokens, d 64, 4 heads, ff 256
-- For each thread count it prints seconds per step, the PyTorch/synlua ratio
-- (against PyTorch at the same thread count and at its best count), and the
-- LSTM's achieved GFLOP/s next to raw cblas_sgemm on the same GEMM shapes.
--
--   build/synlua bench/layers.lua [reps]
-- (PyTorch comes from Debian's python3-torch at /usr/bin/python3; without it
-- only synlua's numbers are printed.)
local sy = require("synlua")
local nn = sy.nn

local reps = tonumber(arg and arg[1]) or 10
local B, T, D, H = 64, 60, 10, 64

local function best_time(step)
  for _ = 1, 3 do step() end
  local best = math.huge
  for _ = 1, 5 do
    local t0 = sy._now()
    for _ = 1, reps do step() end
    best = math.min(best, (sy._now() - t0) / reps)
  end
  return best
end

local Block = nn.Module:extend("Block")
function Block:__init(d, heads, ff)
  self:add_module("attn", nn.MultiheadAttention({ embed_dim = d, num_heads = heads }))
  self:add_module("ln1", nn.LayerNorm({ normalized_shape = d }))
  self:add_module("ff1", nn.Linear(d, ff))
  self:add_module("ff2", nn.Linear(ff, d))
  self:add_module("ln2", nn.LayerNorm({ normalized_shape = d }))
end
function Block:forward(x)
  x = self.ln1(x + self.attn(x, x, x, { need_weights = false }))
  return self.ln2(x + self.ff2(self.ff1(x):relu()))
end

local function synlua_cases()
  sy.manual_seed(0)
  local cases = {}
  local function add(name, model, x)
    cases[#cases + 1] = { name = name, step = function()
      model:zero_grad()
      local y = model(x)
      y:sum():backward()
    end }
  end
  add("lstm", nn.LSTM({ input_size = D, hidden_size = H }), sy.randn(B, T, D))
  add("rnn", nn.RNN({ input_size = D, hidden_size = H }), sy.randn(B, T, D))
  add("encoder", nn.Sequential(Block(64, 4, 256), Block(64, 4, 256)), sy.randn(64, 15, 64))
  return cases
end

-- GEMM FLOPs of one LSTM forward: input projection over all steps plus the
-- recurrence; backward is about twice that (dX/dH and dW products).
local function lstm_gemm_flops()
  return 3 * (2 * B * T * D * 4 * H + 2 * B * T * H * 4 * H)
end

-- Raw sgemm time for the same products at the same thread count.
local function lstm_sgemm_seconds()
  local total = 0
  local function gemm(m, n, k, times)
    local s = sy._sgemm_seconds(m, n, k, 20) / 20
    total = total + s * times
  end
  gemm(B * T, 4 * H, D, 3)         -- input projection: forward, dX, dW
  gemm(B, 4 * H, H, 3 * T)         -- recurrence per step: forward, dH, dW
  return total
end

local function torch_times(threads)
  local p = io.popen(("/usr/bin/python3 %s/layers_torch.py %d %d 2>/dev/null")
    :format(arg and arg[0]:match("^(.*)/[^/]*$") or "bench", threads, reps))
  if not p then return nil end
  local out = {}
  for line in p:lines() do
    local name, s = line:match('"case": "(%w+)", "seconds": ([%d%.e%-]+)')
    if name then out[name] = tonumber(s) end
  end
  p:close()
  return next(out) and out or nil
end

local results, torch = {}, {}
for _, threads in ipairs({ 1, 2 }) do
  sy.set_num_threads(threads)
  results[threads] = {}
  for _, c in ipairs(synlua_cases()) do results[threads][c.name] = best_time(c.step) end
  results[threads].sgemm = lstm_sgemm_seconds()
  torch[threads] = torch_times(threads)
end

print(("synlua %s, forward+backward, seconds per step (best of 5 x %d)"):format(sy.version, reps))
print(("%-8s %7s %11s %11s %9s %12s"):format("case", "threads", "synlua", "pytorch", "ratio", "vs best pt"))
for _, name in ipairs({ "lstm", "rnn", "encoder" }) do
  local best_pt
  for t = 1, 2 do
    if torch[t] and torch[t][name] then best_pt = math.min(best_pt or math.huge, torch[t][name]) end
  end
  for t = 1, 2 do
    local s, pt = results[t][name], torch[t] and torch[t][name]
    print(("%-8s %7d %10.2fms %10s %8s %12s"):format(name, t, s * 1e3,
      pt and ("%.2fms"):format(pt * 1e3) or "-", pt and ("%.2fx"):format(pt / s) or "-",
      best_pt and ("%.2fx"):format(best_pt / s) or "-"))
  end
end
for t = 1, 2 do
  local flops = lstm_gemm_flops()
  print(("lstm GEMM work, %d thread(s): %.1f GFLOP/s achieved; raw sgemm on the same shapes %.1f GFLOP/s -> %.0f%% of the GEMM-bound floor")
    :format(t, flops / results[t].lstm / 1e9, flops / results[t].sgemm / 1e9,
            100 * results[t].sgemm / results[t].lstm))
end
