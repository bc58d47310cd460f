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

  it("on float32 rows of every length agree with a first-wins scan: ties, NaN, -inf, signed zeros", function()
    -- rows of 8 or more take a vector path (overlapping last vector), shorter ones the scalar loop
    math.randomseed(7)
    local inf, nan = math.huge, 0 / 0
    local lengths = { 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 63, 64, 65, 100, 257 }
    local function scan(row, want_max)   -- PyTorch's CPU rule: first extreme, first NaN wins
      local b, bi = row[1], 1
      for k = 2, #row do
        if b ~= b then break end
        local x = row[k]
        if x ~= x or (want_max and x > b) or (not want_max and x < b) then b, bi = x, k end
      end
      return b, bi
    end
    local function same(a, b)   -- NaN equals NaN; zeros compared with their signs
      if a ~= a then return b ~= b end
      return a == b and (a ~= 0 or 1 / a == 1 / b)
    end
    for _, n in ipairs(lengths) do
      local rows = {}
      for r = 1, 12 do
        local row = {}
        for k = 1, n do row[k] = math.random(-3, 3) + 0.0 end   -- many ties
        if r == 2 then for k = 1, n do row[k] = -inf end end
        if r == 3 then for k = 1, n do row[k] = (k % 2 == 0) and -0.0 or 0.0 end end
        if r == 4 then row[n] = nan end                          -- NaN in the tail
        if r == 5 then row[1] = nan; row[n] = nan end            -- first and last
        if r == 6 then row[math.random(n)] = nan; row[math.random(n)] = nan end
        if r == 7 then row[math.random(n)] = inf; row[math.random(n)] = -inf end
        if r == 8 then for k = 1, n do row[k] = -inf end; row[n] = -3.0 end
        if r == 9 then row[n] = 9.0; row[1] = -9.0 end           -- extremes in the last vector
        rows[r] = row
      end
      local t = sy.tensor(rows)
      local mv, mi = t:max(2)
      local nv, ni = t:min(2)
      local am, an = t:argmax(2):totable(), t:argmin(2):totable()
      mv, mi, nv, ni = mv:totable(), mi:totable(), nv:totable(), ni:totable()
      for r, row in ipairs(rows) do
        local b, bi = scan(row, true)
        local c, ci = scan(row, false)
        local at = "n = " .. n .. ", row " .. r
        assert.is_true(same(b, mv[r]), "max value, " .. at)
        assert.are.equal(bi, mi[r], "max index, " .. at)
        assert.are.equal(bi, am[r], "argmax, " .. at)
        assert.is_true(same(c, nv[r]), "min value, " .. at)
        assert.are.equal(ci, ni[r], "min index, " .. at)
        assert.are.equal(ci, an[r], "argmin, " .. at)
      end
      local flat = sy.tensor(rows[6])
      assert.are.equal(select(2, scan(rows[6], true)), flat:argmax():item(), "flat argmax, n = " .. n)
      assert.are.equal(select(2, scan(rows[1], false)), sy.tensor(rows[1]):argmin():item(), "flat argmin, n = " .. n)
    end
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

-- The float kernels: rows summed in 32 double lanes (tails and strided rows
-- gathered and padded), columns in one chain each, 64 or 32 at a time.
describe("float sums", function()
  local function hex(t)
    local out = {}
    for i, v in ipairs(type(t) == "table" and t or { t }) do out[i] = string.format("%a", v) end
    return table.concat(out, " ")
  end
  -- exact in float32 and in every partial sum: integers in [-8, 8]
  local function ints(n, dt)
    local v, s = {}, 0
    for k = 1, n do
      v[k] = (k * 7) % 17 - 8
      s = s + v[k]
    end
    return sy.tensor(v, dt), s
  end
  -- Neumaier's compensated sum: the float64 reference
  local function ref_sum(v)
    local s, c = 0.0, 0.0
    for _, x in ipairs(v) do
      local t = s + x
      if math.abs(s) >= math.abs(x) then c = c + ((s - t) + x) else c = c + ((x - t) + s) end
      s = t
    end
    return s + c
  end
  local function f32(v) return sy.tensor({ v }, "float32")[1] end

  it("sum lengths that leave tails exactly", function()
    for _, dt in ipairs({ "float32", "float64" }) do
      for _, n in ipairs({ 1, 7, 9, 31, 32, 33, 63, 64, 65, 1000003 }) do
        local x, s = ints(n, dt)
        assert.are.equal(s, x:sum():item())
        assert.are.equal(dt == "float32" and f32(s / n) or s / n, x:mean():item())
        -- the same values as rows of a 2-d tensor, and as its columns
        local r = x:view(1, n):expand(3, n):contiguous()
        assert.are.same({ s, s, s }, r:sum(2):totable())
        assert.are.same({ s, s, s }, r:t():sum(1):totable())
        if n < 100 then
          assert.are.same({ s, s, s }, r:t():contiguous():sum(1):totable())
        end
      end
    end
  end)

  it("give each column of 1 to 70 its own sum", function()
    for _, dt in ipairs({ "float32", "float64" }) do
      for _, m in ipairs({ 1, 2, 7, 31, 32, 33, 63, 64, 65, 70 }) do
        local rows, want = {}, {}
        for i = 1, 9 do
          rows[i] = {}
          for j = 1, m do
            rows[i][j] = (i * 13 + j * 5) % 11 - 5
            want[j] = (want[j] or 0) + rows[i][j]
          end
        end
        local x = sy.tensor(rows, dt)
        assert.are.same(want, x:sum(1):totable())
        assert.are.same(want, x:t():sum(2):totable())
        local p = x:prod(1):totable()
        for j = 1, m do
          local q = 1
          for i = 1, 9 do q = q * rows[i][j] end
          assert.are.equal(q, p[j])
        end
      end
    end
  end)

  it("do not depend on strides: strided and transposed rows give the same bits", function()
    sy.manual_seed(5)
    for _, dt in ipairs({ "float32", "float64" }) do
      for _, n in ipairs({ 9, 65, 1000 }) do
        local w = sy.randn(n, 3):to(dt)
        local col = w:narrow(2, 2, 1)   -- [n, 1], rows 3 elements apart
        local dense = col:contiguous()
        assert.are.equal(hex(dense:sum():item()), hex(col:sum(1)[1]))
        assert.are.equal(hex(dense:sum(1)[1]), hex(col:sum(1)[1]))
        assert.are.equal(hex(dense:var(1)[1]), hex(col:var(1)[1]))
        assert.are.equal(hex(dense:prod(1)[1]), hex(col:prod(1)[1]))
        -- rows read through a transpose are rows as well
        local a = sy.randn(5, n):to(dt)
        assert.are.equal(hex(a:sum(2):totable()), hex(a:t():contiguous():t():sum(2):totable()))
        assert.are.equal(hex(a:mean(2):totable()), hex(a:t():contiguous():t():mean(2):totable()))
      end
    end
  end)

  it("give the same bits on 1, 2 and 3 threads", function()
    sy.manual_seed(6)
    local x, c = sy.randn(3840, 64), sy.randn(64, 60, 64):double()
    local got = {}
    for threads = 1, 3 do
      sy.set_num_threads(threads)
      got[threads] = hex({ x:sum():item(), x:mean():item(), x:var():item() }) .. hex(x:sum(1):totable())
        .. hex(x:sum(2):totable()) .. hex(x:std(1):totable()) .. hex(c:sum(1):view(-1):totable())
        .. hex(c:sum(2):view(-1):totable()) .. hex(c:sum(3):view(-1):totable())
    end
    sy.set_num_threads(1)
    assert.are.equal(got[1], got[2])
    assert.are.equal(got[1], got[3])
  end)

  it("keep float32 sums of 1e6 values to the float32 rounding of the exact sum", function()
    sy.manual_seed(7)
    for _, scale in ipairs({ 0, 1 }) do
      -- randn, then all positive values (no cancellation)
      local x = scale == 0 and sy.randn(1000000) or (sy.rand(1000000) + 0.5)
      local v = x:totable()
      local exact = ref_sum(v)
      local s32, s64 = x:sum():item(), x:double():sum():item()
      -- accumulated in double in the same order: s32 is s64 rounded to float
      assert.are.equal(f32(s64), s32)
      -- s64 within 2^-50 of the exact sum (measured: equal to it, for both),
      -- so s32 is within half a float32 ulp (measured 0.03 and 0.38 ulp)
      assert.is_true(math.abs(s64 - exact) <= 2 ^ -50 * math.abs(exact))
      assert.is_true(math.abs(s32 - exact) <= 2 ^ -24 * math.abs(exact) * (1 + 2 ^ -20))
      assert.are.equal(f32(s64 / 1000000), x:mean():item())
    end
  end)

  it("keep NaN and infinities wherever they fall", function()
    for _, dt in ipairs({ "float32", "float64" }) do
      for _, n in ipairs({ 7, 40, 100 }) do
        for _, at in ipairs({ 1, n // 2, n }) do
          local v = {}
          for k = 1, n do v[k] = 1 end
          v[at] = 0 / 0
          assert.is_true(is_nan(sy.tensor(v, dt):sum():item()))
          v[at] = math.huge
          assert.are.equal(math.huge, sy.tensor(v, dt):sum():item())
          assert.are.equal(math.huge, sy.tensor(v, dt):prod():item())
          assert.is_true(is_nan(sy.tensor(v, dt):var():item()))
          v[n + 1 - at == at and 1 or n + 1 - at] = -math.huge
          if n + 1 - at ~= at then assert.is_true(is_nan(sy.tensor(v, dt):sum():item())) end
          local z = {}
          for k = 1, n do z[k] = k == at and 0 or math.huge end
          assert.is_true(is_nan(sy.tensor(z, dt):prod():item()))
        end
      end
    end
  end)

  it("compute var and std of rows and columns with tails", function()
    sy.manual_seed(8)
    for _, dt in ipairs({ "float32", "float64" }) do
      local x = sy.randn(7, 65):to(dt)
      local rows = x:double():totable()
      local v2, v1 = x:var(2):totable(), x:var(1):totable()
      local tol = dt == "float32" and 1e-6 or 1e-13
      -- the unbiased variance of n values, value(k) for k = 1..n, in Lua
      local function var(n, value)
        local m, ss = 0, 0
        for k = 1, n do m = m + value(k) end
        m = m / n
        for k = 1, n do ss = ss + (value(k) - m) ^ 2 end
        return ss / (n - 1)
      end
      for i = 1, 7 do
        local want = var(65, function(k) return rows[i][k] end)
        assert.is_true(math.abs(v2[i] - want) <= tol * want)
      end
      for j = 1, 65 do
        local want = var(7, function(k) return rows[k][j] end)
        assert.is_true(math.abs(v1[j] - want) <= tol * want)
      end
    end
  end)

  it("keep int64 sums exact, wrapping", function()
    local big = math.maxinteger
    assert.are.equal(big + 3 + 0, sy.tensor({ big, 1, 2 }, "int64"):sum():item())
    local v = {}
    for k = 1, 70 do v[k] = (k % 3 == 0) and -3 or 2 end
    local t = sy.tensor(v, "int64")
    local p = 1
    for k = 1, 70 do p = p * v[k] end
    assert.are.equal(p, t:prod():item())
    assert.are.equal(p, t:view(1, 70):prod(2)[1])
  end)
end)
