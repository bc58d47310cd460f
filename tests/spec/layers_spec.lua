-- The feed-forward layers sy.linear, sy.layer_norm, sy.batch_norm,
-- sy.embedding and sy.gelu: finite-difference gradient checks in float64
-- for every input, weight and bias (with and without the optional ones),
-- batch norm's modes and running statistics, embedding with repeated ids,
-- PyTorch fixtures for outputs, gradients and running stats in float32
-- (tests/fixtures/gen_layers.py), layouts, graph recording and the error
-- paths.
local sy = require("synlua")
local gradcheck = require("gradcheck")

local function leaf(t) return t:requires_grad(true) end

local function randn64(...) return leaf(sy.randn(...)) end

-- max |a - b| over all elements
local function maxdiff(a, b) return (a - b):abs():max():item() end

describe("layers: gradients against finite differences (float64)", function()
  before_each(function() sy.manual_seed(3) end)

  it("linear with a bias, over 3-d, 2-d and 1-d inputs", function()
    local w, b = randn64(5, 4, "float64"), randn64(5, "float64")
    for _, shape in ipairs({ { 2, 3, 4 }, { 3, 4 }, { 4 } }) do
      local x = randn64(shape, "float64")
      assert.is_true(gradcheck(function(x_, w_, b_) return sy.linear(x_, w_, b_) end, { x, w, b }))
    end
  end)

  it("linear without a bias, and with only the weight requiring grad", function()
    local x, w = randn64(3, 2, 4, "float64"), randn64(6, 4, "float64")
    assert.is_true(gradcheck(function(x_, w_) return sy.linear(x_, w_) end, { x, w }))
    x:requires_grad(false)
    assert.is_true(gradcheck(function(x_, w_) return sy.linear(x_, w_) end, { x, w }))
  end)

  it("layer_norm with weight and bias, without, and with another eps", function()
    local x = leaf(sy.randn(2, 3, 5, "float64") * 2 + 1)
    local w, b = randn64(5, "float64"), randn64(5, "float64")
    assert.is_true(gradcheck(function(x_, w_, b_) return sy.layer_norm(x_, w_, b_) end, { x, w, b }))
    assert.is_true(gradcheck(function(x_) return sy.layer_norm(x_) end, { x }))
    assert.is_true(gradcheck(function(x_, w_) return sy.layer_norm(x_, w_, nil, 0.1) end, { x, w }))
  end)

  for _, shape in ipairs({ { 6, 3 }, { 4, 3, 5 } }) do
    local label = #shape .. "-d input"
    it("batch_norm in training mode, " .. label, function()
      local x = leaf(sy.randn(shape, "float64") * 1.5 + 0.5)
      local w, b = randn64(3, "float64"), randn64(3, "float64")
      local rm, rv = sy.zeros(3, "float64"), sy.ones(3, "float64")
      assert.is_true(gradcheck(function(x_, w_, b_)
        return sy.batch_norm(x_, rm, rv, w_, b_, true)
      end, { x, w, b }))
      assert.is_true(gradcheck(function(x_)
        return sy.batch_norm(x_, nil, nil, nil, nil, true, 0.1, 0.01)
      end, { x }))
    end)

    it("batch_norm in evaluation mode, " .. label, function()
      local x = randn64(shape, "float64")
      local w, b = randn64(3, "float64"), randn64(3, "float64")
      local rm, rv = sy.randn(3, "float64"), sy.rand(3, "float64") + 0.5
      assert.is_true(gradcheck(function(x_, w_, b_)
        return sy.batch_norm(x_, rm, rv, w_, b_, false)
      end, { x, w, b }))
      assert.is_true(gradcheck(function(x_) return sy.batch_norm(x_, rm, rv) end, { x }))
    end)
  end

  it("embedding's weight, with repeated ids", function()
    local ids = sy.tensor({ { 1, 4, 4 }, { 6, 1, 4 } }, "int64")
    local w = randn64(6, 3, "float64")
    assert.is_true(gradcheck(function(w_) return sy.embedding(ids, w_) end, { w }))
  end)

  it("gelu, exact and tanh-approximated", function()
    local x = leaf(sy.linspace(-5, 5, 23, "float64"):reshape(1, 23) + sy.randn(2, 23, "float64") * 0.1)
    assert.is_true(gradcheck(function(x_) return sy.gelu(x_) end, { x }))
    assert.is_true(gradcheck(function(x_) return sy.gelu(x_, "none") end, { x }))
    assert.is_true(gradcheck(function(x_) return sy.gelu(x_, "tanh") end, { x }))
  end)
end)

-- ------------------------------------------------------------ values

describe("layers: values", function()
  before_each(function() sy.manual_seed(7) end)

  it("linear is x w^T + b over every leading dim", function()
    local x, w, b = sy.randn(2, 3, 4, "float64"), sy.randn(5, 4, "float64"), sy.randn(5, "float64")
    local y = sy.linear(x, w, b)
    assert.same({ 2, 3, 5 }, y:size())
    assert.True(maxdiff(y, x:matmul(w:t()) + b) < 1e-12)
    assert.True(maxdiff(sy.linear(x, w), x:matmul(w:t())) < 1e-12)
  end)

  it("linear's gradients at two threads (dx and dw side by side) are those of one thread, bit for bit", function()
    local function grads(threads)
      sy.manual_seed(11)
      local x, w, b = leaf(sy.randn(300, 64)), leaf(sy.randn(96, 64)), leaf(sy.randn(96))
      local gy = sy.randn(300, 96)
      sy.set_num_threads(threads)
      local ok, err = pcall(function() (sy.linear(x, w, b) * gy):sum():backward() end)
      sy.set_num_threads(1)
      assert(ok, err)
      return { x.grad:totable(), w.grad:totable(), b.grad:totable() }
    end
    local one, two = grads(1), grads(2)
    -- against a float64 reference as well, so both cannot be wrong alike
    assert.same(one, two)
    sy.manual_seed(11)
    local x, w = sy.randn(300, 64):double(), sy.randn(96, 64):double()
    sy.randn(96)
    local gy = sy.randn(300, 96):double()
    local dx, dw = gy:matmul(w), gy:t():matmul(x)
    assert.True(maxdiff(sy.tensor(one[1], "float64"), dx) < 1e-3)
    assert.True(maxdiff(sy.tensor(one[2], "float64"), dw) < 1e-3)
    assert.True(maxdiff(sy.tensor(one[3], "float64"), gy:sum(1)) < 1e-3)
  end)

  it("linear with no input features gives the bias, and with no rows an empty result", function()
    local y = sy.linear(sy.zeros(3, 0), sy.zeros(2, 0), sy.tensor({ 1.5, -2 }))
    assert.same({ { 1.5, -2 }, { 1.5, -2 }, { 1.5, -2 } }, y:totable())
    local w = leaf(sy.randn(2, 4))
    local e = sy.linear(sy.zeros(0, 4), w)
    assert.same({ 0, 2 }, e:size())
    e:sum():backward()
    assert.same({ { 0, 0, 0, 0 }, { 0, 0, 0, 0 } }, w.grad:totable())
  end)

  it("layer_norm normalises each row with the biased variance, eps inside the root", function()
    local x = sy.randn(4, 6, "float64") * 3 + 2
    local w, b = sy.randn(6, "float64"), sy.randn(6, "float64")
    local m, v = x:mean(2, true), x:var(2, true, false)
    local want = (x - m) / (v + 1e-5):sqrt() * w + b
    assert.True(maxdiff(sy.layer_norm(x, w, b), want) < 1e-12)
    want = (x - m) / (v + 0.5):sqrt()
    assert.True(maxdiff(sy.layer_norm(x, nil, nil, 0.5), want) < 1e-12)
  end)

  -- Float32 rows take their sums in float: shifted by the row's first value
  -- and with the mean kept in two floats, so rows far from 0 lose nothing
  -- (a plain float sum of 64 values near 1000 puts ~1e-4 into y). dx, dw
  -- and db read the mean saved in float32, as PyTorch does, hence their
  -- looser bounds. D = 37 takes the partial-vector paths.
  it("layer_norm in float32 on rows with a large mean matches float64 on the same values", function()
    for _, D in ipairs({ 64, 37 }) do
      local x = sy.randn(200, D) + 1000
      local w, b, g = sy.randn(D), sy.randn(D), sy.randn(200, D)
      local function run(x_, w_, b_, g_)
        x_, w_, b_ = leaf(x_), leaf(w_), leaf(b_)
        local y = sy.layer_norm(x_, w_, b_)
        y:backward(g_)
        return { y, x_.grad, w_.grad, b_.grad }
      end
      local want = run(x:double(), w:double(), b:double(), g:double())
      local got = run(x, w, b, g)
      assert.equal("float32", got[1]:dtype())
      local err = {}
      for k = 1, 4 do err[k] = maxdiff(got[k]:double(), want[k]) end
      assert.True(err[1] < 4e-6, "y off by " .. err[1])
      assert.True(err[2] < 2e-4, "dx off by " .. err[2])
      assert.True(err[3] < 4e-3, "dw off by " .. err[3])
      assert.True(err[4] < 1e-4, "db off by " .. err[4])
    end
  end)

  it("gelu matches its formulas", function()
    local x = sy.linspace(-4, 4, 17, "float64")
    local exact, tanh = sy.gelu(x):totable(), sy.gelu(x, "tanh"):totable()
    local c = math.sqrt(2 / math.pi)
    for i, v in ipairs(x:totable()) do
      local t = 0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v ^ 3)))
      assert.near(t, tanh[i], 1e-14)
    end
    -- exact values at a few points (erf(1/sqrt 2) = 0.682689492137086, erf(sqrt 2) = 0.954499736103642)
    local at = { [-2] = -2 * 0.5 * (1 - 0.954499736103642), [-1] = -0.5 * (1 - 0.682689492137086),
                 [0] = 0, [1] = 0.5 * (1 + 0.682689492137086), [2] = 1 + 0.954499736103642 }
    for v, want in pairs(at) do assert.near(want, exact[(v + 4) * 2 + 1], 1e-14) end
  end)

  it("gelu in float32 (eight lanes): forward and gradient against float64, special values", function()
    -- 20001 points over [-10, 10] (a tail past the vector width). Below -5 the float64 path itself
    -- cancels (1 + erf, 1 + tanh), so the reference there is Phi from its continued fraction and
    -- the tanh form as x sigmoid(2u). Measured (ulp = 2^-23 relative): exact form 3.08 forward,
    -- 3.57 gradient (where |y'| >= 0.1 near its zero at -0.75, 1.94 elsewhere); tanh form 2.64 /
    -- 3.56 from -1.5 up, growing with |u| below (95 at x = -9.6: u's own rounding, amplified by
    -- exp); |gradient error| 4.7e-8 / 6.1e-8 where |y'| < 0.1 around its zero.
    local K, C = math.sqrt(2 / math.pi), 0.044715
    local function phi(v) return math.exp(-v * v / 2) / math.sqrt(2 * math.pi) end
    local function tail(approx, x)
      if approx == "none" then
        local v, f = -x, -x
        for k = 60, 1, -1 do f = v + k / f end
        local P = phi(v) / f
        return x * P, P + x * phi(v)
      end
      local E = math.exp(2 * K * (x + C * x ^ 3))
      local s, r = E / (1 + E), 1 / (1 + E)
      return x * s, s * (1 + 2 * x * r * K * (1 + 3 * C * x * x))
    end
    local n, xs = 20001, {}
    for i = 1, n do xs[i] = -10 + 20 * (i - 1) / (n - 1) end
    local x32 = leaf(sy.tensor(xs))
    local x64 = leaf(x32:detach():double())
    local ulp = 2 ^ -23
    for _, approx in ipairs({ "none", "tanh" }) do
      x32.grad, x64.grad = nil, nil
      local y32, y64 = sy.gelu(x32, approx), sy.gelu(x64, approx)
      y32:sum():backward()
      y64:sum():backward()
      local f, g = y32:totable(), x32.grad:totable()
      local F, G, xv = y64:totable(), x64.grad:totable(), x64:detach():totable()
      local fr, gr, fr_tail, gr_tail, gabs = 0, 0, 0, 0, 0
      for i = 1, n do
        local v, wf, wg = xv[i], F[i], G[i]
        if v < -5 then wf, wg = tail(approx, v) end
        local ef = wf == 0 and math.abs(f[i]) or math.abs(f[i] - wf) / math.abs(wf)
        local eg = math.abs(g[i] - wg) / math.abs(wg)
        if math.abs(wg) < 0.1 and v > -1.5 then
          gabs = math.max(gabs, math.abs(g[i] - wg))   -- where the gradient crosses 0
        elseif approx == "tanh" and v < -1.5 then
          gr_tail = math.max(gr_tail, eg)
        else
          gr = math.max(gr, eg)
        end
        if approx == "tanh" and v < -1.5 then fr_tail = math.max(fr_tail, ef) else fr = math.max(fr, ef) end
      end
      assert.is_true(fr <= 4 * ulp, approx .. " forward off by " .. fr / ulp .. " ulp")
      assert.is_true(gr <= 4 * ulp, approx .. " gradient off by " .. gr / ulp .. " ulp")
      assert.is_true(gabs <= 1e-7, approx .. " gradient off by " .. gabs .. " near its zero")
      assert.is_true(fr_tail <= 128 * ulp and gr_tail <= 128 * ulp, approx .. " tail off")
    end

    local inf = math.huge
    local s = { -inf, inf, 0 / 0, -0.0, 0, -20, 20, -1e30, 1e30, 1e-30 }
    for _, approx in ipairs({ "none", "tanh" }) do
      local x = leaf(sy.tensor(s))
      local y = sy.gelu(x, approx)
      y:sum():backward()
      local v, d = y:totable(), x.grad:totable()
      assert.same({ 0, inf }, { v[1], v[2] })                 -- not -inf * 0
      assert.is_true(v[3] ~= v[3] and d[3] ~= d[3])           -- NaN stays NaN
      assert.equals(-inf, 1 / v[4])                           -- -0 keeps its sign
      assert.same({ 0, 0, 20, 0, x[9] }, { v[5], v[6], v[7], v[8], v[9] })
      assert.is_true(math.abs(v[10] / 5e-31 - 1) < 1e-6)
      assert.same({ 0, 1, 0.5, 0.5, 0, 1, 0, 1 }, { d[1], d[2], d[4], d[5], d[6], d[7], d[8], d[9] })
    end
  end)
end)

-- ------------------------------------------------------------ batch norm

describe("layers: batch_norm modes and running statistics", function()
  before_each(function() sy.manual_seed(9) end)

  -- per-channel mean and unbiased variance of x [N, C] or [N, C, L]
  local function channel_stats(x)
    local C = x:size(2)
    local flat = x:dim() == 3 and x:transpose(1, 2):reshape(C, -1) or x:t()
    return flat:mean(2), flat:var(2, false, true), flat:var(2, false, false)
  end

  for _, shape in ipairs({ { 7, 3 }, { 4, 3, 5 } }) do
    it("training normalises with batch stats and updates the running ones, " .. #shape .. "-d", function()
      local x = sy.randn(shape, "float64") * 2 + 1
      local w, b = sy.randn(3, "float64"), sy.randn(3, "float64")
      local rm0, rv0 = sy.randn(3, "float64"), sy.rand(3, "float64") + 0.5
      local rm, rv = rm0:clone(), rv0:clone()
      local y = sy.batch_norm(x, rm, rv, w, b, true, 0.2, 1e-3)
      local mean, uvar, bvar = channel_stats(x)
      assert.True(maxdiff(rm, rm0 * 0.8 + mean * 0.2) < 1e-12)
      assert.True(maxdiff(rv, rv0 * 0.8 + uvar * 0.2) < 1e-12)
      local bshape = #shape == 3 and { 1, 3, 1 } or { 1, 3 }
      local want = (x - mean:view(bshape)) / (bvar:view(bshape) + 1e-3):sqrt() * w:view(bshape)
                   + b:view(bshape)
      assert.True(maxdiff(y, want) < 1e-12)
      -- defaults: momentum 0.1, eps 1e-5
      rm, rv = rm0:clone(), rv0:clone()
      y = sy.batch_norm(x, rm, rv, nil, nil, true)
      assert.True(maxdiff(rm, rm0 * 0.9 + mean * 0.1) < 1e-12)
      assert.True(maxdiff(rv, rv0 * 0.9 + uvar * 0.1) < 1e-12)
      want = (x - mean:view(bshape)) / (bvar:view(bshape) + 1e-5):sqrt()
      assert.True(maxdiff(y, want) < 1e-12)
    end)

    it("evaluation normalises with the running stats and leaves them alone, " .. #shape .. "-d", function()
      local x = sy.randn(shape, "float64")
      local w, b = sy.randn(3, "float64"), sy.randn(3, "float64")
      local rm0, rv0 = sy.randn(3, "float64"), sy.rand(3, "float64") + 0.5
      local rm, rv = rm0:clone(), rv0:clone()
      local bshape = #shape == 3 and { 1, 3, 1 } or { 1, 3 }
      local want = (x - rm0:view(bshape)) / (rv0:view(bshape) + 1e-5):sqrt() * w:view(bshape)
                   + b:view(bshape)
      assert.True(maxdiff(sy.batch_norm(x, rm, rv, w, b, false), want) < 1e-12)
      assert.True(maxdiff(sy.batch_norm(x, rm, rv, w, b), want) < 1e-12)   -- training defaults to false
      assert.equal(0, maxdiff(rm, rm0))
      assert.equal(0, maxdiff(rv, rv0))
    end)
  end

  it("trains without running stats", function()
    local x = sy.randn(5, 2, "float64")
    local mean, _, bvar = channel_stats(x)
    local y = sy.batch_norm(x, nil, nil, nil, nil, true)
    assert.True(maxdiff(y, (x - mean:view(1, 2)) / (bvar:view(1, 2) + 1e-5):sqrt()) < 1e-12)
  end)

  it("updates running stats that are strided views in place", function()
    local x = sy.randn(6, 3, "float64")
    local store = sy.zeros(2, 3, "float64")
    store:select(1, 2):fill_(1)
    local rm, rv = store:select(1, 1), store:select(1, 2)   -- rows of one buffer
    local strided = sy.zeros(3, 2, "float64")
    local rm2 = strided:select(2, 1)                        -- stride 2
    assert.is_false(rm2:is_contiguous())
    sy.batch_norm(x, rm, rv, nil, nil, true)
    sy.batch_norm(x, rm2, sy.ones(3, "float64"), nil, nil, true)
    local mean, uvar = channel_stats(x)
    assert.True(maxdiff(store:select(1, 1), mean * 0.1) < 1e-12)
    assert.True(maxdiff(store:select(1, 2), uvar * 0.1 + 0.9) < 1e-12)
    assert.True(maxdiff(strided:select(2, 1), mean * 0.1) < 1e-12)
    assert.equal(0, strided:select(2, 2):abs():max():item())
  end)

  it("backward in evaluation mode uses the stats of the forward, not later updates", function()
    local x = randn64(6, 3, "float64")
    local rm, rv = sy.randn(3, "float64"), sy.rand(3, "float64") + 0.5
    local rv0 = rv:clone()
    local y = sy.batch_norm(x, rm, rv)
    sy.batch_norm(sy.randn(6, 3, "float64") * 5, rm, rv, nil, nil, true)   -- moves the stats
    y:backward(sy.ones(6, 3, "float64"))
    local want = (rv0 + 1e-5):rsqrt():view(1, 3):expand(6, 3)
    assert.True(maxdiff(x.grad, want) < 1e-12)
  end)
end)

-- ------------------------------------------------------------ embedding

describe("layers: embedding", function()
  it("gathers rows by 1-based id, in the ids' shape", function()
    local w = sy.tensor({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, "float64")
    local y = sy.embedding(sy.tensor({ { 3, 1 }, { 2, 3 } }, "int64"), w)
    assert.same({ { { 5, 6 }, { 1, 2 } }, { { 3, 4 }, { 5, 6 } } }, y:totable())
    assert.same({ 3, 4 }, sy.embedding(sy.tensor(2, "int64"), w):totable())
    assert.same({ 0, 2 }, sy.embedding(sy.zeros(0, "int64"), w):size())
  end)

  it("adds up the gradient rows of repeated ids", function()
    local w = leaf(sy.zeros(4, 2, "float64"))
    local ids = sy.tensor({ 2, 4, 2, 2 }, "int64")
    local g = sy.tensor({ { 1, 10 }, { 2, 20 }, { 3, 30 }, { 4, 40 } }, "float64")
    sy.embedding(ids, w):backward(g)
    assert.same({ { 0, 0 }, { 8, 80 }, { 0, 0 }, { 2, 20 } }, w.grad:totable())
  end)

  it("keeps its own ids for the backward", function()
    local w = leaf(sy.zeros(3, 1, "float64"))
    local ids = sy.tensor({ 1, 1 }, "int64")
    local y = sy.embedding(ids, w)
    ids:fill_(99)   -- a refilled batch buffer must not move the gradient (or write out of bounds)
    y:backward(sy.ones(2, 1, "float64"))
    assert.same({ { 2 }, { 0 }, { 0 } }, w.grad:totable())
  end)
end)

-- ------------------------------------------------------------ PyTorch

local fixture_path = (os.getenv("SYNLUA_SOURCE_DIR") or ".") .. "/tests/fixtures/layers.safetensors"

-- One line per tensor with its max abs and rel error; `bad` when some
-- element is outside atol + rtol * |want|.
local function compare(label, got, want, atol, rtol)
  assert.same(want:size(), got:size())
  local diff = (got - want):abs()
  local bad = diff:numel() > 0 and (diff - (want:abs() * rtol + atol)):max():item() > 0
  local line = string.format("%-22s max abs err %.3g, max rel err %.3g", label, diff:max():item(),
                             (diff / (want:abs() + 1e-30)):max():item())
  return bad, line
end

local function bn(a, training, momentum, eps)
  return sy.batch_norm(a.x, a.running_mean, a.running_var, a.weight, a.bias, training, momentum, eps)
end

-- The functional call of each fixture case on a (its tensors as leaves).
local CASES = {
  linear = function(a) return sy.linear(a.x, a.weight, a.bias) end,
  linear_nobias = function(a) return sy.linear(a.x, a.weight) end,
  layer_norm = function(a) return sy.layer_norm(a.x, a.weight, a.bias) end,
  layer_norm_plain = function(a) return sy.layer_norm(a.x, nil, nil, 1e-3) end,
  batch_norm_train_2d = function(a) return bn(a, true) end,
  batch_norm_train_3d = function(a) return bn(a, true) end,
  batch_norm_train_3d_m = function(a) return bn(a, true, 0.3, 1e-3) end,
  batch_norm_eval_2d = function(a) return bn(a, false) end,
  batch_norm_eval_3d = function(a) return bn(a, false) end,
  embedding = function(a) return sy.embedding(a.x, a.weight) end,
  gelu_none = function(a) return sy.gelu(a.x) end,
  gelu_tanh = function(a) return sy.gelu(a.x, "tanh") end,
}
local ORDER = { "linear", "linear_nobias", "layer_norm", "layer_norm_plain", "batch_norm_train_2d",
                "batch_norm_train_3d", "batch_norm_train_3d_m", "batch_norm_eval_2d",
                "batch_norm_eval_3d", "embedding", "gelu_none", "gelu_tanh" }
local GRADS = { "x", "weight", "bias" }

describe("layers against PyTorch (float32 fixtures)", function()
  local f = sy.load(fixture_path)

  for _, case in ipairs(ORDER) do
    it(case .. ": output, every gradient and the running stats", function()
      local p = case .. "."
      local a = {}
      for _, n in ipairs({ "x", "weight", "bias", "running_mean", "running_var" }) do
        local t = f[p .. n]
        if t then
          a[n] = t:clone()
          if t:dtype() == "float32" and n ~= "running_mean" and n ~= "running_var" then
            a[n]:requires_grad(true)
          end
        end
      end
      local y = CASES[case](a)
      y:backward(f[p .. "R"])
      local checks = { { "y", y, f[p .. "y"] } }
      for _, n in ipairs(GRADS) do
        local want = f[p .. "grad." .. n]
        if want then checks[#checks + 1] = { "grad." .. n, a[n].grad, want } end
      end
      for _, n in ipairs({ "running_mean", "running_var" }) do
        local want = f[p .. "after." .. n]
        if want then checks[#checks + 1] = { n .. " after", a[n], want } end
      end
      assert.True(#checks >= 2)
      local lines, failed = {}, false
      for _, c in ipairs(checks) do
        assert(c[2], p .. c[1] .. " missing")
        local bad, line = compare(c[1], c[2], c[3], 1e-5, 1e-4)
        lines[#lines + 1] = (bad and "FAIL " or "ok   ") .. line
        failed = failed or bad
      end
      if failed then error(case .. " differs from PyTorch:\n" .. table.concat(lines, "\n")) end
    end)
  end
end)

-- ------------------------------------------------------------ behaviour

describe("layers: layouts, dtypes and graph", function()
  before_each(function() sy.manual_seed(5) end)

  -- {name, fn(args) -> y, args (float64)}
  local function cases()
    return {
      { "LinearBackward", function(a) return sy.linear(a[1], a[2], a[3]) end,
        { sy.randn(3, 4, "float64"), sy.randn(5, 4, "float64"), sy.randn(5, "float64") } },
      { "LayerNormBackward", function(a) return sy.layer_norm(a[1], a[2], a[3]) end,
        { sy.randn(3, 4, "float64"), sy.randn(4, "float64"), sy.randn(4, "float64") } },
      { "BatchNormBackward", function(a) return sy.batch_norm(a[1], nil, nil, a[2], a[3], true) end,
        { sy.randn(4, 3, "float64"), sy.randn(3, "float64"), sy.randn(3, "float64") } },
      { "GeluBackward", function(a) return sy.gelu(a[1], "tanh") end, { sy.randn(3, 4, "float64") } },
      { "EmbeddingBackward", function(a) return sy.embedding(sy.tensor({ 2, 1, 2 }, "int64"), a[1]) end,
        { sy.randn(2, 4, "float64") } },
    }
  end

  it("give the same values and gradients for strided inputs and weights", function()
    for _, c in ipairs(cases()) do
      local dense, strided = {}, {}
      for k, t in ipairs(c[3]) do
        dense[k] = t:clone():requires_grad(true)
        strided[k] = (t:dim() == 2 and t:t():contiguous():t()
                      or sy.stack({ t, t }, 2):select(2, 1)):requires_grad(true)
        assert.is_false(strided[k]:is_contiguous())
      end
      local yd, ys = c[2](dense), c[2](strided)
      assert.equal(0, maxdiff(yd, ys))
      yd:backward(sy.ones(yd:size(), "float64"))
      ys:backward(sy.ones(1, "float64"):expand(ys:size()))   -- an expanded incoming gradient
      for k in ipairs(dense) do
        assert.same(dense[k]:size(), strided[k].grad:size())
        assert.equal(0, maxdiff(dense[k].grad, strided[k].grad))
      end
    end
  end)

  it("record one node per call, named after the layer, only when needed", function()
    for _, c in ipairs(cases()) do
      assert.is_nil(c[2](c[3]).grad_fn)
      c[3][1]:requires_grad(true)
      assert.equal(c[1], c[2](c[3]).grad_fn)
      assert.is_nil(sy.no_grad(function() return c[2](c[3]) end).grad_fn)
    end
  end)

  it("give gradients only to what requires them", function()
    local x, w, b = sy.randn(3, 4, "float64"), randn64(5, 4, "float64"), sy.randn(5, "float64")
    sy.linear(x, w, b):sum():backward()
    assert.same({ 5, 4 }, w.grad:size())
    assert.is_nil(x.grad)
    assert.is_nil(b.grad)
    local ln_b = randn64(4, "float64")
    sy.layer_norm(x, nil, ln_b):sum():backward()
    assert.same({ 3, 3, 3, 3 }, ln_b.grad:totable())
  end)

  it("run in float32 and float64 with matching results", function()
    for _, c in ipairs(cases()) do
      local a32 = {}
      for k, t in ipairs(c[3]) do a32[k] = t:float() end
      local y64, y32 = c[2](c[3]), c[2](a32)
      assert.equal("float32", y32:dtype())
      assert.True(maxdiff(y32:double(), y64) < 1e-5)
    end
  end)
end)

-- ------------------------------------------------------------ errors

describe("layers: argument errors", function()
  local function fails(pattern, f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok, "expected an error matching " .. pattern)
    assert.matches(pattern, err, 1, true)
  end

  it("linear names the shapes", function()
    local x, w = sy.randn(2, 7), sy.randn(3, 5)
    fails("linear: input has 7 features, weight expects 5 (input shape [2,7], weight shape [3,5])",
          sy.linear, x, w)
    fails("linear: weight must be 2-d [out_features, in_features], got shape [5]", sy.linear, x, sy.randn(5))
    fails("linear: bias has shape [4]; expected [3] (the weight's out_features, weight shape [3,5])",
          sy.linear, sy.randn(2, 5), w, sy.randn(4))
    fails("linear: input must have at least 1 dimension", sy.linear, sy.tensor(1.0), w)
    fails("linear: weight is float64 but the input is float32", sy.linear, sy.randn(2, 5), w:double())
    fails("linear: bias is float64 but the input is float32", sy.linear, sy.randn(2, 5), w, sy.zeros(3, "float64"))
    fails("linear: input must be float32 or float64, got int64", sy.linear, sy.zeros(2, 5, "int64"), w)
    fails("bad argument #2 to", sy.linear, x)
    fails("bad argument #3 to", sy.linear, x, w, 1)
  end)

  it("layer_norm names the shapes", function()
    local x = sy.randn(2, 5)
    fails("layer_norm: weight has shape [4]; expected [5] (the input's last dim, input shape [2,5])",
          sy.layer_norm, x, sy.ones(4))
    fails("layer_norm: bias has shape [1,5]; expected [5]", sy.layer_norm, x, nil, sy.ones(1, 5))
    fails("layer_norm: eps must be a finite number >= 0, got -1", sy.layer_norm, x, nil, nil, -1)
    fails("layer_norm: input must have at least 1 dimension", sy.layer_norm, sy.tensor(2.0))
    fails("bad argument #4 to", sy.layer_norm, x, nil, nil, "big")
  end)

  it("batch_norm names the shapes and the mode's needs", function()
    local x, s = sy.randn(4, 3), sy.ones(3)
    fails("batch_norm: input must be [N, C] or [N, C, L], got shape [4]", sy.batch_norm, sy.randn(4), s, s)
    fails("batch_norm: input must be [N, C] or [N, C, L], got shape [1,2,3,4]",
          sy.batch_norm, sy.randn(1, 2, 3, 4), s, s)
    fails("batch_norm: running_mean has shape [4]; expected [3] (the input's channels, input shape [4,3])",
          sy.batch_norm, x, sy.zeros(4), s)
    fails("batch_norm: weight has shape [2]; expected [3]", sy.batch_norm, x, s, s, sy.ones(2))
    fails("batch_norm: running_var is float64 but the input is float32", sy.batch_norm, x, s, sy.ones(3, "float64"))
    fails("batch_norm: evaluation mode (training = false) needs running_mean and running_var",
          sy.batch_norm, x)
    fails("batch_norm: running_mean and running_var go together; got only running_mean",
          sy.batch_norm, x, sy.zeros(3), nil, nil, nil, true)
    fails("batch_norm: training needs more than 1 value per channel, got input shape [1,3]",
          sy.batch_norm, sy.randn(1, 3), nil, nil, nil, nil, true)
    fails("batch_norm: training needs more than 1 value per channel, got input shape [1,3,1]",
          sy.batch_norm, sy.randn(1, 3, 1), nil, nil, nil, nil, true)
    fails("batch_norm: eps must be a finite number >= 0, got inf",
          sy.batch_norm, x, s, s, nil, nil, false, 0.1, math.huge)
    fails("batch_norm: momentum must be a finite number, got inf",
          sy.batch_norm, x, nil, nil, nil, nil, true, math.huge)
    fails("batch_norm: momentum must be a finite number, got ",   -- "nan" or "-nan"
          sy.batch_norm, x, nil, nil, nil, nil, true, 0 / 0)
    fails("batch_norm (running_mean): in-place change of a tensor that requires grad",
          sy.batch_norm, x, sy.zeros(3):requires_grad(true), sy.ones(3), nil, nil, true)
    fails("bad argument #6 to", sy.batch_norm, x, s, s, nil, nil, "yes")
  end)

  it("embedding names the bad id and the table size", function()
    local w = sy.randn(10, 4)
    fails("embedding: id 11 is out of range for a table of 10 rows (ids count from 1)",
          sy.embedding, sy.tensor({ 1, 11, 2 }, "int64"), w)
    fails("embedding: id 0 is out of range for a table of 10 rows (ids count from 1)",
          sy.embedding, sy.tensor({ { 3, 0 } }, "int64"), w)
    fails("embedding: id -5 is out of range", sy.embedding, sy.tensor({ -5 }, "int64"), w)
    fails("embedding: ids must be an int64 tensor, got float32", sy.embedding, sy.ones(3), w)
    fails("embedding: weight must be 2-d [num_embeddings, embedding_dim], got shape [10]",
          sy.embedding, sy.tensor({ 1 }, "int64"), sy.randn(10))
    fails("embedding: weight must be float32 or float64, got int64",
          sy.embedding, sy.tensor({ 1 }, "int64"), sy.zeros(3, 2, "int64"))
  end)

  it("gelu checks its approximation and input", function()
    fails("bad argument #2 to", sy.gelu, sy.randn(3), "fast")
    fails("invalid option 'fast'", sy.gelu, sy.randn(3), "fast")
    fails("gelu: input must be float32 or float64, got int64", sy.gelu, sy.zeros(3, "int64"))
  end)
end)
