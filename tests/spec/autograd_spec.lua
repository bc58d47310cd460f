-- Autograd over the core ops: finite-difference checks of every
-- differentiable elementwise op and view, accumulation, grad mode, and the
-- error paths.
local sy = require("synlua")
local gradcheck = require("gradcheck")

local function leaf(t)
  return t:double():requires_grad(true)
end

describe("autograd gradients (float64 finite differences)", function()
  before_each(function() sy.manual_seed(7) end)

  it("binary ops with broadcasting and scalars", function()
    for _, op in ipairs({ "add", "sub", "mul", "div", "maximum", "minimum" }) do
      local a, b = leaf(sy.randn(2, 3)), leaf(sy.rand(3) + 0.5)
      gradcheck(function(x, y) return sy[op](x, y) end, { a, b })
      gradcheck(function(x) return sy[op](x, 2.5) end, { a })
      gradcheck(function(y) return sy[op](3, y) end, { b })
    end
  end)

  it("pow in both arguments", function()
    local a, b = leaf(sy.rand(2, 3) + 0.5), leaf(sy.randn(2, 3))
    gradcheck(function(x, y) return x ^ y end, { a, b })
    gradcheck(function(x) return x ^ 3 end, { leaf(sy.randn(4)) })
  end)

  it("maximum splits the gradient on ties", function()
    local a, b = leaf(sy.tensor({ 1, 2, 3 })), leaf(sy.tensor({ 1, 5, 0 }))
    sy.maximum(a, b):sum():backward()
    assert.same({ 0.5, 0, 1 }, a.grad:totable())
    assert.same({ 0.5, 1, 0 }, b.grad:totable())
  end)

  it("unary ops", function()
    local ops = { "neg", "abs", "exp", "tanh", "sigmoid", "sin", "cos", "square", "expm1", "relu" }
    for _, op in ipairs(ops) do
      gradcheck(function(x) return x[op](x) end, { leaf(sy.randn(3, 2) + 0.1) })
    end
    for _, op in ipairs({ "log", "sqrt", "rsqrt", "reciprocal", "log1p" }) do
      gradcheck(function(x) return x[op](x) end, { leaf(sy.rand(3, 2) + 0.5) })
    end
    local z = leaf(sy.randn(5))
    z:floor():sum():backward()
    assert.same({ 0, 0, 0, 0, 0 }, z.grad:totable())
  end)

  it("relu passes the gradient where x > 0 only (0, NaN, views, both dtypes)", function()
    for _, dt in ipairs({ "float32", "float64" }) do
      local vals = { -1, 0, 2, 0 / 0, -0.0, 1e-30, -3, 4, 5, -6, 7 }   -- past one 8-lane vector
      local x = sy.tensor(vals, dt):requires_grad(true)
      local g = sy.arange(1, 12):to(dt)
      x:relu():backward(g)
      assert.same({ 0, 0, 3, 0, 0, 6, 0, 8, 9, 0, 11 }, x.grad:totable())
      -- a transposed input and an expanded gradient (from sum) take the same path
      local m = sy.tensor({ { -1, 2, 3 }, { 4, -5, 6 } }, dt):requires_grad(true)
      m:t():relu():sum():backward()
      assert.same({ { 0, 1, 1 }, { 1, 0, 1 } }, m.grad:totable())
    end
  end)

  it("clamp and where", function()
    local a = leaf(sy.tensor({ -2, -0.5, 0.3, 0.9, 2 }))
    gradcheck(function(x) return x:clamp(-1, 1) end, { a })
    local b = leaf(sy.randn(5))
    local cond = sy.tensor({ 1, 0, 1, 0, 1 }, "bool")
    gradcheck(function(x, y) return sy.where(cond, x, y) end, { a, b })
    gradcheck(function(x) return sy.where(cond, x, 0) end, { a })
  end)

  it("views", function()
    local a = leaf(sy.randn(2, 3, 4))
    gradcheck(function(x) return x:narrow(3, 2, 2) end, { a })
    gradcheck(function(x) return x:select(2, 3) end, { a })
    gradcheck(function(x) return x:transpose(1, 3) end, { a })
    gradcheck(function(x) return x:permute(3, 1, 2) * 1 end, { a })
    gradcheck(function(x) return x:view(6, 4) end, { a })
    gradcheck(function(x) return x:transpose(1, 2):reshape(3, 8) end, { a })
    gradcheck(function(x) return x:unsqueeze(2):expand(2, 5, 3, 4) end, { a })
    gradcheck(function(x) return x:narrow(1, 1, 1):squeeze(1) end, { a })
    gradcheck(function(x) return x[2][1] end, { a })
    gradcheck(function(x) return x:t():contiguous():clone() end, { leaf(sy.randn(3, 2)) })
  end)

  it("reductions over all elements and over a dim", function()
    local a = leaf(sy.randn(3, 4))
    for _, op in ipairs({ "sum", "mean", "var", "std", "prod" }) do
      gradcheck(function(x) return x[op](x) end, { a })
      gradcheck(function(x) return x[op](x, 2) end, { a })
      gradcheck(function(x) return x[op](x, 1, true) end, { a })
    end
    gradcheck(function(x) return (x:max(2)) end, { a })
    gradcheck(function(x) return (x:min(1, true)) end, { a })
    gradcheck(function(x) return x:max() end, { a })
    -- an exact zero in prod: the gradient is the product of the others
    local z = leaf(sy.tensor({ 2, 0, 3 }))
    z:prod():backward()
    assert.same({ 0, 6, 0 }, z.grad:totable())
  end)

  it("matmul in every shape combination", function()
    local cases = {
      { { 3 }, { 3 } }, { { 2, 3 }, { 3 } }, { { 3 }, { 3, 2 } }, { { 2, 3 }, { 3, 4 } },
      { { 2, 2, 3 }, { 3, 4 } }, { { 2, 3 }, { 5, 3, 4 } }, { { 1, 2, 3 }, { 4, 3, 2 } },
    }
    for _, c in ipairs(cases) do
      gradcheck(function(x, y) return x:matmul(y) end, { leaf(sy.randn(c[1])), leaf(sy.randn(c[2])) })
    end
    local b = leaf(sy.randn(4, 3))
    gradcheck(function(x) return x:matmul(b:t()) end, { leaf(sy.randn(2, 3)) })
  end)

  it("cat, stack, index_select and gather", function()
    local a, b = leaf(sy.randn(2, 3)), leaf(sy.randn(2, 2))
    gradcheck(function(x, y) return sy.cat({ x, y, x }, 2) end, { a, b })
    gradcheck(function(x) return sy.stack({ x, x * 2 }, 2) end, { a })
    local idx = sy.tensor({ 3, 1, 3 }, "int64")
    gradcheck(function(x) return x:index_select(2, idx) end, { a })
    local g = sy.tensor({ { 1, 2, 1 }, { 2, 2, 1 } }, "int64")
    gradcheck(function(x) return x:gather(1, g) end, { a })
  end)

  it("sort, topk and kthvalue route the gradient to the chosen elements", function()
    local a = leaf(sy.randn(3, 5))
    gradcheck(function(x) return (x:sort(2, true)) end, { a })
    gradcheck(function(x) return (x:topk(2, 2)) end, { a })
    gradcheck(function(x) return (x:kthvalue(2, 1)) end, { a })
    gradcheck(function(x) return (x:kthvalue(3, 2, true)) end, { a })
    local v, i = a:sort(2)
    assert.equals(1, i:min():item())   -- indices stay 1-based with autograd on
    assert.is_true(v:requires_grad())
  end)

  it("flows through dtype conversions back to float32 leaves", function()
    local a = sy.randn(3):requires_grad(true)
    local y = a:double() * 2
    y:sum():backward()
    assert.equals("float32", a.grad:dtype())
    assert.same({ 2, 2, 2 }, a.grad:totable())
  end)
end)

describe("autograd mechanics", function()
  it("accumulates over backward calls and resets with grad = nil", function()
    local w = sy.tensor({ 1, 2 }):requires_grad(true)
    local y1, y2 = (w * 3):sum(), (w * w):sum()
    y1:backward()
    y2:backward()
    assert.same({ 5, 7 }, w.grad:totable())
    w.grad = nil
    assert.is_nil(w.grad)
  end)

  it("uses a tensor twice in one graph", function()
    local x = sy.tensor({ 3 }, "float64"):requires_grad(true)
    local y = x * x + x
    y:sum():backward()
    assert.same({ 7 }, x.grad:totable())
  end)

  -- The engine keeps a backward's gradient instead of copying it, and one
  -- gradient may reach several inputs (add passes it to both): no two
  -- leaves may then share a grad, and a later sum must not write into a
  -- tensor that another slot or the caller still holds.
  it("never shares a gradient between leaves, slots or the caller", function()
    local a = sy.tensor({ 1, 2 }):requires_grad(true)
    local b = sy.tensor({ 3, 4 }):requires_grad(true)
    local g = sy.tensor({ 1, 10 })
    local s = a + b
    s:backward(g)
    assert.same({ 1, 10 }, a.grad:totable())
    assert.same({ 1, 10 }, b.grad:totable())
    a.grad:add_(100)
    assert.same({ 1, 10 }, b.grad:totable())
    assert.same({ 1, 10 }, g:totable())
    -- u reaches y through both inputs of an add, and through mul
    local x = sy.tensor({ 2, 3 }, "float64"):requires_grad(true)
    local u = x * 1
    local y = (u + u) + u * u
    y:backward(sy.tensor({ 1, 1 }, "float64"))
    assert.same({ 6, 8 }, x.grad:totable())
    -- a gradient the caller passes in stays as it was
    local z = x * 1
    local gz = sy.tensor({ 5, 6 }, "float64")
    ;(z + z):backward(gz)
    assert.same({ 5, 6 }, gz:totable())
    assert.same({ 16, 20 }, x.grad:totable())
  end)

  it("records nothing under no_grad and with detach", function()
    local x = sy.ones(2):requires_grad(true)
    local y = sy.no_grad(function() return x * 2 end)
    assert.is_false(y:requires_grad())
    assert.is_true(sy.is_grad_enabled())
    local d = x:detach()
    assert.is_false(d:requires_grad())
    assert.is_true(d:shares_storage(x))
    assert.is_true((x * 2):requires_grad())
    assert.equals("MulBackward", (x * 2).grad_fn)
    assert.is_true(x.is_leaf)
  end)

  it("restores grad mode when the function raises", function()
    local ok = pcall(sy.no_grad, function() error("boom") end)
    assert.is_false(ok)
    assert.is_true(sy.is_grad_enabled())
  end)

  it("explains its errors", function()
    local x = sy.ones(2):requires_grad(true)
    local y = x * 2
    local ok, err = pcall(y.backward, y)
    assert.is_false(ok)
    assert.matches("gradient can only be implied for a tensor with one element", err)
    local s = (x * x):sum()
    s:backward()
    ok, err = pcall(s.backward, s)
    assert.is_false(ok)
    assert.matches("a second time", err)
    ok, err = pcall(x.add_, x, 1)
    assert.is_false(ok)
    assert.matches("in%-place change of a tensor that requires grad", err)
    ok, err = pcall(function() return sy.ones(2, "int64"):requires_grad(true) end)
    assert.is_false(ok)
    assert.matches("only float tensors", err)
    ok, err = pcall(function() return y:requires_grad(false) end)
    assert.is_false(ok)
    assert.matches("only leaf tensors", err)
    ok, err = pcall(sy.ones(2).backward, sy.ones(1))
    assert.is_false(ok)
    assert.matches("does not require grad", err)
  end)

  it("keeps the graph with retain_graph", function()
    local x = sy.tensor({ 2 }):requires_grad(true)
    local y = (x * x):sum()
    y:backward(true)
    y:backward()
    assert.same({ 8 }, x.grad:totable())
  end)

  it("frees a long chain without deep recursion", function()
    local x = sy.ones(1):requires_grad(true)
    local y = x
    for _ = 1, 100000 do y = y * 1 end
    y:sum():backward()
    assert.same({ 1 }, x.grad:totable())
    y = nil
    collectgarbage()
  end)
end)
