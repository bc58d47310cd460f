-- Reductions at the Lua face: sum, mean, prod, max, min, argmax, argmin, var,
-- std as functions and methods, over all elements (0-d results), every dim,
-- negative dims and keepdim; 1-based indices; argument errors.
local sy = require("synlua")

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return tostring(err)
end

local function is_nan(v) return v ~= v end

-- x = {{1, 2, 3}, {4, 5, 6}}
local function x23() return sy.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }) end

-- c[i][j][k] = 100 i + 10 j + k, shape [2, 3, 4]
local function c234()
  local rows = {}
  for i = 1, 2 do
    rows[i] = {}
    for j = 1, 3 do
      rows[i][j] = {}
      for k = 1, 4 do rows[i][j][k] = 100 * i + 10 * j + k end
    end
  end
  return sy.tensor(rows, "float64")
end

describe("sum", function()
  it("over all elements gives a 0-d tensor", function()
    local x = x23()
    local s = x:sum()
    assert.are.equal(0, s:dim())
    assert.are.equal(21, s:item())
    assert.are.equal(21, sy.sum(x):item())
    assert.are.equal("float32", s:dtype())
  end)

  it("over each dim, 1-based and negative", function()
    local x = x23()
    assert.are.same({ 5, 7, 9 }, x:sum(1):totable())
    assert.are.same({ 6, 15 }, x:sum(2):totable())
    assert.are.same({ 6, 15 }, sy.sum(x, -1):totable())
    assert.are.same({ 5, 7, 9 }, x:sum(-2):totable())
  end)

  it("keeps the reduced dim as size 1 with keepdim", function()
    local x = x23()
    assert.are.same({ { 5, 7, 9 } }, x:sum(1, true):totable())
    assert.are.same({ { 6 }, { 15 } }, x:sum(2, true):totable())
    assert.are.same({ 2, 1 }, x:sum(2, true):size())
    assert.are.same({ 3 }, x:sum(1, false):size())
    assert.are.same({ 1, 1 }, x:sum(nil, true):size())
  end)

  it("reduces every dim of a 3-d tensor", function()
    local c = c234()
    -- over dim 1: (100 + 10j + k) + (200 + 10j + k)
    local s1 = c:sum(1)
    assert.are.same({ 3, 4 }, s1:size())
    assert.are.equal(300 + 20 * 2 + 2 * 3, s1[2][3])
    -- over dim 2: 3 * 100i + (10 + 20 + 30) + 3k
    local s2 = c:sum(2)
    assert.are.same({ 2, 4 }, s2:size())
    assert.are.equal(600 + 60 + 12, s2[2][4])
    -- over dim 3: 4 * (100i + 10j) + (1 + 2 + 3 + 4)
    local s3 = c:sum(3, true)
    assert.are.same({ 2, 3, 1 }, s3:size())
    assert.are.equal(4 * 120 + 10, s3[1][2][1])
    assert.are.equal(12 * 300 + 8 * 60 + 6 * 10, c:sum():item())
  end)

  it("reads transposed and sliced inputs in place", function()
    local x = x23()
    assert.are.same({ 6, 15 }, x:t():sum(1):totable())
    assert.are.same({ 5, 7, 9 }, x:t():sum(2):totable())
    assert.are.same({ 5, 11 }, x:narrow(2, 2, 2):sum(2):totable())
    assert.are.equal(21, x:t():sum():item())
  end)

  it("widens integers and bools to int64, exactly", function()
    local b = sy.tensor({ true, false, true, true }, "bool")
    local s = b:sum()
    assert.are.equal("int64", s:dtype())
    assert.are.equal(3, s:item())
    assert.is_true(math.type(s:item()) == "integer")
    local big = sy.tensor({ 2 ^ 53, 1, 1 }, "int64")
    assert.are.equal((1 << 53) + 2, big:sum():item())
  end)

  it("of nothing is 0", function()
    assert.are.equal(0, sy.zeros(0):sum():item())
    assert.are.same({ 0, 0, 0 }, sy.zeros(3, 0):sum(2):totable())
  end)
end)

describe("mean and prod", function()
  it("compute means over all elements and dims", function()
    local x = x23()
    assert.are.equal(3.5, x:mean():item())
    assert.are.same({ 2.5, 3.5, 4.5 }, x:mean(1):totable())
    assert.are.same({ { 2 }, { 5 } }, sy.mean(x, 2, true):totable())
  end)

  it("gives float32 for integer input and NaN for no elements", function()
    local m = sy.tensor({ 1, 2 }, "int64"):mean()
    assert.are.equal("float32", m:dtype())
    assert.are.equal(1.5, m:item())
    assert.are.equal(0.75, sy.tensor({ true, true, false, true }, "bool"):mean():item())
    assert.is_true(is_nan(sy.zeros(0):mean():item()))
  end)

  it("multiplies", function()
    local x = x23()
    assert.are.equal(720, x:prod():item())
    assert.are.same({ 4, 10, 18 }, x:prod(1):totable())
    assert.are.same({ 6, 120 }, sy.prod(x, 2):totable())
    assert.are.equal(1, sy.zeros(0):prod():item())
    assert.are.equal("int64", sy.tensor({ 2, 3 }, "uint8"):prod():dtype())
  end)
end)

describe("max and min", function()
  it("without a dim return one 0-d tensor", function()
    local x = x23()
    local m = x:max()
    assert.are.equal(0, m:dim())
    assert.are.equal(6, m:item())
    assert.are.equal(1, sy.min(x):item())
    assert.are.equal(1, select("#", x:max()))
  end)

  it("with a dim return values and 1-based int64 indices", function()
    local x = sy.tensor({ { 3, 9, 1 }, { 7, 2, 8 } })
    local v, i = x:max(1)
    assert.are.same({ 7, 9, 8 }, v:totable())
    assert.are.same({ 2, 1, 2 }, i:totable())
    assert.are.equal("int64", i:dtype())
    v, i = x:min(2)
    assert.are.same({ 1, 2 }, v:totable())
    assert.are.same({ 3, 2 }, i:totable())
    v, i = sy.max(x, -1, true)
    assert.are.same({ { 9 }, { 8 } }, v:totable())
    assert.are.same({ { 2 }, { 3 } }, i:totable())
  end)

  it("keep the dtype", function()
    local v, i = sy.tensor({ 4, 250, 7 }, "uint8"):max(1)
    assert.are.equal("uint8", v:dtype())
    assert.are.equal(250, v:item())
    assert.are.equal(2, i:item())
  end)

  it("break ties by the first occurrence", function()
    local v, i = sy.tensor({ 1, 5, 5, 0, 5 }):max(1)
    assert.are.equal(5, v:item())
    assert.are.equal(2, i:item())
    local _, j = sy.tensor({ { 2, 0 }, { 2, 0 }, { 1, 0 } }):max(1)
    assert.are.same({ 1, 1 }, j:totable())
    local _, k = sy.tensor({ { 2, 0 }, { 2, 0 }, { 1, 0 } }):min(1)
    assert.are.same({ 3, 1 }, k:totable())
  end)

  it("propagate NaN and point at the first one", function()
    local t = sy.tensor({ 1, 0 / 0, 3, 0 / 0 })
    local v, i = t:max(1)
    assert.is_true(is_nan(v:item()))
    assert.are.equal(2, i:item())
    v, i = t:min(1)
    assert.is_true(is_nan(v:item()))
    assert.are.equal(2, i:item())
    assert.is_true(is_nan(t:max():item()))
  end)

  it("return indices that autograd's backward leaves alone", function()
    local x = sy.tensor({ { 1, 5 }, { 7, 2 } }, "float64"):requires_grad(true)
    local v, i = x:max(2)
    assert.are.same({ 2, 1 }, i:totable())
    v:sum():backward()
    assert.are.same({ { 0, 1 }, { 1, 0 } }, x.grad:totable())
    assert.are.same({ 2, 1 }, i:totable())
  end)

  it("refuse empty dims", function()
    assert.matches("max: cannot reduce over an empty dimension %(input shape %[0%]%)",
      err_of(function() return sy.zeros(0):max() end))
    assert.matches("min: cannot reduce over an empty dimension %(input shape %[3,0%]%)",
      err_of(function() return sy.zeros(3, 0):min(2) end))
  end)
end)

describe("argmax and argmin", function()
  it("without a dim give the 1-based flat index as a 0-d int64 tensor", function()
    local x = sy.tensor({ { 3, 9, 1 }, { 7, 2, 8 } })
    local a = x:argmax()
    assert.are.equal(0, a:dim())
    assert.are.equal("int64", a:dtype())
    assert.are.equal(2, a:item())
    assert.are.equal(3, sy.argmin(x):item())
    -- the flat index counts in the logical (row-major) order, also for views
    assert.are.equal(3, x:t():argmax():item())
  end)

  it("with a dim give 1-based indices", function()
    local x = sy.tensor({ { 3, 9, 1 }, { 7, 2, 8 } })
    assert.are.same({ 2, 1, 2 }, x:argmax(1):totable())
    assert.are.same({ 2, 3 }, x:argmax(2):totable())
    assert.are.same({ { 3 }, { 2 } }, x:argmin(-1, true):totable())
    local c = c234()
    assert.are.same({ 3, 4 }, c:argmax(1):size())
    assert.are.equal(2, c:argmax(1)[1][1])
    assert.are.equal(3, c:argmax(2)[2][4])
    assert.are.equal(1, c:argmin(3)[2][3])
  end)

  it("pick the first of ties and the first NaN", function()
    assert.are.equal(2, sy.tensor({ 0, 4, 4 }):argmax():item())
    assert.are.equal(1, sy.tensor({ 4, 4, 5 }):argmin():item())
    assert.are.equal(3, sy.tensor({ 1, 2, 0 / 0, 9 }):argmax(1):item())
  end)

  it("refuse empty tensors", function()
    assert.matches("argmax: cannot reduce over an empty dimension",
      err_of(function() return sy.zeros(2, 0):argmax() end))
  end)
end)

describe("var and std", function()
  it("are unbiased by default", function()
    local t = sy.tensor({ 1, 2, 3, 4 })
    assert.is_true(math.abs(t:var():item() - 5 / 3) < 1e-6)
    assert.is_true(math.abs(t:std():item() - math.sqrt(5 / 3)) < 1e-6)
    assert.are.equal(1.25, t:var(nil, false, false):item())
    assert.are.equal(1.25, sy.var(t, 1, false, false):item())
  end)

  it("reduce over dims with keepdim", function()
    local x = sy.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, "float64")
    assert.are.same({ 4.5, 4.5, 4.5 }, x:var(1):totable())
    assert.are.same({ { 1 }, { 1 } }, x:var(2, true):totable())
    assert.are.same({ { 2 / 3 }, { 2 / 3 } }, x:var(2, true, false):totable())
    assert.are.same({ 1, 1 }, sy.std(x, -1):totable())
  end)

  it("of one sample is NaN when unbiased", function()
    assert.is_true(is_nan(sy.tensor({ 5 }):var():item()))
    assert.are.equal(0, sy.tensor({ 5 }):var(1, false, false):item())
  end)
end)

describe("reduction arguments", function()
  it("name the bad dim", function()
    local x = x23()
    assert.matches("bad argument #2 to 'sum' %(dimension 3 out of range %(expected 1..2 or %-2..%-1%)%)",
      err_of(function() return sy.sum(x, 3) end))
    assert.matches("bad argument #1 to 'mean' %(dimension %-3 out of range",
      err_of(function() return x:mean(-3) end))
    assert.matches("bad argument #1 to 'sum' %(dimension out of range %(tensor has 0 dimensions%)%)",
      err_of(function() return sy.tensor(3):sum(1) end))
  end)

  it("refuse a float where an integer dim is meant", function()
    local x = x23()
    assert.matches("bad argument #1 to 'max' %(number has no integer representation%)",
      err_of(function() return x:max(1.5) end))
    assert.matches("bad argument #2 to 'argmax' %(number expected, got string%)",
      err_of(function() return sy.argmax(x, "one") end))
  end)

  it("want booleans for keepdim and unbiased", function()
    local x = x23()
    assert.matches("bad argument #2 to 'sum' %(boolean expected, got number%)",
      err_of(function() return x:sum(1, 1) end))
    assert.matches("bad argument #4 to 'var' %(boolean expected, got string%)",
      err_of(function() return sy.var(x, 1, false, "yes") end))
  end)

  it("want a tensor first", function()
    assert.matches("bad argument #1 to 'sum' %(tensor expected, got number%)",
      err_of(function() return sy.sum(5) end))
    assert.matches("bad argument #1 to 'std' %(tensor expected, got no value%)",
      err_of(function() return sy.std() end))
  end)

  it("point max(a, b) to maximum", function()
    local x = x23()
    assert.matches("bad argument #2 to 'max' %(dimension expected, got tensor %(use maximum%(a, b%)",
      err_of(function() return sy.max(x, x) end))
  end)
end)
