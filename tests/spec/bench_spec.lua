-- bench/vs_pytorch.lua keeps working: a quick synlua-only run on one batch
-- of the AAPL windows (written as the series they cover, re-windowed by the
-- child) prints the report (header, one row per model x method
-- x threads with synlua's numbers, inference, start-up, pruning overhead)
-- and valid JSON; a bad flag is a usage error. bench/layers.lua, at one
-- round of one step without PyTorch, prints every layer at both thread
-- counts and the LSTM's and encoder's GEMM floors (by both float32 kernels
-- where synlua has its own); bench/ops.lua, at one round, every op;
-- bench/gemm.lua every product shape. The full benchmarks are run by hand
-- on a quiet machine.
local BIN = assert(os.getenv("SYNLUA_BIN"), "SYNLUA_BIN is not set")
local SOURCE_DIR = os.getenv("SYNLUA_SOURCE_DIR") or "."
local DATA = assert(os.getenv("SYNLUA_DATA"), "SYNLUA_DATA is not set")

local util = require("testutil")
local q = util.quote

local slurp = util.read

-- Runs the benchmark; returns exit status, stdout, stderr.
local function run(args)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. q(dir)))
  local cmd = ("cd %s && SYNLUA_DATA=%s %s bench/vs_pytorch.lua %s >%s/out 2>%s/err"):format(q(SOURCE_DIR), q(DATA),
    q(BIN), args, q(dir), q(dir))
  local _, _, status = os.execute(cmd)
  local out, err = slurp(dir .. "/out"), slurp(dir .. "/err")
  os.execute("rm -rf " .. q(dir))
  return status, out, err
end

-- Whether s is one JSON value and nothing else (objects, arrays, strings,
-- numbers, true, false, null).
local function valid_json(s)
  local pos = 1
  local value
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local function str()
    if s:sub(pos, pos) ~= '"' then return false end
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == "" or c:byte() < 32 then return false end
      pos = pos + 1
      if c == '"' then return true end
      if c == "\\" then
        local e = s:sub(pos, pos)
        if e == "u" then
          if not s:sub(pos + 1, pos + 4):match("^%x%x%x%x$") then return false end
          pos = pos + 5
        elseif e:match('^["\\/bfnrt]$') then
          pos = pos + 1
        else
          return false
        end
      end
    end
  end
  local function list(close, item)
    pos = pos + 1
    ws()
    if s:sub(pos, pos) == close then pos = pos + 1; return true end
    while true do
      if not item() then return false end
      ws()
      local c = s:sub(pos, pos)
      pos = pos + 1
      if c == close then return true end
      if c ~= "," then return false end
      ws()
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      return list("}", function()
        if not str() then return false end
        ws()
        if s:sub(pos, pos) ~= ":" then return false end
        pos = pos + 1
        return value()
      end)
    elseif c == "[" then
      return list("]", value)
    elseif c == '"' then
      return str()
    end
    for _, word in ipairs({ "true", "false", "null" }) do
      if s:sub(pos, pos + #word - 1) == word then pos = pos + #word; return true end
    end
    local a, b = s:find("^%-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not a then return false end
    pos = b + 1
    return true
  end
  local ok = value()
  ws()
  return ok and pos == #s + 1
end

-- What the benchmarks' child sees: the float32 kernel in use ("avx512" or
-- "blas") and whether synlua's own kernel exists on this CPU and build.
local KERNEL, OWN_AVAILABLE
do
  local p = io.popen(q(BIN) .. [[ -e 'local sy = require("synlua") io.write(sy._gemm_kernel(), " ", tostring(pcall(sy._sgemm_seconds, 1, 1, 1, 1, "avx512")))']])
  local line = p:read("a")
  p:close()
  KERNEL, OWN_AVAILABLE = line:match("^(%S+) (%S+)$")
  OWN_AVAILABLE = OWN_AVAILABLE == "true"
end
local function sy_own_kernel() return KERNEL == "avx512" end

local function cells(line)
  local out = {}
  for c in line:gmatch("|([^|]*)") do out[#out + 1] = c:match("^%s*(.-)%s*$") end
  out[#out] = nil -- after the closing bar
  return out
end

describe("bench/vs_pytorch.lua", function()
  it("prints a report with synlua's numbers in every row and writes valid JSON", function()
    local json_path = os.tmpname()
    local status, out, err = run("--quick --no-torch --skip-large --windows 64 --startup-runs 1 --infer-calls 5 "
      .. "--json " .. q(json_path))
    assert.are.equal(0, status, err)
    assert.truthy(out:match("^## synlua [%d%.]+ vs PyTorch %(not run%): training the paper's models on CPU\n"))
    assert.truthy(out:match("\n%d%d%d%d%-%d%d%-%d%d %d%d:%d%d UTC; [^\n]+, %d+ logical CPUs; load average "
      .. "[%d%.]+ [%d%.]+ [%d%.]+ at start, [%d%.]+ [%d%.]+ [%d%.]+ at end"))
    assert.truthy(out:find("64 training windows at L = 7", 1, true))
    assert.truthy(out:find("1 epoch, no early stopping; median of 1 run per cell", 1, true))

    -- the training table: 3 models x 2 methods x 2 thread counts
    local rows, seen = 0, {}
    local training = out:match("\n(| model | method | L | T |.-)\n\n")
    assert.truthy(training, out)
    for line in training:gmatch("[^\n]+") do
      local c = cells(line)
      if c[1] ~= "model" and not c[1]:match("^%-") then
        rows = rows + 1
        assert.are.equal(15, #c, line)
        assert.are.equal("7", c[3])
        seen[c[1] .. " " .. c[2] .. " " .. c[4]] = true
        for i = 5, 7 do                       -- synlua s/epoch, steps/s, MB
          local v = tonumber(c[i])
          assert.is_true(v ~= nil and v > 0, line)
        end
        for i = 8, 15 do assert.are.equal("-", c[i], line) end   -- no PyTorch
      end
    end
    assert.are.equal(12, rows)
    for _, m in ipairs({ "rnn", "lstm", "patchtst" }) do
      for _, method in ipairs({ "none", "prune" }) do
        for _, t in ipairs({ "1", "2" }) do assert.is_true(seen[m .. " " .. method .. " " .. t]) end
      end
    end

    -- inference: a latency per model and thread count
    local infer = out:match("\n| model | L | T | synlua us |.-\n\n")
    assert.truthy(infer, out)
    local n = 0
    for model, us in infer:gmatch("\n| (%a+) | 7 | %d | ([^|]-) |") do
      n = n + 1
      assert.is_true(tonumber(us) > 0, model)
    end
    assert.are.equal(6, n)
    assert.truthy(out:match("`synlua %-e ''`: [%d%.e%+]+ ms; `python3 %-c 'import torch'`: %- ms"))
    -- pruning overhead: one row per model and thread count, a share in [0, 100]
    local prune = out:match("\n| model | L | T | prune events |.-\n\n")
    assert.truthy(prune, out)
    n = 0
    for pct in prune:gmatch("\n| %a+ | 7 | %d | %d+ | [^|]- | ([%d%.]+) |") do
      n = n + 1
      assert.is_true(tonumber(pct) >= 0 and tonumber(pct) <= 100)
    end
    assert.are.equal(6, n)
    assert.truthy(out:find("### Targets (issue 8)", 1, true))
    assert.is_nil(out:find("### Failures", 1, true))

    local js = slurp(json_path)
    os.remove(json_path)
    assert.truthy(js)
    assert.is_true(valid_json(js), js)
    local _, count = js:gsub('"seconds_per_epoch":[%d%.e%-]+', "")
    assert.are.equal(12, count)                 -- 6 cells x 2 thread counts, synlua only
    -- each run trained on the 64 windows it rebuilt from the shared series
    -- file and reports its final training loss (how a change to the data
    -- path is shown to leave training unchanged)
    local _, nwin = js:gsub('"windows":64[,}]', "")
    assert.are.equal(12, nwin)
    local losses = 0
    for v in js:gmatch('"final_loss":([^,}]+)') do
      losses = losses + 1
      assert.is_true(tonumber(v) ~= nil and tonumber(v) > 0, v)
    end
    assert.are.equal(12, losses)
    assert.truthy(js:find('"pytorch":{}', 1, true))
  end)

  it("rejects a bad flag with a usage error", function()
    local status, out, err = run("--models rnn,gru")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.truthy(err:find("unknown value 'gru'", 1, true), err)
    status, _, err = run("--rounds 0")
    assert.are.equal(2, status)
    assert.truthy(err:find("--rounds expects a positive integer", 1, true), err)
  end)
end)

-- Runs `synlua bench/<script> <args>` from the source dir; returns exit status,
-- stdout, stderr.
local function run_bench(script, args)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. q(dir)))
  local _, _, status = os.execute(("cd %s && %s bench/%s %s >%s/out 2>%s/err")
    :format(q(SOURCE_DIR), q(BIN), script, args, q(dir), q(dir)))
  local out, err = slurp(dir .. "/out"), slurp(dir .. "/err")
  os.execute("rm -rf " .. q(dir))
  return status, out, err
end

describe("bench/layers.lua", function()
  it("times every layer at 1 and 2 threads and puts the GEMM floors beside them (synlua only)", function()
    local status, out, err = run_bench("layers.lua", "1 1 --no-torch")
    assert.are.equal(0, status, err)
    assert.truthy(out:match("^## synlua [%d%.]+ vs PyTorch %(not found%)"), out)
    local rows = 0
    for _, case in ipairs({ "lstm", "rnn", "encoder" }) do
      for _, t in ipairs({ "1", "2" }) do
        local line = out:match("\n(| " .. case .. " | " .. t .. " |[^\n]*)")
        assert.truthy(line, case .. " at " .. t .. " thread(s) missing:\n" .. out)
        local c = cells(line)
        assert.is_true(tonumber(c[3]) > 0 and tonumber(c[4]) > 0, line)   -- synlua ms, CPU ms
        assert.are.equal("-", c[5], line)                                   -- no PyTorch
        rows = rows + 1
      end
    end
    assert.are.equal(6, rows)
    assert.truthy(out:match("LSTM GEMM%-bound floor %(raw cblas_sgemm on the same shapes, 1 thread%): [%d%.]+ ms"))
    for _, t in ipairs({ 1, 2 }) do
      assert.truthy(out:match(("Encoder at %d thread%%(s%%): its GEMMs %%(543 MFLOP%%) by raw cblas_sgemm take [%%d%%.]+ ms"):format(t)), out)
    end
    assert.truthy(out:find("- lstm, 1 thread: ", 1, true))
    if sy_own_kernel() then   -- synlua also timed with BLAS, and its own kernel's floors
      assert.truthy(out:find("| synlua, BLAS ms | PT/sy, BLAS |", 1, true), out)
      local c = cells(out:match("\n(| lstm | 1 |[^\n]*)"))
      assert.is_true(tonumber(c[10]:match("^[%d%.]+")) > 0, out)
      assert.truthy(out:match("LSTM GEMM%-bound floor %(synlua's own AVX%-512 kernel on the same shapes, 1 thread%): [%d%.]+ ms"), out)
      assert.truthy(out:match("Encoder at 1 thread%(s%): its GEMMs %(543 MFLOP%) by synlua's own AVX%-512 kernel take"), out)
    end
  end)

  it("rejects a bad argument", function()
    assert.are_not.equal(0, (run_bench("layers.lua", "1 x")))
  end)
end)

describe("bench/gemm.lua", function()
  it("times every product shape by BLAS and, where it runs, synlua's own kernel", function()
    local status, out, err = run_bench("gemm.lua", "")
    assert.are.equal(0, status, err)
    local rows = 0
    for line in out:gmatch("\n(| [^\n]* |)") do
      if not line:match("^| product |") and not line:match("^|%-") then
        local c = cells(line)
        assert.is_true(tonumber(c[5]) > 0, line)
        if OWN_AVAILABLE then assert.is_true(tonumber(c[6]) > 0, line) else assert.are.equal("-", c[6]) end
        rows = rows + 1
      end
    end
    assert.are.equal(12, rows, out)
  end)
end)

describe("bench/ops.lua", function()
  it("times every op (synlua only) and rejects a bad argument", function()
    local status, out, err = run_bench("ops.lua", "1 --no-torch")
    assert.are.equal(0, status, err)
    assert.truthy(out:match("^## synlua [%d%.]+ vs PyTorch: single ops on float32 %[3840, 64%]"), out)
    local rows = 0
    for line in out:gmatch("\n(| [^\n]* |)") do
      if not line:match("^| op |") and not line:match("^|%-") then
        local name, us, pt = line:match("^| (.-) | ([%d%.]+) | (%S+) |")
        assert.truthy(name and tonumber(us) > 0 and pt == "-", line)
        rows = rows + 1
      end
    end
    assert.are.equal(30, rows, out)
    assert.are_not.equal(0, (run_bench("ops.lua", "x")))
  end)
end)
