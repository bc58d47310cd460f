-- bench/prune.lua -- the cost of synaptic pruning (issue 4's targets):
--  1. one global mask update over 1M float32 weights in three tensors
--     ([512,1024], [256,1024], [256,1024]): the first update to 30% (all
--     active), an update from 30% to 31% (the usual step during training),
--     and the same in compat mode. Target: under 10 ms on one core.
--  2. the pruning overhead on LSTM training at the paper's forecaster size:
--     nn.LSTM(10 -> 64) + Linear(64 -> 1) on the last step, sequence length
--     30, batch 64, 16 batches per epoch (~1,000 windows, as the S&P 500
--     series at L = 30), Adam lr 1e-3, MSE. Pruning with the paper preset
--     (every 5 batches, exact) and the reference LSTM preset (every 2,
--     compat), warm-up 0 so every epoch prunes. The overhead is reported two
--     ways: the time spent inside pruner:step, and the difference of whole
--     epoch times, each as % of the unpruned epoch. Target: under 2%.
--
-- Run from the checkout root after building:
--   LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua/?.so;;' lua5.4 bench/prune.lua
-- or  build/synlua bench/prune.lua
-- Figures are wall-clock (sy._now); each is the best (1) or the median (2)
-- over repetitions, one thread.
local sy = require("synlua")
local now = sy._now
sy.set_num_threads(1)

local function median(t)
  local s = { table.unpack(t) }
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

print(("synlua %s, 1 thread"):format(sy.version))

-- ------------------------------------------------- 1. one mask update, 1M

do
  sy.manual_seed(1)
  local shapes = { { 512, 1024 }, { 256, 1024 }, { 256, 1024 } }
  local pairs_, originals = {}, {}
  for i, s in ipairs(shapes) do
    local w = (sy.rand(s[1], s[2]) * 2 - 1) * 0.05
    originals[i] = w:clone()
    pairs_[i] = { ("layer%d.weight"):format(i), w }
  end
  local function fresh(compat)
    for i, p in ipairs(pairs_) do p[2]:copy_(originals[i]) end
    return sy.prune.Pruner(pairs_, { compat = compat, schedule = sy.prune.schedules.constant(0.3) })
  end
  local REPS = 15
  local function best_ms(compat, before, target)
    local times = {}
    for r = 1, REPS do
      local p = fresh(compat)
      if before then p:prune(before) end
      local t0 = now()
      p:prune(target)
      times[r] = (now() - t0) * 1e3
    end
    table.sort(times)
    return times[1], median(times)
  end
  local n = 0
  for _, p in ipairs(pairs_) do n = n + p[2]:numel() end
  print(("\n1. one global mask update over %d weights (3 tensors)"):format(n))
  for _, case in ipairs({
    { "exact,  0%% -> 30%%", false, nil, 0.3 },
    { "exact, 30%% -> 31%%", false, 0.3, 0.31 },
    { "compat, 0%% -> 30%%", true, nil, 0.3 },
    { "compat, 30%% -> 31%%", true, 0.3, 0.31 },
  }) do
    local best, med = best_ms(case[2], case[3], case[4])
    print(("   %-22s best %6.2f ms   median %6.2f ms"):format(case[1]:format(), best, med))
  end
end

-- --------------------------------------------- 2. overhead on LSTM training

do
  local B, T, D, H, BATCHES = 64, 30, 10, 64, 16
  local nn = sy.nn
  local Net = nn.Module:extend("BenchLSTM")
  function Net:__init() self.lstm = nn.LSTM(D, H); self.fc = nn.Linear(H, 1) end
  function Net:forward(x)
    local out = self.lstm(x)
    return self.fc(out:select(2, T))
  end
  sy.manual_seed(7)
  local xs, ys = {}, {}
  for b = 1, BATCHES do xs[b], ys[b] = sy.randn(B, T, D), sy.randn(B, 1) end

  -- One training run: a model, its optimizer and (maybe) a pruner;
  -- run:epoch(e) trains one epoch and returns its seconds and the seconds
  -- spent in pruner:step.
  local function new_run(preset)
    sy.manual_seed(3)
    local m = Net()
    local opt = sy.optim.Adam(m:parameters(), { lr = 1e-3 })
    local pruner
    if preset then
      local o = sy.prune.presets[preset]
      o.warmup = 0
      pruner = sy.prune.Pruner(m, o):attach(opt)
    end
    return {
      pruner = pruner,
      epoch = function(_, epoch)
        local t0, in_step = now(), 0
        for b = 1, BATCHES do
          local loss = sy.mse_loss(m(xs[b]), ys[b])
          opt:zero_grad()
          loss:backward()
          if pruner then
            local p0 = now()
            pruner:step(epoch)
            in_step = in_step + (now() - p0)
          end
          opt:step()
        end
        return now() - t0, in_step
      end,
    }
  end

  local EPOCHS = 20
  local names = { "none", "paper", "reference_lstm" }
  print(("\n2. LSTM training: nn.LSTM(%d -> %d) + Linear, T=%d, B=%d, %d batches per epoch"):format(
    D, H, T, B, BATCHES))
  local runs, epoch_s, step_s = {}, {}, {}
  for _, name in ipairs(names) do
    runs[name] = new_run(name ~= "none" and name or nil)
    runs[name]:epoch(0)   -- warm-up: allocator cache, first-touch pages
    epoch_s[name], step_s[name] = {}, {}
  end
  -- the configurations take turns epoch by epoch, so drifts in the load of
  -- the machine hit all of them alike
  for epoch = 1, EPOCHS do
    for _, name in ipairs(names) do
      local e, st = runs[name]:epoch(epoch)
      epoch_s[name][epoch], step_s[name][epoch] = e, st
    end
  end
  local b = median(epoch_s.none)
  print(("   no pruning:          %7.2f ms per epoch (median of %d epochs)"):format(b * 1e3, EPOCHS))
  for _, name in ipairs({ "paper", "reference_lstm" }) do
    local w, st = median(epoch_s[name]), median(step_s[name])
    local p = runs[name].pruner
    print(("   %-20s %7.2f ms per epoch; in pruner:step %.3f ms per epoch = %.2f%%; "
      .. "epoch difference %+.2f%%; sparsity %.1f%% after %d events"):format(
      name .. ":", w * 1e3, st * 1e3, 100 * st / b, 100 * (w - b) / b,
      100 * p:sparsity(), #p.history))
  end
end
