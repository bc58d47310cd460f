-- Random numbers and rule-made tensors at the Lua face: seeding and state
-- round trips, rand/randn/randint/randperm, the in-place fills, arange,
-- linspace, eye, and their error messages.
local sy = require("synlua")

local function mean(t)
  local s, n = 0, 0
  for _, v in ipairs(t) do
    s = s + v
    n = n + 1
  end
  return s / n
end

local function errmsg(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return err
end

describe("seeding", function()
  it("repeats every draw after manual_seed with the same seed", function()
    local function draws()
      return { sy.rand(4, 3):totable(), sy.randn(5, "float64"):totable(), sy.randint(0, 100, 6):totable(),
               sy.randperm(8):totable(), sy.zeros(7):uniform_(-1, 1):totable() }
    end
    sy.manual_seed(42)
    local a = draws()
    sy.manual_seed(42)
    local b = draws()
    assert.same(a, b)
    sy.manual_seed(43)
    local c = draws()
    assert.are_not.same(a[1], c[1])
    assert.are_not.same(a[2], c[2])
  end)

  it("continues the stream instead of repeating it", function()
    sy.manual_seed(1)
    assert.are_not.same(sy.rand(10):totable(), sy.rand(10):totable())
  end)

  it("gives the same numbers whatever the thread count", function()
    local before = sy.get_num_threads()
    sy.manual_seed(9)
    local a = sy.randn(1000):totable()
    sy.set_num_threads(2)
    sy.manual_seed(9)
    local b = sy.randn(1000):totable()
    sy.set_num_threads(before)
    assert.same(a, b)
  end)

  it("reports the seed, negative seeds included", function()
    sy.manual_seed(123)
    assert.equals(123, sy.seed())
    sy.manual_seed(-5)
    assert.equals(-5, sy.seed())
    assert.equals(math.type(sy.seed()), "integer")
  end)

  it("round-trips the state and replays the next draws", function()
    sy.manual_seed(7)
    sy.rand(5)
    local state = sy.get_rng_state()
    assert.same({ seed = 7, offset = 2 }, state)   -- 5 float32 draws take 2 blocks of 4 words
    local a, ai = sy.randn(3, 3):totable(), sy.randperm(20):totable()
    sy.manual_seed(99)
    sy.set_rng_state(state)
    assert.same(a, sy.randn(3, 3):totable())
    assert.same(ai, sy.randperm(20):totable())
    -- manual_seed restarts at offset 0
    sy.manual_seed(7)
    assert.same({ seed = 7, offset = 0 }, sy.get_rng_state())
  end)

  it("checks the state table", function()
    assert.matches("bad argument #1 to '.-set_rng_state' %(table expected, got number%)",
                   errmsg(sy.set_rng_state, 5))
    assert.matches("field 'offset' must be an integer, got nil", errmsg(sy.set_rng_state, { seed = 1 }))
    assert.matches("field 'seed' must be an integer, got a non%-integer number",
                   errmsg(sy.set_rng_state, { seed = 1.5, offset = 0 }))
    assert.matches("field 'seed' must be an integer, got string",
                   errmsg(sy.set_rng_state, { seed = "1", offset = 0 }))
  end)

  it("requires an integer seed", function()
    assert.matches("bad argument #1 to '.-manual_seed' %(number expected, got no value%)",
                   errmsg(sy.manual_seed))
    assert.matches("number has no integer representation", errmsg(sy.manual_seed, 1.5))
  end)
end)

describe("random tensors", function()
  before_each(function() sy.manual_seed(2024) end)

  it("rand: uniform on [0, 1), float32 unless told", function()
    local t = sy.rand(100, 100)
    assert.same({ 100, 100 }, t:size())
    assert.equals("float32", t:dtype())
    local flat, lo, hi = {}, 1, 0
    for _, row in ipairs(t:totable()) do
      for _, v in ipairs(row) do
        flat[#flat + 1] = v
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
    end
    assert.is_true(lo >= 0 and hi < 1)
    assert.is_true(math.abs(mean(flat) - 0.5) < 0.01)
    assert.equals("float64", sy.rand({ 2, 2 }, "float64"):dtype())
    assert.same({ 2, 3 }, sy.rand({ 2, 3 }):size())
  end)

  it("randn: standard normal", function()
    local v = sy.randn(20000, "float64"):totable()
    local m = mean(v)
    local s2 = 0
    for _, x in ipairs(v) do s2 = s2 + (x - m) ^ 2 end
    assert.is_true(math.abs(m) < 0.03)
    assert.is_true(math.abs(s2 / (#v - 1) - 1) < 0.05)
  end)

  it("randint: integers on [lo, hi), int64 unless told", function()
    local t = sy.randint(-3, 4, 1000)
    assert.equals("int64", t:dtype())
    local seen = {}
    for _, v in ipairs(t:totable()) do
      assert.equals("integer", math.type(v))
      assert.is_true(v >= -3 and v < 4)
      seen[v] = true
    end
    for v = -3, 3 do assert.is_true(seen[v]) end
    assert.equals("float32", sy.randint(0, 10, { 2, 2 }, "float32"):dtype())
  end)

  it("randperm: a permutation of 1..n", function()
    local p = sy.randperm(50)
    assert.equals("int64", p:dtype())
    local v = p:totable()
    table.sort(v)
    for i = 1, 50 do assert.equals(i, v[i]) end
    assert.equals(0, sy.randperm(0):numel())
    assert.same({ 1 }, sy.randperm(1):totable())
  end)

  it("fills in place and returns the tensor", function()
    local t = sy.zeros(1000)
    assert.equals(t, t:uniform_(2, 3))
    for _, v in ipairs(t:totable()) do assert.is_true(v >= 2 and v < 3) end
    assert.equals(t, t:normal_(5, 0))
    for _, v in ipairs(t:totable()) do assert.equals(5, v) end
    local b = sy.zeros(100, "bool")
    assert.same(sy.ones(100, "bool"):totable(), b:bernoulli_(1):totable())
    assert.same(sy.zeros(100):totable(), sy.ones(100):bernoulli_(0):totable())
    local m = mean(sy.zeros(10000):bernoulli_(0.25):totable())
    assert.is_true(math.abs(m - 0.25) < 0.02)
    -- strided views are filled through their strides
    local base = sy.zeros(4, 6)
    base:t():uniform_(10, 11)
    for _, row in ipairs(base:totable()) do
      for _, v in ipairs(row) do assert.is_true(v >= 10 and v < 11) end
    end
  end)

  it("rejects bad arguments with clear messages", function()
    assert.matches("bad argument #2 to '.-rand' %(float dtype expected, got int64%)",
                   errmsg(sy.rand, 2, "int64"))
    assert.matches("bad argument #2 to '.-randn' %(size or dtype expected, got boolean%)",
                   errmsg(sy.randn, 2, true))
    assert.matches("negative", errmsg(sy.rand, -1))
    assert.matches("bad argument #2 to '.-randint' %(hi must be greater than lo %(got lo=5, hi=5%)%)",
                   errmsg(sy.randint, 5, 5, 3))
    assert.matches("randint: range %[0, 300%) does not fit dtype uint8",
                   errmsg(sy.randint, 0, 300, 3, "uint8"))
    assert.matches("bad argument #1 to '.-randperm' %(n must not be negative%)", errmsg(sy.randperm, -1))
    local z = sy.zeros(2)
    assert.matches("normal: std must be finite and >= 0, got %-1", errmsg(z.normal_, z, 0, -1))
    assert.matches("bernoulli: p must be in %[0, 1%], got 1.5", errmsg(z.bernoulli_, z, 1.5))
    assert.matches("uniform: expects lo < hi, got lo=1, hi=0", errmsg(z.uniform_, z, 1, 0))
    local i = sy.zeros(2, "int64")
    assert.matches("uniform: tensor must be float32 or float64, got int64", errmsg(i.uniform_, i))
  end)
end)

describe("arange", function()
  it("counts values, not indices, like torch.arange", function()
    local t = sy.arange(5)
    assert.same({ 0, 1, 2, 3, 4 }, t:totable())
    assert.equals("int64", t:dtype())
    assert.same({ 1, 2, 3 }, sy.arange(1, 4):totable())
    assert.same({ 10, 7, 4, 1 }, sy.arange(10, 0, -3):totable())
    assert.equals(0, sy.arange(0):numel())
  end)

  it("is float32 when any argument is a float, or as told", function()
    local t = sy.arange(0, 1, 0.25)
    assert.equals("float32", t:dtype())
    assert.same({ 0, 0.25, 0.5, 0.75 }, t:totable())
    assert.equals("float32", sy.arange(1.0, 4):dtype())
    assert.equals("float64", sy.arange(3, "float64"):dtype())
    assert.same({ 0, 1, 2 }, sy.arange(3, "float64"):totable())
  end)

  it("rejects a zero or wrong-signed step and non-numbers", function()
    assert.matches("arange: step must not be zero", errmsg(sy.arange, 0, 5, 0))
    assert.matches("arange: step %-1 goes away from end %(start=0, end=5%)", errmsg(sy.arange, 0, 5, -1))
    assert.matches("bad argument #1 to '.-arange' %(number expected, got string%)", errmsg(sy.arange, "x"))
    assert.matches("bad argument #2 to '.-arange' %(number or dtype expected, got table%)",
                   errmsg(sy.arange, 1, {}))
    assert.matches("unknown dtype 'float16'", errmsg(sy.arange, 1, "float16"))
  end)
end)

describe("linspace", function()
  it("spaces steps values with exact endpoints", function()
    local t = sy.linspace(0, 1, 5)
    assert.equals("float32", t:dtype())
    assert.same({ 0, 0.25, 0.5, 0.75, 1 }, t:totable())
    local v = sy.linspace(0.1, 0.7, 7, "float64"):totable()
    assert.equals(0.1, v[1])
    assert.equals(0.7, v[7])
    assert.same({ 2 }, sy.linspace(2, 9, 1):totable())
    assert.equals(0, sy.linspace(2, 9, 0):numel())
  end)

  it("rejects bad steps", function()
    assert.matches("linspace: steps must be >= 0, got %-2", errmsg(sy.linspace, 0, 1, -2))
    assert.matches("bad argument #3 to '.-linspace' %(number expected, got no value%)",
                   errmsg(sy.linspace, 0, 1))
    assert.matches("number has no integer representation", errmsg(sy.linspace, 0, 1, 2.5))
  end)
end)

describe("eye", function()
  it("makes identity matrices, square or not", function()
    assert.same({ { 1, 0 }, { 0, 1 } }, sy.eye(2):totable())
    assert.same({ { 1, 0, 0 }, { 0, 1, 0 } }, sy.eye(2, 3):totable())
    assert.same({ { 1, 0 }, { 0, 1 }, { 0, 0 } }, sy.eye(3, 2):totable())
    assert.equals("int64", sy.eye(2, "int64"):dtype())
    assert.equals("float64", sy.eye(2, 3, "float64"):dtype())
    assert.same({ 0, 4 }, sy.eye(0, 4):size())
  end)

  it("rejects negative sizes", function()
    assert.matches("eye: sizes must be >= 0, got n=%-1, m=%-1", errmsg(sy.eye, -1))
    assert.matches("bad argument #2 to '.-eye' %(size or dtype expected, got table%)", errmsg(sy.eye, 2, {}))
  end)
end)
