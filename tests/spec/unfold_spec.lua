-- t:unfold(dim, size, step): sliding windows as a view (torch.Tensor.unfold
-- semantics), its gradient (overlapping windows add up), its errors, and
-- index_select on such views (the whole-slab fast path) against a copy.
local sy = require("synlua")
local gradcheck = require("gradcheck")

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- out[i1.., w, ..., k] = t[.., (w - 1) * step + k, ..] by a plain loop over
-- a 2-d tensor, for dim 1 or 2.
local function unfold_loop(t, dim, size, step)
  local x = t:totable()
  local R, C = #x, #x[1]
  local res = {}
  if dim == 1 then
    for w = 1, (R - size) // step + 1 do
      res[w] = {}
      for c = 1, C do
        res[w][c] = {}
        for k = 1, size do res[w][c][k] = x[(w - 1) * step + k][c] end
      end
    end
  else
    for r = 1, R do
      res[r] = {}
      for w = 1, (C - size) // step + 1 do
        res[r][w] = {}
        for k = 1, size do res[r][w][k] = x[r][(w - 1) * step + k] end
      end
    end
  end
  return res
end

-- exact equality of nested tables (float values compared bit for bit)
local function same(expected, actual)
  if type(expected) == "table" then
    assert.are.equal(#expected, #actual)
    for i = 1, #expected do same(expected[i], actual[i]) end
  else
    assert.are.equal(expected, actual)
  end
end

local function bits_equal(a, b)
  assert.are.same(a:size(), b:size())
  assert.are.equal(a:dtype(), b:dtype())
  same(a:totable(), b:totable())
end

describe("t:unfold", function()
  before_each(function() sy.manual_seed(11) end)

  it("gives windows equal to a hand-written loop, for overlap, gaps and exact tiling", function()
    local x = sy.randn(9, 4)
    for _, c in ipairs({ { 1, 3, 1 }, { 1, 3, 2 }, { 1, 2, 4 }, { 1, 9, 1 }, { 1, 1, 1 },
                         { 2, 2, 1 }, { 2, 3, 3 }, { 2, 1, 5 }, { -1, 4, 1 } }) do
      local dim, size, step = c[1], c[2], c[3]
      local u = x:unfold(dim, size, step)
      same(unfold_loop(x, dim < 0 and 2 or dim, size, step), u:totable())
    end
  end)

  it("has torch's shape and strides and shares the storage", function()
    local x = sy.arange(0, 24):view(6, 4):float()
    local u = x:unfold(1, 3, 2)
    assert.are.same({ 2, 4, 3 }, u:size())
    assert.are.same({ 8, 1, 4 }, u:stride())
    u = x:unfold(2, 2, 1)
    assert.are.same({ 6, 3, 2 }, u:size())
    assert.are.same({ 4, 1, 1 }, u:stride())
    -- a view: writing into x changes the windows
    local u3 = x:unfold(1, 3, 1)
    x[3][1] = 100
    assert.are.equal(100, u3[2][1][2])
    assert.are.equal(100, u3[3][1][1])
    -- windows of rows, transposed to [N, L, D]: each window one contiguous run
    local w = x:unfold(1, 3, 1):transpose(2, 3)
    assert.are.same({ 4, 3, 4 }, w:size())
    assert.are.same({ 4, 4, 1 }, w:stride())
    assert.is_false(w:is_contiguous())
  end)

  it("unfolds a strided view and a 0-d tensor (as PyTorch: one window of one element)", function()
    local x = sy.randn(5, 6)
    local t = x:t()
    same(unfold_loop(t:contiguous(), 1, 2, 3), t:unfold(1, 2, 3):totable())
    local s = sy.tensor(2.5)
    local u = s:unfold(1, 1, 1)
    assert.are.same({ 1 }, u:size())
    assert.are.equal(2.5, u[1])
    assert.are.same({ 1 }, s:unfold(-1, 1, 7):size())
  end)

  it("names the argument and the shape in its errors", function()
    local x = sy.zeros(5, 3)
    assert.matches("window size 6 must be in 1..5, the size of dimension 1", errmsg(x.unfold, x, 1, 6, 1))
    assert.matches("window size 0 must be in 1..3, the size of dimension 2", errmsg(x.unfold, x, 2, 0, 1))
    assert.matches("step must be at least 1, got 0", errmsg(x.unfold, x, 1, 2, 0))
    assert.matches("step must be at least 1, got %-2", errmsg(x.unfold, x, 1, 2, -2))
    assert.matches("dimension 3 out of range", errmsg(x.unfold, x, 3, 1, 1))
    assert.matches("dimension 0 out of range", errmsg(x.unfold, x, 0, 1, 1))
    local s = sy.tensor(1)
    assert.matches("dimension 2 out of range for a 0%-d tensor", errmsg(s.unfold, s, 2, 1, 1))
    assert.matches("window size 2 must be in 1..1", errmsg(s.unfold, s, 1, 2, 1))
    assert.matches("number expected", errmsg(x.unfold, x, 1, 2))
    local d8 = sy.zeros(1, 1, 1, 1, 1, 1, 1, 2)
    assert.matches("more than 8 dimensions", errmsg(d8.unfold, d8, 8, 1, 1))
  end)

  it("passes a float64 finite-difference check with overlapping windows and with gaps", function()
    local x = sy.randn(7, 3):double():requires_grad(true)
    gradcheck(function(t) return t:unfold(1, 3, 1) end, { x })   -- overlap: step < size
    gradcheck(function(t) return t:unfold(1, 2, 3) end, { x })   -- gaps: step > size
    gradcheck(function(t) return t:unfold(2, 2, 1) end, { x })
    gradcheck(function(t) return t:unfold(1, 3, 1):transpose(2, 3) * 2 end, { x })
    gradcheck(function(t) return t:unfold(1, 1, 1) end, { sy.randn():double():requires_grad(true) })
  end)

  it("accumulates the gradient of overlapping windows, and leaves skipped elements at zero", function()
    local x = sy.zeros(6):double():requires_grad(true)
    x:unfold(1, 3, 1):sum():backward()   -- 4 windows: element i is in min(i, 3, 7 - i, 4) of them
    same({ 1, 2, 3, 3, 2, 1 }, x.grad:totable())
    x.grad = nil
    x:unfold(1, 2, 3):sum():backward()   -- windows {1,2} and {4,5}; 3 and 6 unused
    same({ 1, 1, 0, 1, 1, 0 }, x.grad:totable())
  end)
end)

describe("index_select on unfolded windows", function()
  it("equals index_select on a contiguous copy, bit for bit (float32, float64)", function()
    sy.manual_seed(5)
    for _, dt in ipairs({ "float32", "float64" }) do
      local X = sy.randn(40, 3):to(dt)
      for _, step in ipairs({ 1, 2, 5 }) do
        local w = X:unfold(1, 6, step):transpose(2, 3)   -- [N, 6, 3], strides (3*step, 3, 1)
        assert.are.same({ 3 * step, 3, 1 }, w:stride())
        local idx = sy.randperm(w:size(1)):narrow(1, 1, 5)
        local got = w:index_select(1, idx)
        assert.is_true(got:is_contiguous())
        bits_equal(w:contiguous():index_select(1, idx), got)
        -- along the other dims too (the slow path where slices are not one run)
        local i2 = sy.tensor({ 3, 1, 3 }, "int64")
        bits_equal(w:contiguous():index_select(2, i2), w:index_select(2, i2))
        bits_equal(w:contiguous():index_select(3, sy.tensor({ 2 }, "int64")),
          w:index_select(3, sy.tensor({ 2 }, "int64")))
      end
    end
  end)

  it("still gathers contiguous tensors, strided outer dims and repeated indices", function()
    local a = sy.arange(0, 24):view(2, 3, 4):double()
    local idx = sy.tensor({ 3, 1, 3 }, "int64")
    same({ { { 8, 9, 10, 11 }, { 0, 1, 2, 3 }, { 8, 9, 10, 11 } },
           { { 20, 21, 22, 23 }, { 12, 13, 14, 15 }, { 20, 21, 22, 23 } } },
      a:index_select(2, idx):totable())
    -- outer dims with any strides above a contiguous inner block
    local p = a:permute(2, 1, 3)   -- [3, 2, 4], strides (4, 12, 1)
    bits_equal(p:contiguous():index_select(2, sy.tensor({ 2, 1 }, "int64")),
      p:index_select(2, sy.tensor({ 2, 1 }, "int64")))
    bits_equal(p:contiguous():index_select(3, sy.tensor({ 4, 1 }, "int64")),
      p:index_select(3, sy.tensor({ 4, 1 }, "int64")))
    local w = sy.zeros(5, 2):unfold(1, 3, 1):transpose(2, 3)
    assert.matches("out of range", errmsg(w.index_select, w, 1, sy.tensor({ 4 }, "int64")))
  end)
end)
