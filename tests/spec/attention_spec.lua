-- softmax, log_softmax, scaled dot-product attention, dropout and the
-- regression losses (src/autograd/attention_grad.c): finite-difference
-- gradient checks in float64 for every op and input, PyTorch fixtures for
-- outputs and gradients in float32 (tests/fixtures/gen_attention.py),
-- dropout statistics and reproducibility, and the error paths.
local sy = require("synlua")
local gradcheck = require("gradcheck")

local SDPA = sy.scaled_dot_product_attention

local function maxdiff(a, b) return (a - b):abs():max():item() end

-- ------------------------------------------------------------ gradients

describe("softmax and log_softmax", function()
  before_each(function() sy.manual_seed(3) end)

  it("pass the gradient check along every dim, negative dims and a 0-d tensor", function()
    for _, f in ipairs({ sy.softmax, sy.log_softmax }) do
      for _, dim in ipairs({ 1, 2, 3, -1 }) do
        local x = (sy.randn(3, 4, 5, "float64") * 2):requires_grad(true)
        assert.True(gradcheck(function(t) return f(t, dim) end, { x }))
      end
      local v = sy.randn(6, "float64"):requires_grad(true)
      assert.True(gradcheck(function(t) return f(t, 1) end, { v }))
      local s = sy.tensor(0.3, "float64"):requires_grad(true)
      assert.True(gradcheck(function(t) return f(t, -1) end, { s }))
    end
  end)

  it("read non-contiguous inputs and expanded incoming gradients", function()
    local base = sy.randn(5, 4, "float64"):requires_grad(true)
    assert.True(gradcheck(function(t) return sy.softmax(t:t(), 2) end, { base }))
    local x = base:detach():t():requires_grad(true)   -- [4, 5], not contiguous
    assert.is_false(x:is_contiguous())
    local y = sy.log_softmax(x, 1)
    assert.True(maxdiff(y, sy.log_softmax(x:contiguous(), 1)) == 0)
    x.grad = nil
    y:sum():backward()   -- sum's backward hands over an expanded gradient
    local want = sy.ones(4, 5, "float64") - sy.softmax(x:detach(), 1):mul(4)
    assert.True(maxdiff(x.grad, want) < 1e-12)
  end)

  it("give rows that sum to one, even with entries whose exp overflows", function()
    local x = sy.tensor({ { 1000, 999, -1000 }, { -3, 0, 3 } })
    local y = sy.softmax(x, 2)
    assert.True(maxdiff(y:sum(2), sy.ones(2)) < 1e-6)
    assert.True(maxdiff(y[1], sy.tensor({ 0.7310586, 0.2689414, 0 })) < 1e-6)
    local ly = sy.log_softmax(x, 2)
    assert.True(math.abs(ly[1][3] + 2000.3133) < 1e-3)
    assert.True(maxdiff(ly:exp(), y) < 1e-6)
  end)

  it("give NaN for a row that is entirely -inf, as PyTorch does", function()
    local y = sy.softmax(sy.tensor({ { -math.huge, -math.huge }, { 0, -math.huge } }), 2)
    assert.True(y[1][1] ~= y[1][1])
    assert.equal(1, y[2][1])
    assert.equal(0, y[2][2])
  end)

  it("record a node only when needed", function()
    local x = sy.randn(2, 3)
    assert.is_nil(sy.softmax(x, 2).grad_fn)
    x:requires_grad(true)
    assert.equal("SoftmaxBackward", sy.softmax(x, 2).grad_fn)
    assert.equal("LogSoftmaxBackward", x:log_softmax(2).grad_fn)
    assert.is_nil(sy.no_grad(function() return sy.softmax(x, 2) end).grad_fn)
  end)
end)

-- q, k, v float64 with requires_grad, [B,H,Lq,E], [B,H,Lk,E], [B,H,Lk,Ev]
local function qkv(B, H, Lq, Lk, E, Ev)
  return sy.randn(B, H, Lq, E, "float64"):requires_grad(true),
         sy.randn(B, H, Lk, E, "float64"):requires_grad(true),
         sy.randn(B, H, Lk, Ev, "float64"):requires_grad(true)
end

describe("scaled_dot_product_attention: gradients (float64)", function()
  before_each(function() sy.manual_seed(7) end)

  local function both(mask, p, training)
    return function(q, k, v)
      local o, w = SDPA(q, k, v, mask, p, training)
      return { o, w }
    end
  end

  it("without a mask, through out and weights together", function()
    local q, k, v = qkv(2, 3, 4, 5, 6, 7)
    assert.True(gradcheck(both(nil), { q, k, v }))
  end)

  it("with bool masks broadcast from [Lq, Lk] and [B, 1, 1, Lk]", function()
    local q, k, v = qkv(2, 2, 4, 5, 3, 2)
    local causal = sy.tensor({
      { false, true, true, true, true }, { false, false, true, true, true },
      { false, false, false, true, true }, { false, false, false, false, true } }):bool()
    assert.True(gradcheck(both(causal), { q, k, v }))
    local pad = sy.zeros(2, 1, 1, 5):bool()
    pad[1][1][1][5] = 1
    pad[2][1][1][4] = 1
    assert.True(gradcheck(both(pad), { q, k, v }))
    -- masked keys get exactly zero weight and no gradient
    local o, w = SDPA(q, k, v, pad)
    assert.equal(0, w[1]:select(3, 5):abs():max():item())
    assert.equal(0, w[2]:select(3, 4):abs():max():item())
    k.grad, v.grad = nil, nil
    o:sum():backward()
    assert.equal(0, k.grad[1]:select(2, 5):abs():max():item())
    assert.equal(0, v.grad[2]:select(2, 4):abs():max():item())
  end)

  it("with a float mask added to the scores", function()
    local q, k, v = qkv(2, 2, 3, 4, 5, 3)
    assert.True(gradcheck(both(sy.randn(3, 4, "float64")), { q, k, v }))
    assert.True(gradcheck(both(sy.randn(2, 2, 3, 4, "float64")), { q, k, v }))
  end)

  it("with the gradient reaching only out, or only the weights", function()
    local q, k, v = qkv(1, 2, 3, 4, 5, 6)
    assert.True(gradcheck(function(a, b, c) return (SDPA(a, b, c)) end, { q, k, v }))
    assert.True(gradcheck(function(a, b, c) return select(2, SDPA(a, b, c)) end, { q, k, v }))
    -- weights carry no information about v: no gradient reaches it
    v.grad = nil
    local _, w = SDPA(q, k, v)
    w:sum():backward()
    assert.equal(0, v.grad:abs():max():item())
  end)

  it("with dropout_p = 0 in training, and with dropout under a fixed mask", function()
    local q, k, v = qkv(2, 2, 3, 4, 5, 3)
    assert.True(gradcheck(both(nil, 0, true), { q, k, v }))
    -- reseeding before every call draws the same dropout mask each time
    assert.True(gradcheck(function(a, b, c)
      sy.manual_seed(99)
      local o, w = SDPA(a, b, c, nil, 0.4, true)
      return { o, w }
    end, { q, k, v }))
  end)

  it("reads strided views in place: q, k, v as [B, L, H, E] transposed", function()
    local B, L, H, E = 2, 5, 3, 4
    local x = sy.randn(B, L, 3 * H * E, "float64")
    local function heads(t, i)
      return t:narrow(3, i * H * E + 1, H * E):view(B, L, H, E):transpose(2, 3)
    end
    local q, k, v = heads(x, 0), heads(x, 1), heads(x, 2)
    assert.is_false(q:is_contiguous())
    local o1, w1 = SDPA(q, k, v)
    local o2, w2 = SDPA(q:contiguous(), k:contiguous(), v:contiguous())
    assert.equal(0, maxdiff(o1, o2))
    assert.equal(0, maxdiff(w1, w2))
    x:requires_grad(true)
    assert.True(gradcheck(function(t)
      local o, w = SDPA(heads(t, 0), heads(t, 1), heads(t, 2))
      return { o, w }
    end, { x }))
  end)

  it("reads a q expanded over batch and heads (stride 0) and sums its gradient back", function()
    local base = sy.randn(1, 1, 4, 3, "float64"):requires_grad(true)
    local k, v = sy.randn(2, 3, 5, 3, "float64"), sy.randn(2, 3, 5, 2, "float64")
    assert.True(gradcheck(function(t) return (SDPA(t:expand(2, 3, 4, 3), k, v)) end, { base }))
    local o1 = SDPA(base:expand(2, 3, 4, 3), k, v)
    local o2 = SDPA(base:expand(2, 3, 4, 3):contiguous(), k, v)
    assert.equal(0, maxdiff(o1, o2))
  end)

  it("handles single-row queries, keys and head dims of 1", function()
    local q, k, v = qkv(2, 1, 1, 3, 1, 2)
    assert.True(gradcheck(both(nil), { q, k, v }))
    q, k, v = qkv(1, 2, 3, 1, 2, 1)
    local o, w = SDPA(q, k, v)
    assert.equal(0, maxdiff(w, sy.ones(1, 2, 3, 1, "float64")))
    assert.equal(0, maxdiff(o, v:expand(1, 2, 3, 1)))
  end)

  it("records one node with two outputs, only when needed", function()
    local q, k, v = sy.randn(1, 1, 2, 3), sy.randn(1, 1, 2, 3), sy.randn(1, 1, 2, 3)
    local o, w = SDPA(q, k, v)
    assert.is_nil(o.grad_fn)
    assert.is_nil(w.grad_fn)
    k:requires_grad(true)
    o, w = SDPA(q, k, v)
    assert.equal("ScaledDotProductAttentionBackward", o.grad_fn)
    assert.equal("ScaledDotProductAttentionBackward", w.grad_fn)
    o:sum():backward()
    assert.same({ 1, 1, 2, 3 }, k.grad:size())
    assert.is_nil(q.grad)
    assert.is_nil(v.grad)
  end)

  it("gives NaN for a query whose keys are all masked, as PyTorch does", function()
    local q, k, v = qkv(1, 1, 2, 3, 2, 2)
    local mask = sy.tensor({ { true, true, true }, { false, true, false } }):bool()
    local o, w = SDPA(q, k, v, mask)
    assert.True(o[1][1][1][1] ~= o[1][1][1][1])
    assert.True(math.abs(w[1][1][2]:sum():item() - 1) < 1e-12)
  end)
end)

describe("scaled_dot_product_attention: dropout on the weights", function()
  it("zeroes exactly the dropped weights and scales the rest by 1/(1-p)", function()
    local B, H, L, p = 2, 3, 6, 0.25
    sy.manual_seed(5)
    local q, k = sy.randn(B, H, L, 4), sy.randn(B, H, L, 4)
    -- v = identity, so out is the dropped-out weights themselves
    local v = sy.eye(L):expand(B, H, L, L)
    sy.manual_seed(123)
    local keep = sy.zeros(B, H, L, L):bernoulli_(1 - p)   -- the draw attention makes
    sy.manual_seed(123)
    local out, w = SDPA(q, k, v, nil, p, true)
    local kept = keep:sum():item()
    assert.True(kept > 0 and kept < B * H * L * L)
    assert.equal(0, (out * (1 - keep)):abs():max():item())
    assert.True(maxdiff(out, w * keep * (1 / (1 - p))) < 1e-6)
    -- the weights come back before dropout: rows still sum to one
    assert.True(maxdiff(w:sum(4), sy.ones(B, H, L)) < 1e-6)
    -- and the backward uses the same mask: d out / d v = dropped weights^T
    v = v:contiguous():requires_grad(true)
    sy.manual_seed(123)
    out = SDPA(q, k, v, nil, p, true)
    out:backward(sy.ones(B, H, L, L))
    local want = (w * keep * (1 / (1 - p))):sum(3):unsqueeze(4):expand(B, H, L, L)
    assert.True(maxdiff(v.grad, want) < 1e-5)
  end)

  it("is reproducible with manual_seed and off when not training or p = 0", function()
    local q, k, v = sy.randn(2, 2, 5, 3), sy.randn(2, 2, 5, 3), sy.randn(2, 2, 5, 3)
    sy.manual_seed(8)
    local a = SDPA(q, k, v, nil, 0.5, true)
    sy.manual_seed(8)
    local b = SDPA(q, k, v, nil, 0.5, true)
    assert.equal(0, maxdiff(a, b))
    local c = SDPA(q, k, v, nil, 0.5, true)
    assert.True(maxdiff(a, c) > 0)
    local plain = SDPA(q, k, v)
    assert.equal(0, maxdiff(SDPA(q, k, v, nil, 0.5, false), plain))
    assert.equal(0, maxdiff(SDPA(q, k, v, nil, 0, true), plain))
    assert.equal(0, SDPA(q, k, v, nil, 1, true):abs():max():item())
  end)
end)

describe("scaled_dot_product_attention: float32 kernel against float64 sy ops", function()
  -- float32 keeps each (b, h)'s scores in rows padded to a multiple of 8
  -- keys and transposes K and V in 8 x 8 blocks: lengths that are not
  -- multiples of 8, Lq ~= Lk, a single row and key, the largest small case
  -- (64 x 64), head dims past 64 (products by BLAS) and q, k, v read as
  -- strided views, with and without dropout and a bool mask, against the
  -- formula written with matmul and softmax in float64.
  local function reference(q, k, v, mask, keep, p)
    local E = q:size(4)
    local s = sy.matmul(q, k:transpose(3, 4)) * (1 / math.sqrt(E))
    if mask then s = s + sy.where(mask, -math.huge, 0.0):double() end
    local w = sy.softmax(s, 4)
    local pd = keep and w * keep * (1 / (1 - p)) or w
    return sy.matmul(pd, v), w
  end

  it("agrees in outputs and gradients for ragged lengths, dropout and masks", function()
    sy.manual_seed(23)
    local B, H = 2, 3
    for _, s in ipairs({ { 15, 13, 16, 16 }, { 9, 17, 8, 5 }, { 1, 1, 3, 1 }, { 64, 64, 16, 16 },
                         { 7, 64, 20, 24 }, { 64, 3, 5, 9 }, { 5, 6, 72, 70 } }) do
      local Lq, Lk, E, Ev = s[1], s[2], s[3], s[4]
      -- [B, L, H, E] tensors read as [B, H, L, E] views (rows H*E apart)
      local base = { sy.randn(B, Lq, H, E), sy.randn(B, Lk, H, E), sy.randn(B, Lk, H, Ev) }
      local go, gw = sy.randn(B, H, Lq, Ev, "float64"), sy.randn(B, H, Lq, Lk, "float64")
      local mask = sy.rand(Lq, Lk):lt(0.3)
      mask:narrow(2, 1, 1):fill_(false)   -- no query loses every key
      for _, case in ipairs({ { nil, 0 }, { nil, 0.3 }, { mask, 0 }, { mask, 0.3 } }) do
        local m, p = case[1], case[2]
        local label = ("%dx%d E=%d Ev=%d mask=%s p=%g"):format(Lq, Lk, E, Ev, tostring(m ~= nil), p)
        local got, want = {}, {}
        for i, dt in ipairs({ "float32", "float64" }) do
          local leaf, qkv = {}, {}
          for j = 1, 3 do
            leaf[j] = base[j]:to(dt):clone():requires_grad(true)
            qkv[j] = leaf[j]:transpose(2, 3)
          end
          local o, w
          if dt == "float32" then
            if Lq > 1 then assert.is_false(qkv[1]:is_contiguous()) end
            sy.manual_seed(77)
            o, w = SDPA(qkv[1], qkv[2], qkv[3], m, p, true)
          else
            local keep
            if p > 0 then
              sy.manual_seed(77)
              keep = sy.zeros(B, H, Lq, Lk, "float64"):bernoulli_(1 - p)   -- the draw attention makes
            end
            o, w = reference(qkv[1], qkv[2], qkv[3], m, keep, p)
          end
          ;((o * go:to(dt)):sum() + (w * gw:to(dt)):sum()):backward()
          local r = i == 1 and got or want
          r[1], r[2] = o:double(), w:double()
          for j = 1, 3 do r[2 + j] = leaf[j].grad:double() end
        end
        for j, name in ipairs({ "out", "weights", "grad q", "grad k", "grad v" }) do
          local err = maxdiff(got[j], want[j]) / (want[j]:abs():max():item() + 1)
          assert.True(err < 2e-6, ("%s: %s off by %.3g"):format(label, name, err))
        end
        if m then
          -- masked keys get exactly zero weight
          assert.equal(0, (got[2] * mask:double()):abs():max():item())
        end
      end
    end
  end)
end)

-- ------------------------------------------------------ packed attention

describe("packed_attention", function()
  before_each(function() sy.manual_seed(11) end)

  -- the same attention written with the functional op on split heads
  local function reference(qkv, H, mask, p, training)
    local B, L, E = qkv:size(1), qkv:size(2), qkv:size(3) // 3
    local function heads(i) return qkv:narrow(3, i * E + 1, E):reshape(B, L, H, E // H):transpose(2, 3) end
    local o, w = SDPA(heads(0), heads(1), heads(2), mask, p, training)
    return o:transpose(2, 3):reshape(B, L, E), w
  end

  local function both(H, mask, p, seed)
    return function(t)
      if seed then sy.manual_seed(seed) end
      local o, w = sy.packed_attention(t, H, mask, p, p ~= nil)
      return { o, w }
    end
  end

  it("passes the gradient check through out and weights (float64)", function()
    local qkv = sy.randn(2, 5, 3 * 6, "float64"):requires_grad(true)
    assert.True(gradcheck(both(2), { qkv }))
    assert.True(gradcheck(both(3), { qkv }))
    assert.True(gradcheck(function(t) return (sy.packed_attention(t, 1)) end, { qkv }))
    assert.True(gradcheck(function(t) return select(2, sy.packed_attention(t, 6)) end, { qkv }))
  end)

  it("passes the gradient check with masks and with dropout under a fixed mask", function()
    local qkv = sy.randn(2, 4, 3 * 4, "float64"):requires_grad(true)
    local pad = sy.zeros(2, 1, 1, 4):bool()
    pad[1][1][1][4] = 1
    assert.True(gradcheck(both(2, pad), { qkv }))
    assert.True(gradcheck(both(2, sy.randn(4, 4, "float64")), { qkv }))
    assert.True(gradcheck(both(2, nil, 0.3, 99), { qkv }))
  end)

  it("gives the numbers of scaled_dot_product_attention on the split heads, in both dtypes", function()
    for _, dt in ipairs({ "float32", "float64" }) do
      local B, L, H, E = 3, 7, 4, 16
      local causal = sy.zeros(L, L)
      for i = 1, L do for j = i + 1, L do causal[i][j] = 1 end end
      causal = causal:bool()
      for _, case in ipairs({ { nil, 0 }, { causal, 0.2 } }) do
        local mask, p = case[1], case[2]
        local x = sy.randn(B, L, 3 * E):to(dt)
        local a, b = x:clone():requires_grad(true), x:clone():requires_grad(true)
        sy.manual_seed(5)
        local o, w = sy.packed_attention(a, H, mask, p, true)
        sy.manual_seed(5)
        local ro, rw = reference(b, H, mask, p, true)
        assert.equal(0, maxdiff(o, ro))
        assert.equal(0, maxdiff(w, rw))
        assert.same({ B, L, E }, o:size())
        assert.same({ B, H, L, L }, w:size())
        local g, gw = sy.randn(B, L, E):to(dt), sy.randn(B, H, L, L):to(dt)
        ;((o * g):sum() + (w * gw):sum()):backward()
        ;((ro * g):sum() + (rw * gw):sum()):backward()
        assert.equal(0, maxdiff(a.grad, b.grad))
      end
    end
  end)

  -- float32 heads of 16 or 8 and 15 or 24 positions run the register-blocked
  -- kernel, reading and writing 8-wide rows in place; float64 runs BLAS
  it("agrees in float32 (small-product kernel) with float64 (BLAS), outputs and gradients", function()
    for _, s in ipairs({ { 15, 4, 16 }, { 24, 2, 8 }, { 15, 3, 5 } }) do
      local L, H, hd = s[1], s[2], s[3]
      local x = sy.randn(2, L, 3 * H * hd, "float64")
      local g, gw = sy.randn(2, L, H * hd, "float64"), sy.randn(2, H, L, L, "float64")
      local r = {}
      for i, dt in ipairs({ "float32", "float64" }) do
        local t = x:to(dt):requires_grad(true)
        local o, w = sy.packed_attention(t, H)
        ;((o * g:to(dt)):sum() + (w * gw:to(dt)):sum()):backward()
        r[i] = { o:double(), w:double(), t.grad:double() }
      end
      for k = 1, 3 do assert.True(maxdiff(r[1][k], r[2][k]) < 2e-5, ("L=%d hd=%d: %d"):format(L, hd, k)) end
    end
  end)

  it("reads a non-contiguous qkv and records a node only when needed", function()
    local x = sy.randn(5, 2, 12, "float64")
    local o = sy.packed_attention(x:transpose(1, 2), 2)
    assert.True(maxdiff(o, (reference(x:transpose(1, 2):contiguous(), 2))) < 1e-12)
    assert.is_false(o:requires_grad())
    local t = x:requires_grad(true)
    local a, w = sy.packed_attention(t, 2)
    assert.equal("PackedAttentionBackward", a.grad_fn)
    assert.equal("PackedAttentionBackward", w.grad_fn)
    assert.is_false(sy.no_grad(function() return sy.packed_attention(t, 2) end):requires_grad())
  end)

  it("explains bad arguments", function()
    local function err(...)
      local ok, e = pcall(sy.packed_attention, ...)
      assert.is_false(ok)
      return e
    end
    assert.matches("packed_attention: qkv must be [batch, seq_len, 3 * embed_dim] (q, k and v side by side) with seq_len >= 1, got shape [2,5,8]",
                   err(sy.zeros(2, 5, 8), 2), 1, true)
    assert.matches("got shape [5,12]", err(sy.zeros(5, 12), 2), 1, true)
    assert.matches("packed_attention: embed_dim 4 (qkv shape [2,5,12]) is not divisible by num_heads 3",
                   err(sy.zeros(2, 5, 12), 3), 1, true)
    assert.matches("not divisible by num_heads 0", err(sy.zeros(2, 5, 12), 0), 1, true)
    assert.matches("packed_attention: qkv must be float32 or float64, got int64",
                   err(sy.zeros(2, 5, 12, "int64"), 2), 1, true)
    assert.matches("packed_attention: mask of shape [4,4] does not broadcast",
                   err(sy.zeros(2, 5, 12), 2, sy.zeros(4, 4):bool()), 1, true)
    assert.matches("packed_attention: dropout_p must be between 0 and 1, got 2",
                   err(sy.zeros(2, 5, 12), 2, nil, 2), 1, true)
    assert.matches("number expected", err(sy.zeros(2, 5, 12), "x"), 1, true)
  end)
end)

-- ------------------------------------------------------------ dropout

describe("dropout", function()
  it("keeps about 1 - p of 1e5 elements and preserves the mean", function()
    sy.manual_seed(21)
    for _, p in ipairs({ 0.1, 0.5, 0.8 }) do
      local x = sy.ones(100000)
      local y = sy.dropout(x, p, true)
      local kept = y:ne(0):sum():item() / 1e5
      -- binomial sd is below 0.0016 for n = 1e5: 5 sd
      assert.True(math.abs(kept - (1 - p)) < 0.008, "p=" .. p .. " kept " .. kept)
      assert.True(math.abs(y:mean():item() - 1) < 0.008 / (1 - p), "mean " .. y:mean():item())
      assert.True(maxdiff(y:maximum(sy.zeros(1)), y) == 0)
      assert.True(math.abs(y:max():item() - 1 / (1 - p)) < 1e-6)
    end
    local x = sy.randn(1000, 100) + 3
    local y = sy.dropout(x, 0.3)   -- defaults: training
    assert.True(math.abs(y:mean():item() / x:mean():item() - 1) < 0.02)
  end)

  it("is reproducible with manual_seed and advances the generator", function()
    local x = sy.randn(64, 32)
    sy.manual_seed(4)
    local a = sy.dropout(x, 0.5, true)
    local b = sy.dropout(x, 0.5, true)
    sy.manual_seed(4)
    local c = sy.dropout(x, 0.5, true)
    assert.equal(0, maxdiff(a, c))
    assert.True(maxdiff(a, b) > 0)
    -- the mask is the generator's bernoulli draw over x's elements in order
    sy.manual_seed(4)
    local keep = sy.zeros(64, 32):bernoulli_(0.5)
    assert.equal(0, maxdiff(a, x * keep * 2))
  end)

  it("is the identity in eval mode and for p = 0, and zeroes everything for p = 1", function()
    local x = sy.randn(4, 5):requires_grad(true)
    local e = sy.dropout(x, 0.5, false)
    assert.equal(0, maxdiff(e, x))
    e:sum():backward()
    assert.equal(0, maxdiff(x.grad, sy.ones(4, 5)))
    assert.equal(0, maxdiff(sy.dropout(x, 0, true), x))
    x.grad = nil
    local z = sy.dropout(x, 1, true)
    assert.equal(0, z:abs():max():item())
    z:sum():backward()
    assert.equal(0, x.grad:abs():max():item())
  end)

  it("passes the gradient check under a fixed mask, on a strided input", function()
    local x = sy.randn(6, 5, "float64"):requires_grad(true)
    assert.True(gradcheck(function(t)
      sy.manual_seed(31)
      return sy.dropout(t:t(), 0.3, true)
    end, { x }))
    -- the gradient is the same scaled mask as the forward
    sy.manual_seed(31)
    local y = sy.dropout(x:t(), 0.3, true)
    x.grad = nil
    y:backward(sy.ones(5, 6, "float64"))
    assert.equal(0, maxdiff((x.grad * x:detach()):t(), y:detach()))
    assert.equal("DropoutBackward", y.grad_fn)
  end)
end)

-- ------------------------------------------------------------ losses

local LOSSES = {
  mse = function(i, t, red) return sy.mse_loss(i, t, red) end,
  l1 = function(i, t, red) return sy.l1_loss(i, t, red) end,
  huber = function(i, t, red) return sy.huber_loss(i, t, 1.0, red) end,
  ["huber0.5"] = function(i, t, red) return sy.huber_loss(i, t, 0.5, red) end,
}
local LOSS_ORDER = { "mse", "l1", "huber", "huber0.5" }
local REDUCTIONS = { "mean", "sum", "none" }

describe("losses: gradients (float64) and values", function()
  before_each(function() sy.manual_seed(13) end)

  it("pass the gradient check for input and target with every reduction", function()
    for _, name in ipairs(LOSS_ORDER) do
      for _, red in ipairs(REDUCTIONS) do
        local i = (sy.randn(3, 4, "float64") * 1.5):requires_grad(true)
        local t = (sy.randn(3, 4, "float64") * 1.5):requires_grad(true)
        local fn = function(a, b) return LOSSES[name](a, b, red) end
        local ok, err = pcall(gradcheck, fn, { i, t })
        assert(ok, name .. "/" .. red .. ": " .. tostring(err))
      end
    end
  end)

  it("match the formulas, with mean the default reduction", function()
    local i = sy.tensor({ 0.0, 1.0, -2.0, 0.25 }, "float64")
    local t = sy.tensor({ 0.0, -1.0, 1.0, 0.0 }, "float64")
    -- d = 0, 2, -3, 0.25
    assert.equal((0 + 4 + 9 + 0.0625) / 4, sy.mse_loss(i, t):item())
    assert.equal(0 + 4 + 9 + 0.0625, sy.mse_loss(i, t, "sum"):item())
    assert.equal(5.25 / 4, sy.l1_loss(i, t):item())
    assert.same({ 0, 1.5, 2.5, 0.03125 }, sy.huber_loss(i, t, 1, "none"):totable())
    assert.same({ 0, 1.5, 2.5, 0.03125 }, sy.huber_loss(i, t, "none"):totable())
    -- delta 0.5: 0.5 (2 - 0.25) + 0.5 (3 - 0.25) + 0.5 * 0.25^2
    assert.equal(0.875 + 1.375 + 0.03125, sy.huber_loss(i, t, 0.5, "sum"):item())
  end)

  it("on float32, 100003 elements: sums and gradients as float64 gives them", function()
    -- the sums run in eight partial sums over groups of eight, then a tail
    local n = 100003
    local i64, t64 = sy.randn(n, "float64") * 2, sy.randn(n, "float64")
    for _, name in ipairs(LOSS_ORDER) do
      for _, red in ipairs({ "mean", "sum" }) do
        local i32 = i64:float():requires_grad(true)
        local t32 = t64:float():requires_grad(true)
        local a, b = i32:detach():double():requires_grad(true), t32:detach():double():requires_grad(true)
        local got, want = LOSSES[name](i32, t32, red), LOSSES[name](a, b, red)
        assert.is_true(math.abs(got:item() - want:item()) <= 1e-6 * math.abs(want:item()), name .. "/" .. red)
        got:backward()
        want:backward()
        -- float32 rounding of d and of the slope: relative to the largest gradient
        local big = a.grad:abs():max():item()
        assert.is_true((i32.grad:double() - a.grad):abs():max():item() <= 2e-7 * big, name .. "/" .. red)
        assert.is_true((t32.grad:double() - b.grad):abs():max():item() <= 2e-7 * big, name .. "/" .. red)
      end
    end
    -- Huber at |d| = delta from both sides, beyond it, and NaN and inf through
    local inf = math.huge
    local d = sy.tensor({ 0.5, -0.5, 0.49999997, 2, -0.0, inf, -inf, 0 / 0 })
    local v = sy.huber_loss(d, sy.zeros(8), 0.5, "none"):totable()
    assert.same({ 0.125, 0.125, 0.875, 0 }, { v[1], v[2], v[4], v[5] })
    local v3 = sy.tensor({ 0.49999997 })
    assert.equal(((v3 * 0.5) * v3)[1], v[3])   -- bit for bit as 0.5 d d
    assert.same({ inf, inf }, { v[6], v[7] })
    assert.is_true(v[8] ~= v[8])
    local m = sy.mse_loss(d, sy.zeros(8), "sum"):item()
    assert.is_true(m ~= m)
  end)

  it("give L1 a zero gradient where input equals target, as PyTorch", function()
    local i = sy.tensor({ 1.0, 2.0, 3.0 }):requires_grad(true)
    local t = sy.tensor({ 1.0, 0.0, 5.0 }):requires_grad(true)
    sy.l1_loss(i, t, "sum"):backward()
    assert.same({ 0, 1, -1 }, i.grad:totable())
    assert.same({ 0, -1, 1 }, t.grad:totable())
  end)

  it("record one node per call, named after the loss", function()
    local i, t = sy.randn(3):requires_grad(true), sy.randn(3)
    assert.equal("MSELossBackward", sy.mse_loss(i, t).grad_fn)
    assert.equal("L1LossBackward", sy.l1_loss(i, t).grad_fn)
    assert.equal("HuberLossBackward", sy.huber_loss(i, t).grad_fn)
    assert.is_nil(sy.mse_loss(i:detach(), t).grad_fn)
    assert.same({}, sy.mse_loss(i, t):size())
    assert.same({ 3 }, sy.mse_loss(i, t, "none"):size())
  end)
end)

-- ------------------------------------------------------------ PyTorch

local fixture_path = (os.getenv("SYNLUA_SOURCE_DIR") or ".")
  .. "/tests/fixtures/attention.safetensors"

-- One line per tensor with its max abs and rel error; bad when some element
-- is outside atol + rtol * |want|.
local function compare(label, got, want, atol, rtol)
  assert(got, label .. " missing")
  assert.same(want:size(), got:size())
  local diff = (got - want):abs()
  local bad = diff:numel() > 0 and (diff - (want:abs() * rtol + atol)):max():item() > 0
  local line = string.format("%-22s max abs err %.3g, max rel err %.3g", label,
                             diff:numel() > 0 and diff:max():item() or 0,
                             diff:numel() > 0 and (diff / (want:abs() + 1e-30)):max():item() or 0)
  return bad, line
end

local function check_all(prefix, checks)
  local lines, failed = {}, false
  for _, c in ipairs(checks) do
    local bad, line = compare(c[1], c[2], c[3], 1e-5, 1e-4)
    lines[#lines + 1] = (bad and "FAIL " or "ok   ") .. line
    failed = failed or bad
  end
  if failed then error(prefix .. " differs from PyTorch:\n" .. table.concat(lines, "\n")) end
end

describe("against PyTorch (float32 fixtures)", function()
  local f = sy.load(fixture_path)

  for _, name in ipairs({ "softmax", "log_softmax" }) do
    for dim = 1, 3 do
      it(name .. " along dim " .. dim .. ": output and gradient", function()
        local x = f["softmax.x"]:clone():requires_grad(true)
        assert.equal("float32", x:dtype())
        local y = sy[name](x, dim)
        y:backward(f["softmax.R"])
        local p = name .. ".dim" .. dim .. "."
        check_all(p, { { "y", y, f[p .. "y"] }, { "grad x", x.grad, f[p .. "grad_x"] } })
      end)
    end
  end

  local masks = {
    none = function() return nil end,
    bool = function() return f["attn.bool_mask"] end,
    float = function() return f["attn.float_mask"] end,
  }
  for _, case in ipairs({ "none", "bool", "float" }) do
    it("attention with mask " .. case .. ": out, weights and the gradients of q, k, v", function()
      local q = f["attn.q"]:clone():requires_grad(true)
      local k = f["attn.k"]:clone():requires_grad(true)
      local v = f["attn.v"]:clone():requires_grad(true)
      local mask = masks[case]()
      if case == "bool" then assert.equal("bool", mask:dtype()) end
      local o, w = SDPA(q, k, v, mask)
      o:backward(f["attn.R_out"], true)
      w:backward(f["attn.R_w"])
      local p = "attn." .. case .. "."
      check_all(p, { { "out", o, f[p .. "out"] }, { "weights", w, f[p .. "weights"] },
                     { "grad q", q.grad, f[p .. "grad_q"] }, { "grad k", k.grad, f[p .. "grad_k"] },
                     { "grad v", v.grad, f[p .. "grad_v"] } })
    end)
  end

  for _, name in ipairs(LOSS_ORDER) do
    for _, red in ipairs(REDUCTIONS) do
      it(name .. " loss, reduction " .. red .. ": value and both gradients", function()
        local i = f["loss.input"]:clone():requires_grad(true)
        local t = f["loss.target"]:clone():requires_grad(true)
        local l = LOSSES[name](i, t, red)
        l:backward(red == "none" and f["loss.R"] or f["loss.r"])
        local p = name .. "." .. red .. "."
        check_all(p, { { "out", l, f[p .. "out"] }, { "grad input", i.grad, f[p .. "grad_input"] },
                       { "grad target", t.grad, f[p .. "grad_target"] } })
      end)
    end
  end
end)

-- ------------------------------------------------------------ errors

describe("argument errors", function()
  local function fails(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, "expected an error matching " .. pattern)
    assert.truthy(tostring(err):find(pattern, 1, true), "message was: " .. tostring(err))
  end

  local P = "scaled_dot_product_attention: "

  it("softmax and log_softmax", function()
    fails("dimension 3 out of range (expected 1..2 or -2..-1)", sy.softmax, sy.randn(2, 3), 3)
    fails("number expected, got no value", sy.log_softmax, sy.randn(2, 3))
    fails("softmax: x must be float32 or float64, got int64", sy.softmax, sy.zeros(3, "int64"), 1)
    fails("tensor expected, got table", sy.softmax, { 1, 2 }, 1)
  end)

  it("scaled_dot_product_attention: shapes", function()
    local q, k, v = sy.randn(2, 4, 5, 16), sy.randn(2, 4, 7, 16), sy.randn(2, 4, 7, 8)
    fails(P .. "q has head dim 16 but k has 8", SDPA, q, sy.randn(2, 4, 7, 8), v)
    fails(P .. "k has 7 keys but v has 6 values", SDPA, q, k, sy.randn(2, 4, 6, 8))
    fails(P .. "q must be 4-d [batch, heads, seq_len, head_dim], got shape [5,16]",
          SDPA, sy.randn(5, 16), k, v)
    fails(P .. "q has shape [2,4,5,16] but k has [2,3,7,16]; batch and heads",
          SDPA, q, sy.randn(2, 3, 7, 16), v)
    fails(P .. "q has shape [2,4,5,16] but v has [1,4,7,8]", SDPA, q, k,
          sy.randn(1, 4, 7, 8))
    fails(P .. "k has shape [2,4,0,16]; its sequence length and head dim must be",
          SDPA, q, sy.zeros(2, 4, 0, 16), sy.zeros(2, 4, 0, 8))
    fails(P .. "mask of shape [5,5] does not broadcast to the scores' shape "
          .. "[batch, heads, Lq, Lk] = [2,4,5,7]", SDPA, q, k, v, sy.zeros(5, 5):bool())
    fails("does not broadcast", SDPA, q, k, v, sy.zeros(1, 2, 4, 5, 7):bool())
  end)

  it("scaled_dot_product_attention: dtypes and values", function()
    local q, k, v = sy.randn(1, 1, 2, 3), sy.randn(1, 1, 2, 3), sy.randn(1, 1, 2, 3)
    fails(P .. "k is float64 but q is float32", SDPA, q, k:double(), v)
    fails(P .. "mask must be bool (true = masked out) or float (added to the "
          .. "scores), got int64", SDPA, q, k, v, sy.zeros(2, 2, "int64"))
    fails(P .. "dropout_p must be between 0 and 1, got 1.5", SDPA, q, k, v, nil, 1.5)
    fails("bad argument #6 to ", SDPA, q, k, v, nil, 0.1, 1)
    fails("boolean expected, got number", SDPA, q, k, v, nil, 0.1, 1)
    fails("tensor expected, got string", SDPA, q, k, v, "causal")
    -- a float64 mask with float32 scores is converted, not refused
    local m = sy.zeros(2, 2, "float64")
    m[1][2] = -math.huge
    local _, w = SDPA(q, k, v, m)
    assert.equal(0, w[1][1][1][2])
  end)

  it("dropout", function()
    local x = sy.randn(3)
    fails("dropout: p must be between 0 and 1, got -0.1", sy.dropout, x, -0.1)
    fails("dropout: p must be between 0 and 1, got ", sy.dropout, x, 0 / 0)
    fails("nan", sy.dropout, x, 0 / 0)
    fails("boolean expected, got string", sy.dropout, x, 0.5, "train")
    fails("dropout: x must be float32 or float64, got int64", sy.dropout, sy.zeros(3, "int64"), 0.5)
  end)

  it("losses", function()
    local a, b = sy.randn(32, 1), sy.randn(32)
    fails("mse_loss: input has shape [32,1] but target has shape [32]; "
          .. "they must match (no broadcasting)", sy.mse_loss, a, b)
    fails("l1_loss: target is float64 but input is float32; convert one with :float() or :double()",
          sy.l1_loss, b, b:double())
    fails("huber_loss: delta must be positive, got 0", sy.huber_loss, b, b, 0)
    fails("huber_loss: delta must be positive, got -1", sy.huber_loss, b, b, -1, "sum")
    fails("reduction must be 'mean', 'sum' or 'none', got 'avg'", sy.mse_loss, b, b, "avg")
    fails("reduction must be 'mean', 'sum' or 'none', got 'total'", sy.huber_loss, b, b, "total")
    fails("string expected, got number", sy.l1_loss, b, b, 1)
    local ints = sy.zeros(2, "int64")
    fails("mse_loss: input must be float32 or float64, got int64", sy.mse_loss, ints, ints)
  end)
end)
