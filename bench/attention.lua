-- bench/attention.lua -- forward and forward+backward time of the fused
-- scaled dot-product attention at the paper's PatchTST size (B=64 windows,
-- H=4 heads, L=15 patches, E=16 = d_model 64 / 4 heads, float32), and the same
-- attention written out by hand in PyTorch when /usr/bin/python3 has torch:
--   w = softmax(q k^T / sqrt(E) [masked]); w = dropout(w); out = w v
--
-- Run from the checkout root after building (any build dir works):
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua/?.so;;' lua5.4 bench/attention.lua [threads]
-- or  build/synlua bench/attention.lua [threads]
-- threads (default 1) goes to sy.set_num_threads and torch.set_num_threads.
-- Two cases: no mask and no dropout; a causal bool mask with dropout 0.1 in
-- training. q, k, v require grad and the backward gets a fixed random gradient
-- of out. Each figure is the best of several rounds, wall-clock (sy._now).
local sy = require("synlua")

local threads = math.tointeger(tonumber(arg and arg[1] or "1"))
assert(threads and threads >= 1, "usage: attention.lua [threads]")
sy.set_num_threads(threads)

local B, H, L, E = 64, 4, 15, 16
local ROUNDS, REPS = 9, 50
local now = sy._now

-- Milliseconds per call of f: best over rounds of REPS calls.
local function ms_per_call(f)
  f()   -- warm-up: first-touch pages, allocator cache
  local times = {}
  for r = 1, ROUNDS do
    local t0 = now()
    for _ = 1, REPS do f() end
    times[r] = (now() - t0) / REPS * 1e3
  end
  return math.min(table.unpack(times))
end

sy.manual_seed(1)
local q = sy.randn(B, H, L, E):requires_grad(true)
local k = sy.randn(B, H, L, E):requires_grad(true)
local v = sy.randn(B, H, L, E):requires_grad(true)
local g = sy.randn(B, H, L, E)
local causal = sy.ones(L, L):bool()
for i = 1, L do for j = 1, i do causal[i][j] = 0 end end   -- true above the diagonal

local cases = {
  { "plain", nil, 0 },
  { "causal+drop", causal, 0.1 },
}
local results = {}
print(("synlua %s, %d thread(s), B=%d H=%d L=%d E=%d float32"):format(sy.version, threads, B, H, L, E))
for _, c in ipairs(cases) do
  local mask, p = c[2], c[3]
  local fwd = ms_per_call(function()
    sy.no_grad(function() return sy.scaled_dot_product_attention(q, k, v, mask, p, true) end)
  end)
  local fwd_bwd = ms_per_call(function()
    local out = sy.scaled_dot_product_attention(q, k, v, mask, p, true)
    out:backward(g)
  end)
  results[c[1]] = { fwd, fwd_bwd }
end

local torch_script = [[
import math, sys, time, torch
threads, B, H, L, E = map(int, sys.argv[1:6])
torch.set_num_threads(threads)
torch.manual_seed(1)
def ms_per_call(f, rounds=9, reps=50):
    f()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        times.append((time.perf_counter() - t0) / reps * 1e3)
    return min(times)
q, k, v = (torch.randn(B, H, L, E, requires_grad=True) for _ in range(3))
g = torch.randn(B, H, L, E)
causal = torch.ones(L, L, dtype=torch.bool).triu(1)
def attention(mask, p):
    s = q @ k.transpose(-2, -1) / math.sqrt(E)
    if mask is not None:
        s = s.masked_fill(mask, float("-inf"))
    w = torch.dropout(torch.softmax(s, -1), p, True)
    return w @ v
for name, mask, p in (("plain", None, 0.0), ("causal+drop", causal, 0.1)):
    def fwd():
        with torch.no_grad():
            attention(mask, p)
    def fwd_bwd():
        attention(mask, p).backward(g)
    print(name, ms_per_call(fwd), ms_per_call(fwd_bwd))
]]

local torch = {}
local py = io.open("/usr/bin/python3") and io.popen(("/usr/bin/python3 -c '%s' %d %d %d %d %d 2>/dev/null")
  :format(torch_script, threads, B, H, L, E))
if py then
  for line in py:lines() do
    local name, f, fb = line:match("^(%S+) (%S+) (%S+)$")
    if name then torch[name] = { tonumber(f), tonumber(fb) } end
  end
  py:close()
end

print()
print("case          forward ms    fwd+bwd ms    PyTorch forward ms    PyTorch fwd+bwd ms")
for _, c in ipairs(cases) do
  local r, t = results[c[1]], torch[c[1]]
  print(("%-12s %10.3f %13.3f %21s %21s"):format(c[1], r[1], r[2],
    t and ("%.3f"):format(t[1]) or "-", t and ("%.3f"):format(t[2]) or "-"))
end
if not next(torch) then print("(no PyTorch comparison: /usr/bin/python3 with torch not found)") end
