-- Every public function and tensor method is called with bad arguments:
-- wrong types, non-integers, out-of-range dims and indices, mismatched
-- shapes, NaN/inf, closed tensors. Each call must either succeed or raise a
-- Lua error with a message; the process must never crash. The list of
-- functions is read from the module, so new functions are covered as soon as
-- they are registered.
local sy = require("synlua")

-- Functions that write files or spin for a caller-chosen time get their own
-- specs instead of this sweep.
local skip = { save = true }

local function closed_tensor()
  local f = load("local sy = ...; local keep; do local t <close> = sy.zeros(2); keep = t end; return keep")
  return f(sy)
end

local function pool()
  return {
    nil, true, "bad", {}, { { 1 }, { 1, 2 } }, 1.5, -1, 0, 1, 2, 100, -100,
    math.maxinteger, math.mininteger, 0 / 0, math.huge,
    sy.ones(2, 3), sy.tensor(1.5), sy.zeros(0), sy.tensor({ 1, 2 }, "int64"),
    sy.tensor({ true, false }, "bool"), sy.ones(3, 2):t(), function() end, closed_tensor(),
  }
end

local function public_functions()
  local names = {}
  for name, f in pairs(sy) do
    if type(f) == "function" and not skip[name] and name:sub(1, 1) ~= "_" then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

local function methods()
  local mt = getmetatable(sy.zeros(1))
  local names = {}
  for name in pairs(mt.methods) do
    if not skip[name] then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

local function check_call(label, f, ...)
  local ok, err = pcall(f, ...)
  if not ok then
    assert(type(err) == "string" and #err > 0, label .. ": error is not a message: " .. tostring(err))
  end
  return ok, err
end

describe("bad arguments", function()
  local values = pool()
  local n = 24   -- the pool has holes (nil), so iterate by index

  it("never crash a module function (all pairs of pool values)", function()
    local calls = 0
    for _, name in ipairs(public_functions()) do
      local f = sy[name]
      for i = 1, n do
        for j = 1, n do
          check_call(name, f, values[i], values[j])
          calls = calls + 1
        end
      end
    end
    sy.set_num_threads(1)
    assert.is_true(calls > 1000)
  end)

  it("never crash a tensor method (self plus pairs of pool values)", function()
    local selfs = { sy.ones(2, 3), sy.tensor(2.0), sy.zeros(0), sy.tensor({ 3, 1, 2 }, "int64") }
    for _, name in ipairs(methods()) do
      for _, self in ipairs(selfs) do
        local f = self[name]
        for i = 1, n do
          for j = 1, n do
            check_call(name, f, self, values[i], values[j])
          end
        end
      end
    end
  end)

  it("reject a non-tensor self in every method", function()
    local t = sy.zeros(1)
    for _, name in ipairs(methods()) do
      for _, bad in ipairs({ "bad", 1, {}, true }) do
        local ok, err = check_call(name, t[name], bad)
        assert(not ok, name .. " accepted a " .. type(bad) .. " as self")
        assert(err:find("tensor expected") or err:find("bad self") or err:find("bad argument"),
               name .. ": unexpected message " .. err)
      end
    end
  end)

  it("reject a closed tensor in every method", function()
    local c = closed_tensor()
    for _, name in ipairs(methods()) do
      local ok, err = check_call(name, c[name], c)
      assert(not ok, name .. " accepted a closed tensor")
      assert(err:find("closed"), name .. ": unexpected message " .. err)
    end
  end)

  it("reject wrong argument types in module functions that take arguments", function()
    -- these take no arguments, or any value by design
    local exempt = { memory = true, get_num_threads = true, seed = true, get_rng_state = true,
                     is_tensor = true, no_grad = true, enable_grad = true,
                     is_grad_enabled = true }
    for _, name in ipairs(public_functions()) do
      if not exempt[name] then
        local ok = check_call(name, sy[name], function() end, function() end, function() end)
        assert(not ok, name .. " accepted functions as arguments")
      end
    end
  end)
end)
