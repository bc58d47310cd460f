-- bench/recurrent.lua -- forward and forward+backward time of the fused
-- recurrent layers at the paper's forecaster size (B=64, T=60, D=10, H=64,
-- float32), and the same in PyTorch when /usr/bin/python3 has torch.
--
-- Run from the checkout root after building (any build dir works):
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua/?.so;;' lua5.4 bench/recurrent.lua [threads]
-- or  build/synlua bench/recurrent.lua [threads]
-- threads (default 1) goes to sy.set_num_threads and torch.set_num_threads.
-- forward+backward differentiates sum(out*R1) + sum(h_n*R2) [+ sum(c_n*R3)]
-- (R fixed and random) in one backward pass, so every part of the layer's
-- backward runs once; the weights and x require grad.
-- Each figure is the best of several rounds, wall-clock (sy._now): other
-- load on the machine only ever slows a round down.
local sy = require("synlua")

local threads = math.tointeger(tonumber(arg and arg[1] or "1"))
assert(threads and threads >= 1, "usage: recurrent.lua [threads]")
sy.set_num_threads(threads)

local B, T, D, H = 64, 60, 10, 64
local GATES = { rnn_tanh = 1, lstm = 4, gru = 3 }
local ROUNDS, REPS = 9, 10
local now = sy._now

-- Milliseconds per call of f: best over rounds of REPS calls.
local function ms_per_call(f)
  f()   -- warm-up: thread pool, first-touch pages, allocator cache
  local times = {}
  for r = 1, ROUNDS do
    local t0 = now()
    for _ = 1, REPS do f() end
    times[r] = (now() - t0) / REPS * 1e3
  end
  return math.min(table.unpack(times))
end

local results = {}
print(("synlua %s, %d thread(s), B=%d T=%d D=%d H=%d float32"):format(sy.version, threads, B, T, D, H))
for _, layer in ipairs({ "lstm", "gru", "rnn_tanh" }) do
  sy.manual_seed(1)
  local G = GATES[layer] * H
  local k = 1 / math.sqrt(H)
  local function param(...) return ((sy.rand(...) * 2 - 1) * k):requires_grad(true) end
  local x = sy.randn(B, T, D):requires_grad(true)
  local w_ih, w_hh, b_ih, b_hh = param(G, D), param(G, H), param(G), param(G)
  local grads = { sy.randn(B, T, H), sy.randn(B, H), sy.randn(B, H) }
  local fwd = ms_per_call(function()
    sy.no_grad(function() return sy[layer](x, w_ih, w_hh, b_ih, b_hh) end)
  end)
  local fwd_bwd = ms_per_call(function()
    local o = table.pack(sy[layer](x, w_ih, w_hh, b_ih, b_hh))
    local loss = (o[1] * grads[1]):sum()
    for i = 2, o.n do loss = loss + (o[i] * grads[i]):sum() end
    loss:backward()
  end)
  results[layer] = { fwd, fwd_bwd }
end

local torch_script = [[
import sys, time, torch
threads, B, T, D, H = map(int, sys.argv[1:6])
torch.set_num_threads(threads)
torch.manual_seed(1)
def ms_per_call(f, rounds=9, reps=10):
    f()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        times.append((time.perf_counter() - t0) / reps * 1e3)
    return min(times)
for name, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU), ("rnn_tanh", torch.nn.RNN)):
    m = cls(D, H, batch_first=True)
    x = torch.randn(B, T, D, requires_grad=True)
    def fwd():
        with torch.no_grad():
            m(x)
    def run():
        out, st = m(x)
        return [out] + (list(st) if isinstance(st, tuple) else [st])
    grads = [torch.randn_like(o) for o in run()]
    def fwd_bwd():
        sum((o * g).sum() for o, g in zip(run(), grads)).backward()
    print(name, ms_per_call(fwd), ms_per_call(fwd_bwd))
]]

local torch = {}
local py = io.open("/usr/bin/python3") and io.popen(("/usr/bin/python3 -c '%s' %d %d %d %d %d 2>/dev/null")
  :format(torch_script, threads, B, T, D, H))
if py then
  for line in py:lines() do
    local name, f, fb = line:match("^(%S+) (%S+) (%S+)$")
    if name then torch[name] = { tonumber(f), tonumber(fb) } end
  end
  py:close()
end

print()
print("layer       forward ms    fwd+bwd ms    PyTorch forward ms    PyTorch fwd+bwd ms")
for _, layer in ipairs({ "lstm", "gru", "rnn_tanh" }) do
  local r, t = results[layer], torch[layer]
  print(("%-10s %10.2f %13.2f %21s %21s"):format(layer, r[1], r[2],
    t and ("%.2f"):format(t[1]) or "-", t and ("%.2f"):format(t[2]) or "-"))
end
if not next(torch) then print("(no PyTorch comparison: /usr/bin/python3 with torch not found)") end
