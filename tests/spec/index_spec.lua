-- Joining, indexing, sorting and selection at the Lua face: 1-based dims and
-- indices in and out, defaults, and argument errors.
local sy = require("synlua")

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok)
  return tostring(msg)
end

-- NaN-aware deep comparison of t:totable() output with an expected table.
local function same(expected, actual)
  if type(expected) == "table" then
    assert.are.equal(#expected, #actual)
    for i = 1, #expected do same(expected[i], actual[i]) end
  elseif expected ~= expected then
    assert.is_true(actual ~= actual, "expected nan, got " .. tostring(actual))
  else
    assert.are.equal(expected, actual)
  end
end

local nan = 0 / 0

describe("sy.cat", function()
  local a = sy.tensor({ { 1, 2 }, { 3, 4 } })
  local b = sy.tensor({ { 5, 6 } })

  it("joins along dim 1 by default and along a given dim", function()
    same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, sy.cat({ a, b }):totable())
    same({ { 1, 2, 1, 2 }, { 3, 4, 3, 4 } }, sy.cat({ a, a }, 2):totable())
    same({ { 1, 2, 1, 2 }, { 3, 4, 3, 4 } }, sy.cat({ a, a }, -1):totable())
  end)

  it("works on strided views and promotes dtypes", function()
    local c = sy.cat({ a:t(), sy.tensor({ { 7, 8 } }, "int64") }, 1)
    assert.are.equal("float32", c:dtype())
    same({ { 1, 3 }, { 2, 4 }, { 7, 8 } }, c:totable())
    local i = sy.cat({ sy.tensor({ 1 }, "int64"), sy.tensor({ 2 }, "int64") })
    assert.are.equal("int64", i:dtype())
    assert.are.equal(math.type(i:totable()[1]), "integer")
  end)

  it("lets an empty 1-d tensor join anything", function()
    local acc = sy.tensor({})
    for _ = 1, 3 do acc = sy.cat({ acc, b }) end
    same({ { 5, 6 }, { 5, 6 }, { 5, 6 } }, acc:totable())
  end)

  it("names the offending tensor and the shapes", function()
    assert.matches("the 2nd tensor has shape %[1,2%] but the 1st has shape %[2,2%]",
      errmsg(sy.cat, { a, b }, 2))
    assert.matches("bad argument #1 to '[%w_.]*cat' %(element 2 is a number, expected a tensor%)",
      errmsg(sy.cat, { a, 3 }))
    assert.matches("bad argument #1 to '[%w_.]*cat' %(expected a non%-empty table of tensors%)",
      errmsg(sy.cat, {}))
    assert.matches("bad argument #1 to '[%w_.]*cat' %(table expected, got synlua.Tensor%)", errmsg(sy.cat, a))
    assert.matches("bad argument #2 to '[%w_.]*cat' %(dimension 3 out of range", errmsg(sy.cat, { a, a }, 3))
    assert.matches("bad argument #2 to '[%w_.]*cat' %(number has no integer representation%)",
      errmsg(sy.cat, { a, a }, 1.5))
    assert.matches("0%-d", errmsg(sy.cat, { sy.tensor(1), sy.tensor(2) }))
  end)
end)

describe("sy.stack", function()
  local a, b = sy.tensor({ 1, 2 }), sy.tensor({ 3, 4 })

  it("adds a new dimension, first by default", function()
    same({ { 1, 2 }, { 3, 4 } }, sy.stack({ a, b }):totable())
    same({ { 1, 3 }, { 2, 4 } }, sy.stack({ a, b }, 2):totable())
    same({ { 1, 3 }, { 2, 4 } }, sy.stack({ a, b }, -1):totable())
    same({ 1, 2 }, sy.stack({ sy.tensor(1), sy.tensor(2) }):totable())
  end)

  it("checks shapes and dims", function()
    assert.matches("the 2nd tensor has shape %[3%] but the 1st has shape %[2%]",
      errmsg(sy.stack, { a, sy.tensor({ 1, 2, 3 }) }))
    assert.matches("bad argument #2 to '[%w_.]*stack' %(dimension 4 out of range %(expected 1..2",
      errmsg(sy.stack, { a, b }, 4))
  end)
end)

describe("index_select", function()
  local t = sy.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })

  it("takes 1-based int64 indices or a table, as function and method", function()
    same({ { 3, 1, 3 }, { 6, 4, 6 } }, t:index_select(2, sy.tensor({ 3, 1, 3 }, "int64")):totable())
    same({ { 4, 5, 6 } }, sy.index_select(t, 1, { 2 }):totable())
    same({ { 3, 2 }, { 6, 5 } }, t:index_select(-1, { 3, 2 }):totable())
    local e = t:index_select(1, {})
    same({ 0, 3 }, e:size())
  end)

  it("accepts a strided index tensor", function()
    local idx = sy.tensor({ { 1, 3 }, { 2, 1 } }, "int64"):t()   -- columns: {1,2}, {3,1}
    same({ { 3, 1 }, { 6, 4 } }, t:index_select(2, idx:select(1, 2)):totable())
  end)

  it("gives the same rows from a contiguous tensor (one copy per slab) as from a strided one", function()
    sy.manual_seed(5)
    local x = sy.randn(4, 3, 5)
    local strided = x:transpose(1, 3):contiguous():transpose(1, 3)   -- same values, other strides
    assert.is_false(strided:is_contiguous())
    for d = 1, 3 do
      local idx = { x:size(d), 1, x:size(d), 2 }
      same(strided:index_select(d, idx):totable(), x:index_select(d, idx):totable())
    end
    assert.matches("index 6 out of range for dimension 3 of size 5", errmsg(sy.index_select, x, 3, { 1, 6 }))
  end)

  it("checks every argument", function()
    assert.matches("bad argument #3 to '[%w_.]*index_select' %(index 4 out of range for dimension 2 of size 3%)",
      errmsg(sy.index_select, t, 2, { 1, 4 }))
    assert.matches("index 0 out of range for dimension 2 of size 3 %(indices count from 1%)",
      errmsg(sy.index_select, t, 2, sy.tensor({ 0 }, "int64")))
    assert.matches("bad argument #2 to '[%w_.]*index_select' %(index tensor must be int64, got float32%)",
      errmsg(function() return t:index_select(2, sy.tensor({ 1 })) end))
    assert.matches("bad argument #3 to '[%w_.]*index_select' %(entry 2 is not an integer %(got 1.5%)%)",
      errmsg(sy.index_select, t, 2, { 1, 1.5 }))
    assert.matches("entry 1 is not an integer %(got string%)", errmsg(sy.index_select, t, 2, { "x" }))
    assert.matches("index must be 1%-d, got shape %[1,1%]",
      errmsg(sy.index_select, t, 2, sy.tensor({ { 1 } }, "int64")))
    assert.matches("bad argument #2 to '[%w_.]*index_select' %(dimension 3 out of range",
      errmsg(sy.index_select, t, 3, { 1 }))
    assert.matches("bad argument #3 to '[%w_.]*index_select' %(int64 tensor or table of integers expected, got no value%)",
      errmsg(sy.index_select, t, 1))
  end)
end)

describe("gather", function()
  local t = sy.tensor({ { 1, 2 }, { 3, 4 } })

  it("follows torch.gather with 1-based indices", function()
    local idx = sy.tensor({ { 1, 1 }, { 2, 1 } }, "int64")
    same({ { 1, 1 }, { 4, 3 } }, t:gather(2, idx):totable())
    same({ { 1, 2 }, { 3, 2 } }, sy.gather(t, 1, idx):totable())
    -- the index may be smaller than the input off the gathered dim
    same({ { 2, 2, 1 } }, t:gather(2, sy.tensor({ { 2, 2, 1 } }, "int64")):totable())
  end)

  it("checks range, dtype and shape", function()
    assert.matches("bad argument #3 to '[%w_.]*gather' %(index 3 out of range for dimension 2 of size 2%)",
      errmsg(sy.gather, t, 2, sy.tensor({ { 1, 3 } }, "int64")))
    assert.matches("index tensor must be int64, got float32", errmsg(sy.gather, t, 2, t))
    assert.matches("bad argument #3 to '[%w_.]*gather' %(int64 tensor expected, got table%)",
      errmsg(sy.gather, t, 2, { { 1 } }))
    assert.matches("gather: index of shape %[3,1%] does not fit input of shape %[2,2%]",
      errmsg(sy.gather, t, 2, sy.tensor({ { 1 }, { 1 }, { 1 } }, "int64")))
  end)
end)

describe("sort", function()
  it("sorts the last dim by default, stable, NaN largest, 1-based indices", function()
    local t = sy.tensor({ { 3, nan, 1, 3 }, { 0, -1, 2, -2 } })
    local v, i = t:sort()
    same({ { 1, 3, 3, nan }, { -2, -1, 0, 2 } }, v:totable())
    same({ { 3, 1, 4, 2 }, { 4, 2, 1, 3 } }, i:totable())
    assert.are.equal("int64", i:dtype())
    assert.are.equal(math.type(i:totable()[1][1]), "integer")
    v, i = sy.sort(t, 2, true)
    same({ { nan, 3, 3, 1 }, { 2, 0, -1, -2 } }, v:totable())
    same({ { 2, 1, 4, 3 }, { 3, 1, 2, 4 } }, i:totable())
    v, i = t:sort(1)
    same({ { 0, -1, 1, -2 }, { 3, nan, 2, 3 } }, v:totable())
    same({ { 2, 2, 1, 2 }, { 1, 1, 2, 1 } }, i:totable())
  end)

  it("keeps the dtype", function()
    local v = sy.tensor({ 5, -7, 2 }, "int64"):sort()
    assert.are.equal("int64", v:dtype())
    same({ -7, 2, 5 }, v:totable())
  end)

  it("checks its arguments", function()
    local t = sy.tensor({ 1, 2 })
    assert.matches("bad argument #2 to '[%w_.]*sort' %(dimension 2 out of range", errmsg(sy.sort, t, 2))
    assert.matches("bad argument #3 to '[%w_.]*sort' %(boolean expected, got number%)", errmsg(sy.sort, t, 1, 1))
    assert.matches("bad argument #1 to '[%w_.]*sort' %(tensor expected, got table%)", errmsg(sy.sort, { 1 }))
    assert.matches("sort: expects a tensor with at least 1 dimension", errmsg(sy.sort, sy.tensor(1)))
  end)
end)

describe("topk", function()
  local t = sy.tensor({ { 1, 5, 3, 5, 2 }, { 9, 8, 7, 6, 10 } })

  it("returns the k largest, sorted, with 1-based indices", function()
    local v, i = t:topk(2)
    same({ { 5, 5 }, { 10, 9 } }, v:totable())
    same({ { 2, 4 }, { 5, 1 } }, i:totable())
  end)

  it("returns the k smallest with largest = false, along any dim", function()
    local v, i = sy.topk(t, 3, 2, false)
    same({ { 1, 2, 3 }, { 6, 7, 8 } }, v:totable())
    same({ { 1, 5, 3 }, { 4, 3, 2 } }, i:totable())
    v, i = t:topk(1, 1)
    same({ { 9, 8, 7, 6, 10 } }, v:totable())
    same({ { 2, 2, 2, 2, 2 } }, i:totable())
  end)

  it("allows k = 0 and k = n", function()
    same({ 2, 0 }, t:topk(0):size())
    local v = t:topk(5)
    same({ { 5, 5, 3, 2, 1 }, { 10, 9, 8, 7, 6 } }, v:totable())
  end)

  it("checks k, dim and largest", function()
    assert.matches("bad argument #2 to '[%w_.]*topk' %(k = 6 out of range for dimension 2 of size 5 %(expected 0..5%)%)",
      errmsg(sy.topk, t, 6))
    assert.matches("k = %-1 out of range", errmsg(sy.topk, t, -1))
    assert.matches("bad argument #2 to '[%w_.]*topk' %(number has no integer representation%)",
      errmsg(sy.topk, t, 1.5))
    assert.matches("bad argument #1 to '[%w_.]*topk' %(number expected, got no value%)",
      errmsg(function() return t:topk() end))
    assert.matches("bad argument #3 to '[%w_.]*topk' %(dimension 3 out of range", errmsg(sy.topk, t, 1, 3))
    assert.matches("bad argument #4 to '[%w_.]*topk' %(boolean expected, got string%)",
      errmsg(sy.topk, t, 1, 1, "yes"))
  end)
end)

describe("kthvalue", function()
  local t = sy.tensor({ { 4, 1, 3, 1 }, { 2, 8, 6, 5 } })

  it("returns the k-th smallest and its 1-based index, dim removed", function()
    local v, i = t:kthvalue(3)
    same({ 3, 6 }, v:totable())
    same({ 3, 3 }, i:totable())
    v, i = sy.kthvalue(t, 1, 1, true)
    same({ { 2, 1, 3, 1 } }, v:totable())
    same({ { 2, 1, 1, 1 } }, i:totable())
  end)

  it("returns an index of an element with that value when there are ties", function()
    local v, i = sy.tensor({ 1, 7, 1, 7 }):kthvalue(1)
    assert.are.equal(1, v:item())
    assert.is_true(i:item() == 1 or i:item() == 3)
    assert.are.equal(0, i:dim())
  end)

  it("checks k and keepdim", function()
    assert.matches("bad argument #2 to '[%w_.]*kthvalue' %(k = 0 out of range for dimension 2 of size 4 %(expected 1..4%)%)",
      errmsg(sy.kthvalue, t, 0))
    assert.matches("k = 5 out of range", errmsg(sy.kthvalue, t, 5))
    assert.matches("k = 3 out of range for dimension 1 of size 2", errmsg(sy.kthvalue, t, 3, 1))
    assert.matches("bad argument #4 to '[%w_.]*kthvalue' %(boolean expected, got number%)",
      errmsg(sy.kthvalue, t, 1, 1, 1))
  end)
end)

describe("selection on large inputs", function()
  -- topk and kthvalue select rather than sort (linear expected time), so
  -- these return at once; results are checked by counting, not sorting.
  it("finds the median and the top 5 of 1e6 values", function()
    local n = 1000000
    math.randomseed(42)
    local data = {}
    for j = 1, n do data[j] = math.random(1, 100000) / 7 end
    local x = sy.tensor(data, "float64")

    local m, mi = x:kthvalue(n // 2)
    local kv = m:item()
    assert.are.equal(kv, data[mi:item()])
    local less, less_eq = 0, 0
    for j = 1, n do
      if data[j] < kv then less = less + 1 end
      if data[j] <= kv then less_eq = less_eq + 1 end
    end
    assert.is_true(less < n // 2 and n // 2 <= less_eq)

    local v, i = x:topk(5)
    local vals, idx = v:totable(), i:totable()
    for j = 1, 5 do
      assert.are.equal(vals[j], data[idx[j]])
      if j > 1 then assert.is_true(vals[j] <= vals[j - 1]) end
    end
    local greater = 0
    for j = 1, n do
      if data[j] > vals[5] then greater = greater + 1 end
    end
    assert.is_true(greater < 5)
  end)
end)
