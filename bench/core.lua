-- bench/core.lua -- throughput of the tensor core: sy.matmul against raw
-- cblas_sgemm measured in the same run (the difference is the cost of the
-- binding and front end: argument checks, result allocation, GC accounting),
-- and elementwise add on 1M floats, allocating (a + b) and in place (a:add_(b)).
--
-- Run from the checkout root after building into build/ (any build dir works):
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua/?.so;;' lua5.4 bench/core.lua [threads]
-- or with the synlua interpreter, which has the module preloaded:
--   build/synlua bench/core.lua [threads]
-- threads (default 1) goes to sy.set_num_threads, which sizes OpenBLAS's pool.
-- Times are wall-clock (sy._now, monotonic); each figure is the best of
-- several rounds, and raw and synlua rounds alternate so drift hits both.
local sy = require("synlua")

local threads = math.tointeger(tonumber(arg and arg[1] or "1"))
assert(threads and threads >= 1, "usage: core.lua [threads]")
sy.set_num_threads(threads)

local now = sy._now
local ROUNDS = 7

-- Seconds per call of f over `reps` back-to-back calls.
local function per_call(reps, f)
  local t0 = now()
  for _ = 1, reps do f() end
  return (now() - t0) / reps
end

print(("synlua %s, %d thread(s)"):format(sy.version, threads))
print()
print("matmul, square float32          GFLOP/s      GFLOP/s     binding")
print("   n      reps      sy.matmul  raw sgemm    overhead")

for _, n in ipairs({ 64, 256, 1024 }) do
  -- about 50 ms of work per round at ~50 GFLOP/s
  local flop = 2 * n * n * n
  local reps = math.max(2, math.floor(2.5e9 / flop))
  local a, b = sy.full(n, n, 0.5), sy.full(n, n, 0.25)
  a:matmul(b)   -- warm-up: thread pool, first-touch pages
  local best_sy, best_raw = math.huge, math.huge
  for _ = 1, ROUNDS do
    best_raw = math.min(best_raw, sy._sgemm_seconds(n, n, n, reps) / reps)
    best_sy = math.min(best_sy, per_call(reps, function() return a:matmul(b) end))
  end
  print(("%5d  %8d  %12.1f %10.1f   %8.1f%%"):format(n, reps, flop / best_sy / 1e9,
        flop / best_raw / 1e9, (best_sy - best_raw) / best_raw * 100))
end

print()
local N = 1 << 20
local a, b = sy.full(N, 1.5), sy.full(N, 0.25)
-- add reads two floats and writes one: 12 bytes per element
local bytes = 12 * N
local reps = 100
local cases = {
  { "a + b      (allocates)", function() return a + b end },
  { "a:add_(b)  (in place)", function() return a:add_(b) end },
}
print(("elementwise add, %d float32            GB/s    Gelem/s"):format(N))
for _, case in ipairs(cases) do
  case[2]()
  local best = math.huge
  for _ = 1, ROUNDS do best = math.min(best, per_call(reps, case[2])) end
  print(("  %-36s %8.2f %10.3f"):format(case[1], bytes / best / 1e9, N / best / 1e9))
end
