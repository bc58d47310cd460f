-- sy.prune: schedules and their values, presets, which parameters are
-- pruned, exact counts on hand-made tensors (ties inside and across
-- tensors), each quirk of the reference code under compat = true, global
-- against layer scope, the batch counter and warm-up of Algorithm 4, a Lua
-- schedule driving a real training run, masks that never revive under Adam,
-- statistics, checkpoints (masks as "<param>.mask", resuming where training
-- stopped), finalize, and the errors a script can cause.
local sy = require("synlua")
local nn = sy.nn
local prune = sy.prune
local S = prune.schedules

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

local function near(want, got, tol)
  assert.is_true(math.abs(want - got) <= (tol or 1e-12), ("expected %.17g, got %.17g"):format(want, got))
end

-- A parameter table from flat values: { {name, tensor}, ... }.
local function params(spec)
  local out = {}
  for i, p in ipairs(spec) do
    out[i] = { p[1], sy.tensor(p[2], p[3] or "float32"):requires_grad(true) }
  end
  return out
end

-- A pruner over every tensor of a hand-made set.
local function pruner_on(spec, opts)
  opts = opts or {}
  if opts.include == nil then opts.include = "." end
  return prune.Pruner(params(spec), opts)
end

local function mask_string(m)
  local parts = {}
  for i, v in ipairs(m:flatten():totable()) do parts[i] = tostring(math.tointeger(v)) end
  return table.concat(parts)
end

local function pruned_of(p)
  local out = {}
  for _, r in ipairs(p.history) do out[#out + 1] = r.pruned end
  return out
end

-- A small regression net: Linear(8, 16) -> GELU -> Linear(16, 1).
local function mlp(seed)
  sy.manual_seed(seed or 1)
  return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 1))
end

local function regression_data(seed, n)
  sy.manual_seed(seed)
  local x = sy.randn(n, 8)
  local w = sy.randn(8, 1)
  return x, x:matmul(w) + sy.randn(n, 1) * 0.1
end

-- -------------------------------------------------------------- schedules

describe("prune schedules", function()
  it("paper_cubic follows Algorithm 2", function()
    local s = S.paper_cubic { s_min = 0.3, s_max = 0.7, warmup = 2, total = 20 }
    assert.equal(0, s(0, 1))
    assert.equal(0, s(1, 99))
    near(0.3, s(2, 0))
    near(0.35, s(11, 0))                                  -- 0.3 + 0.4 * 0.5^3
    near(0.3 + 0.4 * (12 / 18) ^ 3, s(14, 0))
    near(0.3 + 0.4 * (17 / 18) ^ 3, s(19, 0))             -- the reference's last epoch
    near(0.7, s(20, 0))
    near(0.7, s(35, 0))
    -- positional options, as nn's constructors take them
    local p = S.paper_cubic { 0.3, 0.7, 2, 20 }
    assert.equal(s(7, 0), p(7, 0))
    assert.equal('paper_cubic{s_min=0.3, s_max=0.7, warmup=2, total=20, unit="epoch"}', tostring(s))
    assert.equal(S.paper_cubic, prune.paper_cubic)
  end)

  it("polynomial is Zhu & Gupta's fast-then-slow curve", function()
    local s = S.polynomial { initial = 0.1, final = 0.5, begin = 2, finish = 10 }
    assert.equal(0, s(1, 0))
    near(0.1, s(2, 0))
    near(0.45, s(6, 0))                                   -- 0.5 - 0.4 * 0.5^3
    near(0.5 - 0.4 * 0.75 ^ 3, s(4, 0))
    near(0.5, s(10, 0))
    near(0.5, s(15, 0))
    local lin = S.polynomial { final = 0.8, finish = 4, power = 1 }
    near(0.2, lin(1, 0))
    near(0, lin(0, 0))
  end)

  it("linear, cosine and constant", function()
    local l = S.linear { initial = 0.2, final = 0.6, begin = 1, finish = 5 }
    assert.equal(0, l(0, 0))
    near(0.2, l(1, 0))
    near(0.4, l(3, 0))
    near(0.6, l(5, 0))
    near(0.6, l(9, 0))
    local c = S.cosine { final = 0.8, finish = 4 }
    near(0, c(0, 0))
    near(0.8 * (1 - math.cos(math.pi / 4)) / 2, c(1, 0))
    near(0.4, c(2, 0))
    near(0.8, c(4, 0))
    local k = S.constant(0.5)
    assert.equal(0.5, k(0, 0))
    assert.equal(0.5, k(100, 7))
    local kb = S.constant { target = 0.5, begin = 3 }
    assert.equal(0, kb(2, 50))
    assert.equal(0.5, kb(3, 0))
  end)

  it("counts batches instead of epochs with unit = 'step'", function()
    local s = S.linear { final = 0.5, finish = 100, unit = "step" }
    near(0.25, s(7, 50))
    near(0.5, s(0, 400))
  end)

  it("rejects bad settings with clear errors", function()
    has(errmsg(S.paper_cubic, { s_min = 0.8, s_max = 0.5, warmup = 2, total = 20 }),
      "prune.paper_cubic: s_min (0.8) > s_max (0.5)")
    has(errmsg(S.paper_cubic, { s_min = 0.3, s_max = 0.5, warmup = -1, total = 20 }),
      "prune.paper_cubic: option 'warmup' must be a number >= 0, got -1")
    has(errmsg(S.paper_cubic, { s_min = 0.3, s_max = 0.5, warmup = 2, total = 2 }),
      "total (2) must be greater than warmup (2)")
    has(errmsg(S.paper_cubic, { smin = 0.3, s_max = 0.5, warmup = 2, total = 20 }),
      "unknown option 'smin'")
    has(errmsg(S.paper_cubic, { s_max = 0.5, warmup = 2, total = 20 }), "option 's_min' is required")
    has(errmsg(S.polynomial, { initial = 0.6, final = 0.5, finish = 3 }), "initial (0.6) > final (0.5)")
    has(errmsg(S.linear, { final = 0.5, finish = 4, unit = "batch" }), "option 'unit' must be one of")
    has(errmsg(S.constant, -0.1), "option 'target' must be a number >= 0")
  end)
end)

-- ---------------------------------------------------------------- presets

describe("prune presets", function()
  it("hold the paper's and the reference code's settings", function()
    local p = prune.presets.paper
    assert.same({ s_min = 0.3, s_max = 0.7, warmup = 2, total = 20, every = 5, compat = false }, p)
    assert.same({ s_min = 0.1, s_max = 0.5, warmup = 2, total = 20, every = 5, compat = true },
      prune.presets.reference_rnn)
    assert.same({ s_min = 0.7, s_max = 1.2, warmup = 2, total = 20, every = 2, compat = true },
      prune.presets.reference_lstm)
    local t = prune.presets.reference_patchtst
    assert.same({ 0.01, 0.5, 5, 5, true }, { t.s_min, t.s_max, t.warmup, t.every, t.compat })
    assert.same({ "^norm%.weight$" }, t.exclude)
  end)

  it("are fresh copies and read-only", function()
    local p = prune.presets.paper
    p.s_max = 0.9
    assert.equal(0.7, prune.presets.paper.s_max)
    has(errmsg(function() prune.presets.mine = {} end), "read-only")
    has(errmsg(function() return prune.presets.papr end),
      "no preset 'papr' (presets: paper, reference_lstm, reference_patchtst, reference_rnn)")
    local names = {}
    for name in pairs(prune.presets) do names[#names + 1] = name end
    assert.same({ "paper", "reference_lstm", "reference_patchtst", "reference_rnn" }, names)
  end)

  it("select the reference code's prunable sets on the paper's models", function()
    local rnn = prune.Pruner(sy.models.RNN { input_dim = 4 }, { preset = "reference_rnn" })
    assert.same({ "rnn.weight_ih_l0", "rnn.weight_hh_l0", "fc.weight" }, rnn.names)
    local lstm = prune.Pruner(sy.models.LSTM { input_dim = 10 }, { preset = "reference_lstm" })
    assert.same({ "lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight" }, lstm.names)
    assert.equal(256 * 10 + 256 * 64 + 64, lstm.total)
    -- every Linear weight and the LayerNorm scales in the blocks, the patch
    -- projection and the head; not the final LayerNorm, pos_embed or biases
    local tst = prune.Pruner(sy.models.PaperPatchTST { input_dim = 5, seq_len = 30 },
      { preset = "reference_patchtst" })
    local want = { "patch_embed.weight" }
    for i = 0, 1 do
      for _, n in ipairs({ "attn.q", "attn.k", "attn.v", "attn.out", "ln1", "ff1", "ff2", "ln2" }) do
        want[#want + 1] = ("blocks.%d.%s.weight"):format(i, n)
      end
    end
    want[#want + 1] = "head.weight"
    assert.same(want, tst.names)
  end)

  it("build pruners, with overrides", function()
    local p = prune.Pruner(mlp(), { preset = "reference_lstm", total = 30 })
    assert.is_true(p.compat)
    assert.equal(2, p.every)
    assert.equal(2, p.warmup)
    near(0.7 + 0.5 * (10 / 28) ^ 3, p.schedule(12, 0))
    local q = prune.Pruner(mlp(), { preset = "paper", schedule = S.constant(0.2) })
    assert.equal(0.2, q.schedule(5, 0))
    assert.equal(2, q.warmup)                 -- the preset's timing stays
    assert.equal(5, q.every)
  end)
end)

-- ------------------------------------------------------------ selection

describe("prune selection", function()
  it("prunes parameters whose names contain 'weight' by default; biases are never touched", function()
    local m = mlp()
    local p = prune.Pruner(m)
    assert.same({ "0.weight", "2.weight" }, p.names)
    assert.equal(8 * 16 + 16, p.total)
    local b0, b2 = m[1].bias:clone(), m[3].bias:clone()
    p:prune(0.9)
    assert.equal(0, (m[1].bias - b0):abs():max():item())
    assert.equal(0, (m[3].bias - b2):abs():max():item())
    assert.equal(math.floor(0.9 * 144), p:stats().pruned)
  end)

  it("takes include and exclude patterns and a predicate", function()
    local m = mlp()
    assert.same({ "0.weight" }, prune.Pruner(m, { exclude = "^2%." }).names)
    assert.same({ "0.weight", "0.bias" }, prune.Pruner(m, { include = "^0%." }).names)
    assert.same({ "2.weight", "2.bias" }, prune.Pruner(m, {
      filter = function(name, t) return t:size(1) == 1 end }).names)
    assert.same({ "2.weight" }, prune.Pruner(m, {
      include = { "weight" }, filter = function(_, t) return t:dim() == 2 and t:size(1) == 1 end }).names)
    assert.same({ "0.weight" }, prune.Pruner(m, {
      exclude = { "^2", "norm" }, allow_unmatched = true }).names)
  end)

  it("prunes exactly floor(s*N) - pruned weights, the smallest first", function()
    local ps = params { { "a", { 0.5, -0.1, 0.3, 0.2 } }, { "b", { { -0.4, 0.05 }, { 0.6, -0.7 } } } }
    local p = prune.Pruner(ps, { include = "." })
    local r = p:prune(0.5)
    assert.equal(4, r.pruned)
    near(0.5, r.achieved)
    assert.equal("1000", mask_string(p.masks.a))
    assert.equal("1011", mask_string(p.masks.b))
    assert.same({ 0.5, 0, 0, 0 }, ps[1][2]:double():totable())
    assert.equal(0, p:prune(0.5).pruned)
    assert.equal(2, p:prune(0.8).pruned)                  -- floor(6.4) = 6
    assert.equal(0, p:prune(0.2).pruned)                  -- masks never revive
    assert.equal("0011", mask_string(p.masks.b))
  end)

  it("breaks ties by parameter order, then flat index, also across layers", function()
    local p = pruner_on { { "first", { 1, -1, 1 } }, { "second", { -1, 1, 1 } } }
    p:prune(0.5)                                          -- 3 of 6
    assert.equal("000", mask_string(p.masks.first))
    assert.equal("111", mask_string(p.masks.second))
    p:prune(0.7)                                          -- floor(4.2) = 4
    assert.equal("011", mask_string(p.masks.second))
  end)

  it("global scope ranks all tensors together, layer scope each on its own", function()
    local function two() return params { { "small.weight", { 0.1, 0.2, 0.3, 0.4 } },
                                         { "big.weight", { 10, 20, 30, 40 } } } end
    local g = prune.Pruner(two())
    g:prune(0.5)
    assert.equal("0000", mask_string(g.masks["small.weight"]))
    assert.equal("1111", mask_string(g.masks["big.weight"]))
    local l = prune.Pruner(two(), { scope = "layer" })
    l:prune(0.5)
    assert.equal("0011", mask_string(l.masks["small.weight"]))
    assert.equal("0011", mask_string(l.masks["big.weight"]))
    local st = l:stats()
    assert.equal(0.5, st.by_name["small.weight"].sparsity)
    assert.equal(0.5, st.by_name["big.weight"].sparsity)
  end)

  it("keeps the masks in one arena, one view per parameter", function()
    local p = prune.Pruner(mlp())
    local a, b = p.masks["0.weight"], p.masks["2.weight"]
    assert.equal("uint8", a:dtype())
    assert.same({ 16, 8 }, a:size())
    assert.same({ 1, 16 }, b:size())
    assert.is_true(a:shares_storage(b))
    assert.equal(128, b:storage_offset())
  end)
end)

-- ------------------------------------------------ compat: the reference code

describe("prune compat mechanics", function()
  local TEN = { 0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 1.0 }

  it("thresholds at the k-th smallest with strict <: k - 1 weights", function()
    local p = pruner_on({ { "w", TEN } }, { compat = true })
    local r = p:prune(0.5)
    assert.equal(5, r.k)
    assert.equal(4, r.pruned)
    near(0.5, r.threshold, 1e-7)
    assert.equal("1010101011", mask_string(p.masks.w))
    local exact = pruner_on { { "w", TEN } }
    assert.equal(5, exact:prune(0.5).pruned)
  end)

  it("prunes nothing when the magnitudes tie", function()
    local p = pruner_on({ { "a", { 0.25, -0.25, 0.25 } }, { "b", { 0.25, -0.25, 2 } } }, { compat = true })
    local r = p:prune(0.5)
    assert.equal(3, r.k)
    assert.equal(0, r.pruned)
    assert.equal(0, p:stats().pruned)
  end)

  it("changes the masks once per epoch: later events find k = 1", function()
    local p = pruner_on({ { "w", TEN } }, { compat = true, every = 1, warmup = 0,
      schedule = function(epoch) return epoch == 0 and 0.5 or 0.7 end })
    for epoch = 0, 1 do
      for _ = 1, 3 do p:step(epoch) end
    end
    assert.same({ 4, 0, 0, 2, 0, 0 }, pruned_of(p))
    assert.same({ 5, 1, 1, 3, 1, 1 }, (function()
      local ks = {}
      for i, r in ipairs(p.history) do ks[i] = r.k end
      return ks
    end)())
  end)

  it("drops fully pruned tensors from the denominator and overshoots", function()
    local set = { { "a", { 0.01, 0.02, 0.03, 0.04, 0.05 } }, { "b", { 1, 2, 3, 4, 5 } } }
    local p = pruner_on(set, { compat = true })
    assert.same({ 4, 1, 2, 0 }, { p:prune(0.5).pruned, p:prune(0.6).pruned, p:prune(0.6).pruned,
                                  p:prune(0.6).pruned })
    near(0.7, p:sparsity())                               -- target 0.6
    assert.equal("00111", mask_string(p.masks.b))
    local e = pruner_on(set)
    e:prune(0.5); e:prune(0.6); e:prune(0.6)
    near(0.6, e:sparsity())
  end)

  it("does nothing when k == 0 or k >= active; targets >= 1 stop pruning silently", function()
    local p = pruner_on({ { "w", { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 } } }, { compat = true })
    assert.equal(0, p:prune(0.05).pruned)                 -- k = floor(0.5) = 0
    assert.equal(0, p:prune(1.0).pruned)                  -- k = 10 = active
    assert.equal(0, p:prune(1.2).pruned)
    assert.is_nil(p:prune(1.2).threshold)
    assert.equal(8, p:prune(0.99).pruned)
    -- the LSTM preset's schedule passes 1 in the last epochs: no error, no pruning
    local m = mlp()
    local q = prune.Pruner(m, { preset = "reference_lstm" })
    assert.is_true(q.schedule(18, 0) >= 1)
    q.batch = 1                                           -- the next step is an event (every 2)
    local r = q:step(18)
    assert.is_true(r.target >= 1)
    assert.equal(0, r.pruned)
    assert.equal(0, q:sparsity())
  end)

  it("counts batches over all epochs, warm-up included, as Algorithm 4", function()
    local seen = {}
    local p = prune.Pruner(mlp(), { every = 5, warmup = 2, schedule = function(epoch, step)
      seen[#seen + 1] = { epoch, step }
      return 0.1
    end })
    for epoch = 0, 4 do
      for _ = 1, 3 do p:step(epoch) end
    end
    -- batches 1..15, epoch = floor((batch - 1) / 3); events at 10 and 15 (epoch >= 2)
    assert.same({ { 3, 10 }, { 4, 15 } }, seen)
    assert.equal(15, p.batch)
  end)

  it("prunes once per epoch with every = 'epoch'", function()
    local p = prune.Pruner(mlp(), { every = "epoch", warmup = 1, schedule = function(epoch)
      return 0.1 * epoch
    end })
    local events = {}
    for epoch = 0, 3 do
      for b = 1, 4 do
        if p:step(epoch) then events[#events + 1] = { epoch, b } end
      end
    end
    assert.same({ { 1, 1 }, { 2, 1 }, { 3, 1 } }, events)
    near(math.floor(0.3 * 144) / 144, p:sparsity())
  end)
end)

-- -------------------------------------------------------------- training

describe("prune during training", function()
  it("follows a Lua schedule function through a real Adam run", function()
    local m = mlp(3)
    local x, y = regression_data(4, 256)
    local opt = sy.optim.Adam(m:parameters(), { lr = 1e-2 })
    local calls = {}
    local pruner = prune.Pruner(m, { warmup = 1, every = 4, schedule = function(epoch, step)
      calls[#calls + 1] = { epoch, step }
      return math.min(0.15 * epoch, 0.6)
    end }):attach(opt)
    local crit = nn.MSELoss()
    local first, last
    for epoch = 0, 5 do
      for b = 0, 7 do
        local xb, yb = x:narrow(1, b * 32 + 1, 32), y:narrow(1, b * 32 + 1, 32)
        local loss = crit(m(xb), yb)
        opt:zero_grad()
        loss:backward()
        pruner:step(epoch)
        opt:step()
        first = first or loss:item()
        last = loss:item()
      end
    end
    -- events at batches 12, 16, ..., 48 (epoch >= 1 starts at batch 9)
    assert.equal(10, #calls)
    for i, c in ipairs(calls) do
      local step = 8 + 4 * i
      assert.same({ (step - 1) // 8, step }, c)
      local r = pruner.history[i]
      assert.equal(c[1], r.epoch)
      assert.equal(step, r.step)
      near(math.min(0.15 * c[1], 0.6), r.target)
      near(math.floor(r.target * 144) / 144, r.achieved)  -- exact mechanics
    end
    near(math.floor(0.6 * 144) / 144, pruner:sparsity())
    for _, name in ipairs(pruner.names) do
      local w, mask = m:named_parameters()[name], pruner.masks[name]
      assert.equal(0, (w * (1 - mask:float())):abs():max():item())
    end
    assert.is_true(last < 0.5 * first, ("loss %g -> %g"):format(first, last))
  end)

  it("never lets a masked weight come back over 100 Adam steps", function()
    local function run(attach)
      local m = mlp(5)
      local x, y = regression_data(6, 64)
      local opt = sy.optim.Adam(m:parameters(), { lr = 1e-2 })
      local pruner = prune.Pruner(m)
      pruner:prune(0.5)
      if attach then pruner:attach(opt) end
      local revived, w0 = 0, m[1].weight:clone()
      for _ = 1, 100 do
        local loss = sy.mse_loss(m(x), y)
        opt:zero_grad()
        loss:backward()
        opt:step()
        for _, name in ipairs(pruner.names) do
          local w, mask = m:named_parameters()[name], pruner.masks[name]
          revived = revived + (w * (1 - mask:float())):ne(0):sum():item()
        end
      end
      return revived, m, opt, pruner, w0
    end
    local revived, m, opt, pruner, w0 = run(true)
    assert.equal(0, revived)
    assert.equal(72, pruner:stats().pruned)
    -- gradients did reach the pruned weights: Adam's moments are not zero there
    local off = 1 - pruner.masks["0.weight"]:float()
    assert.is_true((opt.state[1].exp_avg * off):abs():sum():item() > 0)
    -- and the active ones trained
    local on = pruner.masks["0.weight"]:float()
    assert.is_true(((m[1].weight - w0) * on):abs():max():item() > 1e-3)
    -- without the optimizer's mask pass they would come back
    assert.is_true(run(false) > 0)
  end)

  it("prunes an LSTM regression with the paper's schedule", function()
    sy.manual_seed(11)
    local Net = nn.Module:extend("PruneSpecLSTM")
    function Net:__init() self.lstm = nn.LSTM(3, 8); self.fc = nn.Linear(8, 1) end
    function Net:forward(x)
      local out = self.lstm(x)
      return self.fc(out:select(2, out:size(2)))
    end
    local m = Net()
    local x = sy.randn(32, 5, 3)
    local y = x:sum(2):sum(2):view(32, 1) * 0.3
    local opt = sy.optim.Adam(m:parameters(), { lr = 1e-2 })
    local p = prune.Pruner(m, { s_min = 0.3, s_max = 0.7, warmup = 1, total = 4, every = 2 }):attach(opt)
    assert.same({ "lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight" }, p.names)
    for epoch = 0, 4 do
      for b = 0, 3 do
        local loss = sy.mse_loss(m(x:narrow(1, b * 8 + 1, 8)), y:narrow(1, b * 8 + 1, 8))
        opt:zero_grad(); loss:backward(); p:step(epoch); opt:step()
      end
    end
    local total = 32 * 3 + 32 * 8 + 8
    assert.equal(total, p.total)
    assert.equal(math.floor(p.schedule(4, 0) * total), p:stats().pruned)
    assert.equal(8, #p.history)                           -- batches 6, 8, ..., 20
    local w = m.lstm.weight_hh_l0
    assert.equal(p:stats().by_name["lstm.weight_hh_l0"].pruned,
      w:eq(0):sum():item())
  end)
end)

-- ------------------------------------------------------------ statistics

describe("prune statistics", function()
  it("reports each tensor and the global figure (Algorithm 6)", function()
    local ps = params { { "a.weight", { 1, 2, 3, 4 } }, { "b.weight", { 5, 6, 7, 8, 9, 10 } } }
    local p = prune.Pruner(ps)
    p:prune(0.5)
    local s = p:stats()
    assert.same({ name = "a.weight", total = 4, pruned = 4, sparsity = 1 }, s.tensors[1])
    assert.same({ name = "b.weight", total = 6, pruned = 1, sparsity = 1 / 6 }, s.tensors[2])
    assert.equal(s.tensors[2], s.by_name["b.weight"])
    assert.same({ 10, 5, 0.5 }, { s.total, s.pruned, s.sparsity })
    assert.equal(table.concat({
      "parameter  total  pruned  sparsity",
      "a.weight       4       4   100.00%",
      "b.weight       6       1    16.67%",
      "global        10       5    50.00%",
    }, "\n"), tostring(s))
    local h = tostring(p.history)
    has(h, " epoch    step    target  achieved   pruned")
    has(h, "     -       0    0.5000    0.5000        5")
    has(tostring(p), "Pruner(global scope, exact mechanics, 2 tensors, 10 weights")
    has(tostring(p), "sparsity 50.00%")
  end)
end)

-- ------------------------------------------------------------ checkpoints

describe("prune checkpoints", function()
  local path = os.tmpname()
  after_each(function() os.remove(path) end)

  -- Two epochs of 4 batches from `start`, pruning every 3 batches.
  local function train(m, opt, pruner, x, y, first_epoch, epochs)
    for epoch = first_epoch, first_epoch + epochs - 1 do
      for b = 0, 3 do
        local loss = sy.mse_loss(m(x:narrow(1, b * 16 + 1, 16)), y:narrow(1, b * 16 + 1, 16))
        opt:zero_grad(); loss:backward(); pruner:step(epoch); opt:step()
      end
    end
  end

  local function setup(seed)
    local m = mlp(seed)
    local opt = sy.optim.Adam(m:parameters(), { lr = 1e-2 })
    local pruner = prune.Pruner(m, { every = 3, schedule = S.linear { initial = 0.2, final = 0.8, begin = 1, finish = 5 } })
    return m, opt, pruner:attach(opt)
  end

  it("round-trips masks, weights and the pruner's position; training resumes identically", function()
    local x, y = regression_data(8, 64)
    local m, opt, pruner = setup(1)
    train(m, opt, pruner, x, y, 0, 3)
    assert.is_true(pruner:sparsity() > 0)
    pruner:save(path, opt:state_tensors())

    local raw, meta = sy.load(path)
    assert.equal("uint8", raw["0.weight.mask"]:dtype())
    assert.equal(mask_string(pruner.masks["2.weight"]), mask_string(raw["2.weight.mask"]))
    assert.is_nil(raw["0.bias.mask"])
    assert.is_not_nil(raw["0.bias"])
    assert.equal("12", meta["prune.batch"])
    assert.equal("exact", meta["prune.mode"])

    local m2, opt2, pruner2 = setup(99)                    -- different initial weights
    local t, md = pruner2:load(path)
    opt2:load_state_tensors(t, md)
    assert.equal(12, pruner2.batch)
    assert.same(pruner.history, pruner2.history)
    for _, name in ipairs(pruner.names) do
      assert.equal(mask_string(pruner.masks[name]), mask_string(pruner2.masks[name]))
    end
    assert.equal(0, (m[1].weight - m2[1].weight):abs():max():item())

    train(m, opt, pruner, x, y, 3, 2)
    train(m2, opt2, pruner2, x, y, 3, 2)
    assert.same(pruner.history, pruner2.history)
    for name, w in pairs(m:named_parameters()) do
      assert.equal(0, (w - m2:named_parameters()[name]):abs():max():item(), name)
    end
  end)

  it("loads bool masks written elsewhere and zeroes the weights", function()
    local m = mlp(2)
    local pruner = prune.Pruner(m)
    local sd = m:state_dict()
    local t = {}
    for k, v in pairs(sd) do t[k] = v end
    t["0.weight.mask"] = sy.ones(16, 8, "bool")
    t["2.weight.mask"] = sy.tensor({ { 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0 } }, "bool")
    sy.save(path, t)
    pruner:load(path)
    assert.equal(8, pruner:stats().pruned)
    near(8 / 144, pruner:sparsity())
    assert.equal(0, m[3].weight:select(2, 2):item())
    assert.equal(0, pruner.batch)                          -- no pruner metadata: a fresh start
  end)

  it("refuses checkpoints that do not fit, changing nothing", function()
    local m = mlp(2)
    local pruner = prune.Pruner(m)
    local w = m[1].weight:clone()
    local function with(masks, meta)
      local t = {}
      for k, v in pairs(m:state_dict()) do t[k] = v:clone() end
      t["0.weight"] = sy.zeros(16, 8)
      for k, v in pairs(masks) do t[k] = v end
      sy.save(path, t, meta)
      return errmsg(pruner.load, pruner, path)
    end
    has(with({ ["0.weight.mask"] = sy.ones(16, 8, "uint8") }), "no mask for: 2.weight.mask")
    has(with({ ["0.weight.mask"] = sy.ones(16, 8, "uint8"), ["2.weight.mask"] = sy.ones(1, 16, "uint8"),
               ["0.bias.mask"] = sy.ones(16, "uint8") }),
      "masks for parameters this pruner does not prune: 0.bias.mask")
    has(with({ ["0.weight.mask"] = sy.ones(8, 16, "uint8"), ["2.weight.mask"] = sy.ones(1, 16, "uint8") }),
      "mask '0.weight.mask' has shape [8,16], the parameter [16,8]")
    has(with({ ["0.weight.mask"] = sy.full({ 16, 8 }, 2, "uint8"), ["2.weight.mask"] = sy.ones(1, 16, "uint8") }),
      "mask '0.weight.mask' holds the value 2")
    has(with({ ["0.weight.mask"] = sy.ones(16, 8, "uint8"), ["2.weight.mask"] = sy.ones(1, 16, "uint8") },
      { ["prune.batch"] = "4", ["prune.mode"] = "compat", ["prune.scope"] = "global" }),
      "the checkpoint was pruned with compat mechanics, this pruner uses exact")
    assert.equal(0, (m[1].weight - w):abs():max():item())
    assert.equal(0, pruner:stats().pruned)
  end)

  it("finalize bakes the zeros in and hands the weights back to the optimizer", function()
    local m = mlp(4)
    local x, y = regression_data(5, 32)
    local opt = sy.optim.Adam(m:parameters(), { lr = 1e-2 })
    local pruner = prune.Pruner(m):attach(opt)
    pruner:prune(0.5)
    local st = pruner:finalize()
    assert.equal(72, st.pruned)
    local zeros = m[1].weight:eq(0):sum():item() + m[3].weight:eq(0):sum():item()
    assert.equal(72, zeros)
    has(errmsg(pruner.step, pruner, 3), "pruner:step: the pruner was finalized")
    has(errmsg(pruner.stats, pruner), "finalized")
    has(tostring(pruner), "sparsity finalized")
    local loss = sy.mse_loss(m(x), y)
    opt:zero_grad(); loss:backward(); opt:step()
    -- no masks any more: the optimizer moves the former zeros
    assert.is_true(m[1].weight:eq(0):sum():item() + m[3].weight:eq(0):sum():item() < 72)
  end)
end)

-- ----------------------------------------------------------------- errors

describe("prune errors", function()
  local m = mlp()

  it("names unknown options and bad values", function()
    has(errmsg(prune.Pruner, m, { sheduel = S.constant(0.1) }),
      "prune.Pruner: unknown option 'sheduel' (expected one of: allow_unmatched, compat, every,")
    has(errmsg(prune.Pruner, m, { s_min = 0.8, s_max = 0.5 }), "s_min (0.8) > s_max (0.5)")
    has(errmsg(prune.Pruner, m, { warmup = -1 }), "option 'warmup' must be a number >= 0, got -1")
    has(errmsg(prune.Pruner, m, { warmup = -1, schedule = S.constant(0.1) }),
      "prune.Pruner: warmup must be a non-negative integer (epochs), got -1")
    has(errmsg(prune.Pruner, m, { every = 0 }), "option 'every' must be a positive integer (batches) or \"epoch\"")
    has(errmsg(prune.Pruner, m, { every = "batch" }), "option 'every'")
    has(errmsg(prune.Pruner, m, { scope = "local" }), "scope must be \"global\" or \"layer\", got \"local\"")
    has(errmsg(prune.Pruner, m, { compat = "yes" }), "option 'compat' must be a boolean")
    has(errmsg(prune.Pruner, m, { schedule = 0.5 }), "option 'schedule' must be a function(epoch, step)")
    has(errmsg(prune.Pruner, m, { schedule = S.constant(0.1), s_max = 0.5 }),
      "give either 'schedule' or the cubic shorthand")
    has(errmsg(prune.Pruner, m, { preset = "reference_lstm", compat = false }),
      "the schedule reaches 1.2; targets must be in [0, 1)")
    has(errmsg(prune.Pruner, m, { preset = "nope" }), "no preset 'nope'")
    has(errmsg(prune.Pruner, 42), "expected a module or a table of parameters, got number")
  end)

  it("names patterns that match nothing or do not parse", function()
    has(errmsg(prune.Pruner, m, { include = "wieght" }),
      "include pattern 'wieght' matches no parameter (parameters: 0.weight, 0.bias, 2.weight, 2.bias;")
    has(errmsg(prune.Pruner, m, { exclude = "norm" }), "exclude pattern 'norm' matches no parameter")
    has(errmsg(prune.Pruner, m, { include = "[" }), "'[' is not a valid Lua pattern")
    has(errmsg(prune.Pruner, m, { include = "weight", exclude = "weight" }), "no parameter selected for pruning")
    has(errmsg(prune.Pruner, m, { filter = function() return 1 end }), "filter must return a boolean")
    local ints = { { "w.weight", sy.tensor({ 1, 2 }, "int64") } }
    has(errmsg(prune.Pruner, ints), "parameter 'w.weight' is int64; only float32 and float64")
  end)

  it("checks targets, epochs and the optimizer at run time", function()
    local p = prune.Pruner(m, { warmup = 0, every = 1, schedule = function() return 1.5 end })
    has(errmsg(p.step, p, 0), "pruner:step: target 1.5 (schedule, epoch 0, batch 1) is outside [0, 1)")
    local q = prune.Pruner(m, { warmup = 0, every = 1, schedule = function() return "half" end })
    has(errmsg(q.step, q, 0), "pruner:step: target must be a number, got \"half\" from the schedule at epoch 0")
    has(errmsg(q.step, q, -1), "epoch must be a non-negative integer, got -1")
    has(errmsg(q.step, q, 1.5), "epoch must be a non-negative integer, got 1.5")
    has(errmsg(q.prune, q, 1.0), "target 1.0 is outside [0, 1)")
    has(errmsg(q.prune, q, 0 / 0), "target must be a number")
    has(errmsg(q.attach, q, {}), "pruner:attach: expected an optimizer from sy.optim")
    local other = sy.optim.Adam({ m[3].weight }, { lr = 1e-3 })
    has(errmsg(q.attach, q, other), "parameter '0.weight' is not updated by this optimizer")
  end)
end)
