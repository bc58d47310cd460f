-- sy.datasets against the real files in $SYNLUA_DATA (../shared/datasets):
-- every dataset loads with its expected rows, columns, kinds, target and
-- missing values (AirQuality's ';' / decimal comma / -200 quirks included);
-- the household loader also reads the original minute format; descriptions
-- carry the provenance checksums; a missing file names the file, the
-- directories, the source and the fetch command; datasets/fetch.lua
-- downloads from a local HTTP server and rejects a corrupted file; and no
-- feature of a clean-protocol frame is perfectly correlated with the next
-- target (while the paper protocol's leaky leads are, which the check sees).
local sy = require("synlua")

local SRC = os.getenv("SYNLUA_SOURCE_DIR") or "."
local DATA = os.getenv("SYNLUA_DATA")
local BIN = os.getenv("SYNLUA_BIN")

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

local function is_nan(v) return v ~= v end

local util = require("testutil")
local q = util.quote

-- Child processes run without the sanitizer build's LD_PRELOAD (which makes
-- curl hang) and with a time limit, so a stuck download fails the test.
local function run(cmd)
  local ok, _, code = os.execute("env -u LD_PRELOAD timeout 300 sh -c " .. q(cmd))
  return ok == true, code
end

local slurp = util.read

local function epoch(y, m, d, hh)
  return os.time({ year = y, month = m, day = d, hour = 0 }) - os.time({ year = 1970, month = 1, day = 1, hour = 0 })
    + (hh or 0) * 3600
end

local tmpdirs = {}
local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(run("mkdir -p " .. q(p)))
  tmpdirs[#tmpdirs + 1] = p
  return p
end

teardown(function()
  for _, d in ipairs(tmpdirs) do os.execute("rm -rf " .. q(d)) end
end)

local expected = {
  sp500 = { rows = 1259, target = "close", time = "date", first = 67.8542, last = 159.54,
    t0 = epoch(2013, 2, 8), t1 = epoch(2018, 2, 7), missing = 0,
    columns = { "date", "open", "high", "low", "close", "volume", "Name" } },
  bitcoin = { rows = 365, target = "close", time = "timeOpen", first = 64276.8974153965, last = 93456.0,
    t0 = epoch(2024, 4, 24), t1 = epoch(2025, 4, 23), missing = 0,
    columns = { "timeOpen", "open", "high", "low", "close", "volume", "marketCap" } },
  airquality = { rows = 9357, target = "CO(GT)", time = "datetime", first = 2.6, last = 2.2,
    t0 = epoch(2004, 3, 10, 18), t1 = epoch(2005, 4, 4, 14), missing = 1683,
    columns = { "datetime", "CO(GT)", "PT08.S1(CO)", "NMHC(GT)", "C6H6(GT)", "PT08.S2(NMHC)", "NOx(GT)",
      "PT08.S3(NOx)", "NO2(GT)", "PT08.S4(NO2)", "PT08.S5(O3)", "T", "RH", "AH" } },
  household = { rows = 34589, target = "Global_active_power", time = "datetime", first = 152.024002075,
    last = 2.80399990082, t0 = epoch(2006, 12, 16, 17), t1 = epoch(2010, 11, 26, 21), missing = 0,
    columns = { "datetime", "Global_active_power", "Global_reactive_power", "Voltage", "Global_intensity",
      "Sub_metering_1", "Sub_metering_2", "Sub_metering_3" } },
  etth1 = { rows = 17420, target = "OT", time = "date", first = 30.5310001373291, last = 9.56700038909912,
    t0 = epoch(2016, 7, 1), t1 = epoch(2018, 6, 26, 19), missing = 0,
    columns = { "date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT" } },
  etth2 = { rows = 17420, target = "OT", time = "date", first = 38.6619987487793, last = 45.98649978637695,
    t0 = epoch(2016, 7, 1), t1 = epoch(2018, 6, 26, 19), missing = 0,
    columns = { "date", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT" } },
}

describe("dataset files", function()
  assert(DATA, "SYNLUA_DATA is not set (tests/CMakeLists.txt sets it)")

  for _, name in ipairs(sy.datasets.NAMES) do
    it(name .. " loads with the expected rows, columns, kinds and target", function()
      local e = expected[name]
      local df = sy.datasets.load(name)
      assert.are.equal(e.rows, df:rows())
      assert.are.same(e.columns, df:columns())
      assert.are.equal(e.target, df.target)
      assert.are.equal(e.time, df.time)
      assert.are.equal(name, df.name)
      assert.are.equal("datetime", df:kind(e.time))
      for _, c in ipairs(e.columns) do
        if c ~= e.time then assert.are.equal(c == "Name" and "text" or "number", df:kind(c), c) end
      end
      local y = df:col(e.target)
      assert.are.equal(e.first, y[1])
      assert.are.equal(e.last, y[e.rows])
      assert.are.equal(e.missing, y:isnan():sum():item())
      local t = df:col(e.time)
      assert.are.equal(e.t0, t[1])
      assert.are.equal(e.t1, t[e.rows])
      assert.are.equal(0, t:isnan():sum():item())
    end)
  end

  it("airquality: decimal commas, -200 and -200,0 as missing, hourly steps", function()
    local df = sy.datasets.load("airquality")
    assert.are.equal(16701, df:tensor():isnan():sum():item())   -- 16,244 "-200" + 457 "-200,0"
    assert.are.equal(11.9, df:col("C6H6(GT)")[1])
    assert.are.equal(0.7578, df:col("AH")[1])
    local t = df:col("datetime")
    assert.are.equal(3600, t[2] - t[1])
    assert.is_true(is_nan(df:col("NMHC(GT)")[9357]))
  end)

  it("household: the original minute format loads the same way", function()
    local df = sy.datasets.load("household", { file = SRC .. "/tests/data/household_minute.txt" })
    assert.are.equal(4, df:rows())
    assert.are.same(expected.household.columns, df:columns())
    assert.are.same({ epoch(2006, 12, 16) + 17 * 3600 + 24 * 60, epoch(2006, 12, 16) + 17 * 3600 + 25 * 60,
      epoch(2006, 12, 21) + 11 * 3600 + 23 * 60, epoch(2007, 1, 1) }, df:col("datetime"):totable())
    local gap = df:col("Global_active_power"):totable()
    assert.are.equal(4.216, gap[1])
    assert.is_true(is_nan(gap[3]))
    assert.is_true(is_nan(df:col("Sub_metering_3")[3]))           -- the empty last field
    assert.are.equal(7, df:tensor():select(1, 3):isnan():sum():item())
  end)

  it("descriptions carry the provenance checksums, and the files match them", function()
    local prov = slurp(DATA .. "/PROVENANCE.md")
    for _, name in ipairs(sy.datasets.NAMES) do
      local d = sy.datasets.describe(name)
      for _, k in ipairs({ "file", "sha256", "source", "licence", "url", "target" }) do
        assert.is_string(d[k], name .. "." .. k)
      end
      assert.are.equal(64, #d.sha256)
      if prov then
        has(prov, d.file .. string.rep(" ", 27 - #d.file) .. d.sha256)
      end
      assert.are.equal(d.sha256, sy.datasets.sha256(DATA .. "/" .. d.file))
    end
    assert.are.equal(1259, sy.datasets.load("sp500", { verify = true }):rows())
  end)

  it("refuses unknown names and a damaged file when asked to verify", function()
    has(errmsg(sy.datasets.load, "nosuch"), "no description for 'nosuch'")
    has(errmsg(sy.datasets.load, "../etc"), "dataset name must be a word")
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/bitcoin.csv", "wb"))
    f:write(slurp(DATA .. "/bitcoin.csv"), "\n")
    f:close()
    local df = sy.datasets.load("bitcoin", { file = dir .. "/bitcoin.csv" })
    assert.are.equal(365, df:rows())
    has(errmsg(sy.datasets.load, "bitcoin", { file = dir .. "/bitcoin.csv", verify = true }),
      "expected 6dd58c3530925dcee493278233cb81979fd6b8da436f913b9947e2d57f9b571a")
  end)
end)

describe("missing files", function()
  it("name the file, the directories searched, the source and the fetch command", function()
    assert(BIN, "SYNLUA_BIN is not set")
    local dir = tmpdir()
    local out = dir .. "/err.txt"
    local ok = run(string.format("env -u SYNLUA_DATA %s -e %s 2>%s", q(BIN),
      q("local sy = require('synlua'); sy.datasets.load('airquality', {data = '" .. dir .. "'})"), q(out)))
    assert.is_false(ok)
    local msg = slurp(out)
    has(msg, "airquality: AirQualityUCI.csv not found")
    has(msg, dir .. " (--data)")
    has(msg, "/datasets (the checkout)")
    has(msg, "UCI Machine Learning Repository")
    has(msg, "CC BY 4.0")
    has(msg, "datasets/fetch.lua airquality --data DIR")
    has(msg, "13277ae5d8581e80b7be09d47c7d3d06fe9b8e957078f2cf6e859f955e62f996")
    -- a dataset with alternative file names lists them all
    run(string.format("env -u SYNLUA_DATA %s -e %s 2>%s", q(BIN),
      q("require('synlua').datasets.load('household', {data = '" .. dir .. "'})"), q(out)))
    has(slurp(out), "household_power_hourly.csv or household_power_consumption.txt not found")
  end)
end)

describe("datasets/fetch.lua", function()
  local function have(cmd) return run("command -v " .. cmd .. " >/dev/null 2>&1") end
  local usable = BIN and have("python3") and (have("curl") or have("wget")) and have("sha256sum")

  -- Serves dir on 127.0.0.1 at a free port; returns the port and a stop function.
  local function serve(dir)
    local p = assert(io.popen(string.format(
      "env -u LD_PRELOAD sh -c 'echo $$; exec python3 -u -m http.server 0 --bind 127.0.0.1 --directory %s " ..
      "2>/dev/null'", dir)))
    local pid = p:read("l")
    local banner = p:read("l") or ""
    local port = banner:match("port (%d+)")
    return port, function()
      os.execute("kill " .. pid .. " 2>/dev/null")
      p:close()
    end
  end

  local function fetch(args, err)
    return run(string.format("env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY %s %s %s >/dev/null 2>%s", q(BIN),
      q(SRC .. "/datasets/fetch.lua"), args, q(err)))
  end

  it("downloads with a verified checksum and rejects a corrupted file without keeping it", function()
    if not usable then
      pending("needs python3, curl or wget, and sha256sum")
      return
    end
    local www, good, bad = tmpdir(), tmpdir(), tmpdir()
    os.execute("mkdir -p " .. q(www .. "/ok") .. " " .. q(www .. "/corrupt"))
    local bytes = assert(slurp(DATA .. "/bitcoin.csv"))
    local f = assert(io.open(www .. "/ok/bitcoin.csv", "wb"))
    f:write(bytes)
    f:close()
    f = assert(io.open(www .. "/corrupt/bitcoin.csv", "wb"))
    f:write((bytes:gsub("64276", "64277", 1)))
    f:close()
    local port, stop = serve(www)
    assert.is_truthy(port, "the HTTP server did not start")
    local err = www .. "/stderr.txt"
    local ok1, code1 = fetch(string.format("bitcoin --quiet --data %s --url http://127.0.0.1:%s/ok/bitcoin.csv",
      q(good), port), err)
    local log1 = slurp(err)
    local ok2, code2 = fetch(string.format("bitcoin --data %s --url http://127.0.0.1:%s/corrupt/bitcoin.csv",
      q(bad), port), err)
    local log2 = slurp(err)
    local ok3, code3 = fetch(string.format("bitcoin --quiet --data %s --url http://127.0.0.1:%s/none.csv",
      q(bad), port), err)
    local log3 = slurp(err)
    stop()

    assert.is_true(ok1, log1)
    assert.are.equal(bytes, slurp(good .. "/bitcoin.csv"))
    assert.is_nil(slurp(good .. "/bitcoin.csv.part"))
    assert.are.equal(365, sy.datasets.load("bitcoin", { data = good, verify = true }):rows())

    assert.is_false(ok2)
    assert.are.equal(1, code2)
    has(log2, "checksum mismatch for bitcoin.csv")
    has(log2, "expected 6dd58c3530925dcee493278233cb81979fd6b8da436f913b9947e2d57f9b571a")
    has(log2, "the download was deleted")
    assert.is_nil(slurp(bad .. "/bitcoin.csv"))
    assert.is_nil(slurp(bad .. "/bitcoin.csv.part"))

    assert.is_false(ok3)
    assert.are.equal(1, code3)
    has(log3, "download of http://127.0.0.1:" .. port .. "/none.csv failed")
    assert.is_nil(slurp(bad .. "/bitcoin.csv.part"))

    -- a file already in place with the right checksum is kept (no network needed)
    assert.is_true(fetch(string.format("bitcoin --quiet --data %s --url http://127.0.0.1:1/x", q(good)), err))
  end)

  it("explains its usage", function()
    if not BIN then
      pending("needs SYNLUA_BIN")
      return
    end
    local err = tmpdir() .. "/err.txt"
    local ok, code = fetch("", err)
    assert.is_false(ok)
    assert.are.equal(2, code)
    has(slurp(err), "usage: synlua datasets/fetch.lua NAME")
    has(slurp(err), "sp500, bitcoin, airquality, household, etth1, etth2")
  end)
end)

-- Pearson correlation of two 1-d float64 tensors (0 when one is constant).
local function corr(a, b)
  local am, bm = a - a:mean(), b - b:mean()
  local sa, sb = am:square():sum():item(), bm:square():sum():item()
  if sa == 0 or sb == 0 then return 0 end
  return (am * bm):sum():item() / math.sqrt(sa * sb)
end

-- The largest |correlation| between a number column at row t and the target
-- at row t + 1, and the column it belongs to.
local function max_future_corr(df)
  local T = df:rows()
  local future = df:col(df.target):narrow(1, 2, T - 1)
  local best, which = 0, nil
  for _, name in ipairs(df:columns_of("number")) do
    local c = math.abs(corr(df:col(name):narrow(1, 1, T - 1), future))
    if c > best then best, which = c, name end
  end
  return best, which
end

describe("engineered frames", function()
  for _, name in ipairs(sy.datasets.NAMES) do
    it(name .. ": the clean protocol has no feature that equals the future target", function()
      local fe = sy.datasets.load(name, { protocol = "clean" })
      assert.are.equal(expected[name].rows - 30, fe:rows())         -- lag warm-up rows dropped
      assert.are.equal(0, fe:tensor():isnan():sum():item())
      for _, c in ipairs(fe:columns()) do assert.is_nil(c:find("lead"), c) end
      local best, which = max_future_corr(fe)
      assert.is_true(best < 1 - 1e-9, string.format("%s correlates %.12f with the next target", tostring(which), best))
      local d = sy.data.prepare(fe, { seq_len = 7 })
      assert.are.equal(#d.features, d.train.X:size(3))
      assert.are.equal(fe:rows() - 7, d.windows)
    end)
  end

  it("the check catches the paper protocol's leaky leads", function()
    local fe = sy.datasets.load("bitcoin", { protocol = "paper", leaky_leads = { 1, 3 } })
    assert.are.equal(365, fe:rows())
    assert.are.equal(0, fe:tensor():isnan():sum():item())
    local best, which = max_future_corr(fe)
    assert.are.equal("close_lead1", which)
    assert.is_true(best > 1 - 1e-12)
    has(errmsg(sy.datasets.load, "bitcoin", { protocol = "clean", leaky_leads = { 1 } }), "only the paper protocol")
  end)

  it("the paper protocol fills every gap; the paper split scales on the whole series", function()
    local fe = sy.datasets.load("airquality", { protocol = "paper" })
    assert.are.equal(9357, fe:rows())
    assert.are.equal(0, fe:tensor():isnan():sum():item())
    local d = sy.data.prepare(fe, { seq_len = 7 })
    assert.are.equal("paper", d.protocol)
    assert.are.equal(math.floor(0.8 * (9357 - 7)), d.train.X:size(1))
    assert.are.equal(9357, d.fit_rows)
    local y = fe:col("CO(GT)")
    assert.is_true(math.abs(d.y_scaler.shift:item() - y:mean():item()) < 1e-9)
  end)
end)
