-- Raw float32 products of the layers' shapes, one thread: cblas_sgemm
-- against synlua's own AVX-512 kernel (sgemm_avx512.c), which synlua's layers
-- use where the CPU has it. Each figure is the best of 5 blocks of about
-- 30 MFLOP each.
--
--   build/synlua bench/gemm.lua
local sy = require("synlua")

-- { what, m, n, k, trans_a, trans_b }: C [m, n] = op(A) [m, k] op(B) [k, n]
local SHAPES = {
  { "encoder q/k/v projection, forward: x W^T", 960, 192, 64, false, true },
  { "encoder output projection, forward", 960, 64, 64, false, true },
  { "encoder feed-forward 1, forward", 960, 256, 64, false, true },
  { "encoder feed-forward 2, forward", 960, 64, 256, false, true },
  { "encoder feed-forward 2, dX = dY W", 960, 256, 64, false, false },
  { "encoder feed-forward 1, dW = dY^T X", 256, 64, 960, true, false },
  { "LSTM recurrence per step, forward: h W_hh^T", 64, 256, 64, false, true },
  { "LSTM recurrence per step, dH = dG W_hh", 64, 64, 256, false, false },
  { "LSTM input projection, forward (10 inputs)", 3840, 256, 10, false, true },
  { "LSTM dW_ih = dG^T X (10 inputs)", 256, 10, 3840, true, false },
  { "LSTM dW_hh = dG^T H", 256, 64, 3840, true, false },
  { "square 512", 512, 512, 512, false, false },
}

local own = pcall(sy._sgemm_seconds, 1, 1, 1, 1, "avx512")
sy.set_num_threads(1)
local function gflops(m, n, k, kernel, ta, tb)
  local reps = math.max(2, math.floor(3e7 / (2 * m * n * k)))
  local best = math.huge
  for _ = 1, 5 do best = math.min(best, sy._sgemm_seconds(m, n, k, reps, kernel, ta, tb) / reps) end
  return 2 * m * n * k / best / 1e9
end

print(("## float32 products at 1 thread, GFLOP/s (%s)"):format(os.date("!%Y-%m-%d %H:%M UTC")))
print()
print("| product | m | n | k | cblas_sgemm | synlua's own | own / BLAS |")
print("|---|---:|---:|---:|---:|---:|---:|")
for _, s in ipairs(SHAPES) do
  local what, m, n, k, ta, tb = table.unpack(s)
  local blas = gflops(m, n, k, "blas", ta, tb)
  local mine = own and gflops(m, n, k, "avx512", ta, tb)
  print(("| %s | %d | %d | %d | %.1f | %s | %s |"):format(what, m, n, k, blas,
    mine and ("%.1f"):format(mine) or "-", mine and ("%.2fx"):format(mine / blas) or "-"))
end
if not own then print("\n(this CPU or build has no AVX-512 kernel: BLAS only)") end
