-- Reliability at the Lua face (issue 9): out of memory becomes a Lua error
-- with nothing leaked, both for tensors too large for any machine and with
-- the private hook sy._fail_alloc_after(n) failing every allocation of an
-- operation in turn; and the host interpreter (a stock lua5.4 in the release
-- build) keeps going after pcall on every kind of error, with its state
-- still usable. tests/embed/host_survives.c does the same from a C host.
local sy = require("synlua")
local util = require("testutil")

teardown(util.cleanup)

local function full_gc()
  collectgarbage()
  collectgarbage()
end

local function held()
  full_gc()
  return (sy.memory())
end

local function fails_with(phrase, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  assert.equals("string", type(err))
  assert.is_truthy(err:find(phrase, 1, true), ("expected %q in %q"):format(phrase, err))
  return err
end

local CSV = "date;open;close;name\n02/01/2024;1,5;2;a\n03/01/2024;1,6;NA;b\n04/01/2024;1,7;2,5;c\n"

local Net = sy.nn.Module:extend("ReliabilityNet")
function Net:__init()
  self.lstm = sy.nn.LSTM({ input_size = 3, hidden_size = 8 })
  self.fc = sy.nn.Linear(8, 1)
end
function Net:forward(x)
  local out = self.lstm(x)
  return self.fc(out:select(2, out:size(2)))
end

-- Each scenario makes everything it uses, so that after a failure and a
-- collection every byte it allocated must be free again.
local scenarios = {
  { "matmul and reductions", function()
    local a, b = sy.randn(8, 5), sy.randn(5, 300)
    local c = sy.matmul(a, b)
    local s = c:sum(2):mean() + c:max(1):sum() + c:std()
    local v, i = c:topk(3, 2)
    local sorted = c:sort(2)
    assert(s:numel() == 1 and v:size(2) == 3 and i:dtype() == "int64" and sorted:numel() == 2400)
  end },
  { "autograd through elementwise ops", function()
    local w = sy.randn(6, 4)
    w:requires_grad(true)
    local y = ((w * 2):tanh() + w:sigmoid() * w):pow(2):sum()
    y:backward()
    assert(w.grad:numel() == 24)
  end },
  { "LSTM forward and backward with Adam", function()
    sy.manual_seed(3)
    local model, loss_fn = Net(), sy.nn.MSELoss()
    local opt = sy.optim.Adam(model, { lr = 1e-2 })
    local x, y = sy.randn(4, 5, 3), sy.randn(4, 1)
    for _ = 1, 2 do
      opt:zero_grad()
      local loss = loss_fn(model(x), y)
      loss:backward()
      opt:step()
    end
  end },
  { "sy.save and sy.load", function()
    local path = util.tempfile()
    sy.save(path, { w = sy.randn(4, 3), b = sy.zeros(3), m = sy.ones(4, 3):bool() }, { epoch = "3" })
    local t, meta = sy.load(path)
    assert(t.w:size(1) == 4 and t.m:dtype() == "bool" and meta.epoch == "3")
  end },
  { "CSV read", function()
    local path = util.tempfile(CSV)
    local df = sy.data.read_csv(path, { decimal = "," })
    assert(df:rows() == 3 and df:kind("date") == "datetime" and df:tensor({ "open", "close" }):size(2) == 2)
  end },
}

describe("out of memory", function()
  it("a tensor too large for memory is a Lua error and holds nothing", function()
    local before = held()
    fails_with("out of memory", sy.zeros, 1e6, 1e6)
    fails_with("out of memory", sy.ones, { 1000000, 1000000 })
    fails_with("out of memory", sy.randn, 1e6, 1e6)
    fails_with("out of memory", sy.empty, 1e6, 1e6, "float64")
    -- views cost nothing; their results are what cannot be allocated
    local wide = sy.ones(1, 1):expand(1e6, 1e6)
    fails_with("out of memory", function() return wide + 1 end)
    fails_with("out of memory", sy.matmul, sy.ones(1, 1):expand(1e6, 1), sy.ones(1, 1):expand(1, 1e6))
    fails_with("out of memory", function() return wide:contiguous() end)
    wide = nil
    assert.equals(before, held())
    -- byte counts that overflow 64 bits are errors too, whatever they say
    assert.is_false(pcall(sy.zeros, 2 ^ 62, 4))
    assert.is_false(pcall(sy.zeros, math.maxinteger))
    assert.equals(before, held())
  end)

  it("_fail_alloc_after checks its argument, fires once and disarms", function()
    fails_with("bad argument #1", sy._fail_alloc_after, -1)
    fails_with("number expected", sy._fail_alloc_after, "x")
    sy._fail_alloc_after(1)
    fails_with("(injected)", sy.zeros, 3)
    assert.equals(3, sy.zeros(3):numel())                   -- fired once, then off
    sy._fail_alloc_after(1)
    sy._fail_alloc_after(0)
    assert.equals(3, sy.zeros(3):numel())                   -- 0 disarms
  end)

  for _, case in ipairs(scenarios) do
    local name, scenario = case[1], case[2]
    it("every allocation failing in turn: " .. name, function()
      local baseline = held()
      scenario()                                            -- it works at all
      assert.equals(baseline, held())
      local problems, n = {}, 0
      repeat
        n = n + 1
        sy._fail_alloc_after(n)
        local ok, err = pcall(scenario)
        sy._fail_alloc_after(0)
        if not ok then
          if type(err) ~= "string" or not err:find("memory", 1, true) then
            problems[#problems + 1] = ("allocation %d: error %s"):format(n, tostring(err))
          end
          local now = held()
          if now ~= baseline then
            problems[#problems + 1] = ("allocation %d: %d bytes left allocated"):format(n, now - baseline)
            baseline = now
          end
        end
      until ok or n == 20000
      assert.same({}, problems)
      assert.is_true(n > 1 and n < 20000, "the sweep covered " .. n .. " allocations")
    end)
  end
end)

describe("the host survives", function()
  -- Every kind of error a script can meet; each must come back through pcall
  -- as a message, and the interpreter must carry on.
  local function hostile_calls()
    local truncated = util.tempfile()
    sy.save(truncated, { w = sy.randn(8, 8) })
    local bytes = util.slurp(truncated)
    util.write_file(truncated, bytes:sub(1, #bytes - 9))
    local closed = sy.ones(3)
    getmetatable(closed).__close(closed)
    return {
      { "argument type", function() return sy.zeros("three") end },
      { "shapes", function() return sy.matmul(sy.ones(2, 3), sy.ones(2, 3)) end },
      { "view", function() return sy.ones(6):view(4, 2) end },
      { "ragged table", function() return sy.tensor({ { 1 }, { 1, 2 } }) end },
      { "dimension", function() return sy.ones(2):sum(5) end },
      { "closed tensor", function() return closed + 1 end },
      { "too large", function() return sy.zeros(1e6, 1e6) end },
      { "injected out of memory", function()
        sy._fail_alloc_after(1)
        local ok, err = pcall(sy.randn, 4, 4)
        sy._fail_alloc_after(0)
        error(err, 0)
      end },
      { "missing file", function() return sy.load(util.tempfile() .. ".missing") end },
      { "truncated safetensors", function() return sy.load(truncated) end },
      { "garbage safetensors", function() return sy.load(util.tempfile(("\255"):rep(64))) end },
      { "directory as a file", function() return sy.load("/") end },
      { "malformed CSV", function() return sy.data.read_csv(util.tempfile("a,b\n1,2,3\n\"x\n")) end },
      { "unwritable path", function() return sy.save("/nonexistent-dir/x.safetensors", {}) end },
      { "error in a no_grad body", function() return sy.no_grad(function() error({ code = 1 }) end) end },
      { "error inside a coroutine", function()
        local co = coroutine.wrap(function() coroutine.yield(sy.ones(2)); return sy.zeros("x") end)
        co()
        return co()
      end },
      { "yield across sy.no_grad", function()
        return coroutine.wrap(function() sy.no_grad(coroutine.yield) end)()
      end },
      { "backward of a non-scalar", function()
        local w = sy.ones(3)
        w:requires_grad(true)
        return (w * 2):backward()
      end },
      { "optimizer on a non-tensor", function() return sy.optim.Adam({ 1, 2 }) end },
      { "module input", function() return sy.nn.Linear(3, 2)(sy.ones(4, 5)) end },
      { "stack overflow with tensors", function()
        local function deep(t)
          local r = deep(t + 1)   -- not a tail call: the stack must grow
          return r
        end
        return deep(sy.zeros(1))
      end },
    }
  end

  it("keeps going after pcall on every kind of error, with its state intact", function()
    local baseline = held()
    local calls = hostile_calls()
    for _, case in ipairs(calls) do
      local ok, err = pcall(case[2])
      assert.is_false(ok, case[1] .. " did not fail")
      assert.is_truthy(err ~= nil, case[1] .. " raised nil")
      assert.is_true(sy.is_grad_enabled(), case[1] .. " left grad mode off")
      -- the module still computes
      local m = sy.tensor({ { 1, 2 }, { 3, 4 } }):matmul(sy.tensor({ { 1 }, { 1 } }))
      assert.same({ { 3 }, { 7 } }, m:totable())
    end
    calls = nil
    assert.equals(baseline, held())
    -- and still trains after all of it
    sy.manual_seed(5)
    local model, loss_fn = Net(), sy.nn.MSELoss()
    local opt = sy.optim.Adam(model, { lr = 1e-2 })
    local x, y = sy.randn(8, 4, 3), sy.randn(8, 1)
    local first, last
    for step = 1, 30 do
      opt:zero_grad()
      local loss = loss_fn(model(x), y)
      loss:backward()
      opt:step()
      if step == 1 then first = loss:item() end
      last = loss:item()
    end
    assert.is_true(last < first)
  end)
end)

-- Defects found by the fuzzers (tests/fuzz) or while writing them, replayed
-- under ASan with fuzz_lua_api; each test failed before its fix.
describe("regressions", function()
  it("narrow with a huge length is an argument error, not an integer overflow", function()
    -- lua_api: start - 1 + length overflowed (UBSan) for length = maxinteger
    local err = fails_with("bad argument #4", sy.narrow, sy.ones(3), 1, -1, math.maxinteger)
    assert.is_truthy(err:find("length 9223372036854775807", 1, true), err)
    fails_with("bad argument #4", sy.ones(3).narrow, sy.ones(3), 1, 2, math.maxinteger - 1)
    assert.same({ 2, 3 }, sy.tensor({ 1, 2, 3 }):narrow(1, 2, 2):totable())
  end)

  it("cat and stack read their list raw: a proxy's fresh tensors cannot be freed under them", function()
    -- __index made each tensor, nothing held it, and the collector freed it
    -- while sy.cat still had the pointer (heap-use-after-free)
    local proxy = setmetatable({}, {
      __index = function() return sy.ones(64) end,
      __len = function() return 50 end,
    })
    for _ = 1, 20 do
      fails_with("non-empty table of tensors", sy.cat, proxy)
      fails_with("non-empty table of tensors", sy.stack, proxy)
    end
    local a = sy.ones(2)
    local partial = setmetatable({ a }, { __index = function() return a end })
    assert.same({ 1, 1 }, sy.cat(partial):totable())   -- only the raw entry counts
  end)
end)
