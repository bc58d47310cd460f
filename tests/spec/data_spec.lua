-- sy.data: the CSV reader (delimiters, quotes, decimal comma, kinds, missing
-- markers, trailing empty columns and rows, the number/date parsers and every
-- documented error on the malformed samples in tests/data), frames, feature
-- engineering against hand-computed values, windows, splits, scalers, the
-- frame -> tensors pipeline and the batch iterator.
local sy = require("synlua")

local SRC = os.getenv("SYNLUA_SOURCE_DIR") or "."
local DATA = SRC .. "/tests/data/"
local NAN = 0 / 0

local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function has(msg, phrase)
  assert.is_truthy(msg:find(phrase, 1, true), ("expected %q in %q"):format(phrase, msg))
end

local function is_nan(v) return v ~= v end

-- Compares lists of numbers, NaN equal to NaN.
local function same_values(expected, actual, tol)
  tol = tol or 0
  assert.are.equal(#expected, #actual, "lengths differ")
  for i = 1, #expected do
    local e, a = expected[i], actual[i]
    if is_nan(e) then
      assert.is_true(is_nan(a), ("entry %d: expected NaN, got %s"):format(i, tostring(a)))
    else
      assert.is_true(math.abs(e - a) <= tol, ("entry %d: expected %.17g, got %.17g"):format(i, e, a))
    end
  end
end

local tmp = {}
local function write_tmp(text)
  local p = os.tmpname()
  tmp[#tmp + 1] = p
  local f = assert(io.open(p, "wb"))
  f:write(text)
  f:close()
  return p
end

teardown(function()
  for _, p in ipairs(tmp) do os.remove(p) end
end)

-- seconds since the epoch of a UTC date
local function epoch(y, m, d, hh, mm, ss)
  return os.time({ year = y, month = m, day = d, hour = 0 }) - os.time({ year = 1970, month = 1, day = 1, hour = 0 })
    + (hh or 0) * 3600 + (mm or 0) * 60 + (ss or 0)
end

describe("number parser", function()
  it("reads decimal numbers exactly as Lua's tonumber does", function()
    local cases = { "0", "1", "-1", "+2", "1.5", "-0.25", ".5", "5.", "1e3", "1E-3", "2.5e+10", "0.1",
      "123456789012345678", "12345678901234567890", "9.243000030517578", "5.827000141143799",
      "1265561280453.39", "0.000001234", "1e-320", "1.7976931348623157e308", "007" }
    for _, s in ipairs(cases) do
      assert.are.equal(tonumber(s) + 0.0, sy._parse_number(s), s)   -- + 0.0: integers as the nearest float
    end
    -- random values printed with 17 significant digits round-trip
    local rng = 12345
    for _ = 1, 5000 do
      rng = (rng * 1103515245 + 12345) % 2147483648
      local v = (rng / 2147483648 - 0.5) * 10 ^ (rng % 40 - 20)
      local s = string.format("%.17g", v)
      assert.are.equal(v, sy._parse_number(s), s)
      local s2 = string.format("%.6f", v)
      assert.are.equal(tonumber(s2), sy._parse_number(s2), s2)
    end
  end)

  it("reads a decimal comma only when asked", function()
    assert.are.equal(2.6, sy._parse_number("2,6", ","))
    assert.are.equal(-200, sy._parse_number("-200,0", ","))
    assert.is_nil(sy._parse_number("2,6"))
    assert.is_nil(sy._parse_number("2.6", ","))
  end)

  it("knows nan and inf, and refuses everything else", function()
    assert.is_true(is_nan(sy._parse_number("NaN")))
    assert.are.equal(math.huge, sy._parse_number("inf"))
    assert.are.equal(-math.huge, sy._parse_number("-Infinity"))
    for _, s in ipairs({ "", "-", ".", "e5", "1e", "1.2.3", "0x10", "1 2", "abc", "1,5", "--1", "1e+" }) do
      assert.is_nil(sy._parse_number(s), s)
    end
  end)
end)

describe("date and time parser", function()
  it("reads ISO dates, date-times and time zones", function()
    assert.are.equal(1360281600, sy._parse_datetime("2013-02-08"))
    assert.are.equal(epoch(2013, 2, 8), sy._parse_datetime("2013/02/08"))
    assert.are.equal(1713916800, sy._parse_datetime("2024-04-24T00:00:00.000Z"))
    assert.are.equal(epoch(2016, 7, 1, 1), sy._parse_datetime("2016-07-01 01:00:00"))
    assert.are.equal(epoch(2016, 7, 1, 1, 30), sy._parse_datetime("2016-07-01T01:30"))
    assert.are.equal(epoch(2016, 7, 1, 0, 0, 0.25), sy._parse_datetime("2016-07-01 00:00:00.25"))
    assert.are.equal(epoch(2016, 6, 30, 23), sy._parse_datetime("2016-07-01T01:00:00+02:00"))
    assert.are.equal(epoch(1969, 12, 31), sy._parse_datetime("1969-12-31"))
    assert.are.equal(epoch(2000, 2, 29), sy._parse_datetime("2000-02-29"))
  end)

  it("reads day-first dates unless told otherwise", function()
    assert.are.equal(epoch(2004, 3, 10), sy._parse_datetime("10/03/2004"))
    assert.are.equal(epoch(2004, 10, 3), sy._parse_datetime("10/03/2004", false))
    assert.are.equal(epoch(2007, 1, 1), sy._parse_datetime("1/1/2007"))
    assert.are.equal(epoch(2006, 12, 16, 17, 24), sy._parse_datetime("16/12/2006 17:24:00"))
    assert.are.equal(epoch(2004, 3, 10, 18), sy._parse_datetime("10.03.2004 18.00.00"))
  end)

  it("refuses impossible dates and non-dates", function()
    for _, s in ipairs({ "2013-02-30", "1900-02-29", "2013-13-01", "2013-00-10", "2013-02-08 24:00:00",
      "2013-02-08 12:60", "2013-02-08X", "2013", "20130208", "13/13/2004", "2013-2", "10/03/04", "abc", "" }) do
      assert.is_nil(sy._parse_datetime(s), s)
    end
  end)

  it("reads times of day, with colons or dots", function()
    assert.are.equal(64800, sy._parse_time("18.00.00"))
    assert.are.equal(0, sy._parse_time("0:00:00"))
    assert.are.equal(17 * 3600 + 24 * 60, sy._parse_time("17:24"))
    for _, s in ipairs({ "18.00", "24:00:00", "12:5", "1.2.3", "12:00:00x", "" }) do
      assert.is_nil(sy._parse_time(s), s)
    end
  end)
end)

describe("read_csv", function()
  it("reads the ';' / decimal-comma / -200 / CRLF / trailing-column sample", function()
    local df = sy.data.read_csv(DATA .. "quirks.csv", { decimal = ",", na = { -200 } })
    assert.are.equal(";", df.delimiter)                 -- sniffed
    assert.are.equal(4, df:rows())                      -- 2 trailing blank rows dropped, the middle one kept
    assert.are.same({ "Date", "Time", "Name; full", "CO(GT)", "T" }, df:columns())  -- BOM gone, ";;" dropped
    assert.are.equal("datetime", df:kind("Date"))
    assert.are.equal("time", df:kind("Time"))
    assert.are.equal("text", df:kind("Name; full"))
    assert.are.equal("number", df:kind("CO(GT)"))
    same_values({ epoch(2004, 3, 10), epoch(2004, 3, 10), NAN, epoch(2004, 3, 11) }, df:col("Date"):totable())
    same_values({ 18 * 3600, 19 * 3600, NAN, 3600 }, df:col("Time"):totable())
    assert.are.same({ "a;b", "line1\nline2", false, "c" }, df:col("Name; full"))
    same_values({ 2.6, NAN, NAN, 15 }, df:col("CO(GT)"):totable())   -- -200 and 1,5e1
    same_values({ 13.6, NAN, NAN, NAN }, df:col("T"):totable())      -- -200,0 and empty
  end)

  it("reads a tab-separated file without a header, trimming spaces", function()
    local df = sy.data.read_csv(DATA .. "tabs.tsv", { header = false })
    assert.are.equal("\t", df.delimiter)
    assert.are.same({ "column1", "column2", "column3" }, df:columns())
    same_values({ 1, 2, 3 }, df:col("column1"):totable())
    same_values({ 2.5, 3.5, NAN }, df:col("column2"):totable())
    assert.are.same({ "x", "y", "z" }, df:col("column3"))
    assert.are.equal(3, sy.data.read_csv(DATA .. "tabs.tsv", { header = false, delimiter = "tab" }):rows())
  end)

  it("applies missing markers, forced kinds, a row limit and quoted fields", function()
    local p = write_tmp('id,name,score\n1,"Smith, J",?\n2,NA,3.5\n3,"say ""hi""",4\n4,x,-1\n')
    local df = sy.data.read_csv(p, { na = { "?", -1 } })
    assert.are.same({ "Smith, J", false, 'say "hi"', "x" }, df:col("name"))
    same_values({ NAN, 3.5, 4, NAN }, df:col("score"):totable())
    local raw = sy.data.read_csv(p, { default_na = false, types = { score = "text" } })
    assert.are.same({ "Smith, J", "NA", 'say "hi"', "x" }, raw:col("name"))
    assert.are.same({ "?", "3.5", "4", "-1" }, raw:col("score"))
    local two = sy.data.read_csv(p, { nrows = 2, na = { "?" } })
    assert.are.equal(2, two:rows())
    same_values({ 1, 2 }, two:col("id"):totable())
    has(errmsg(sy.data.read_csv, p, { types = { nope = "text" } }), "'nope'")
    has(errmsg(sy.data.read_csv, p, { types = { score = "float" } }), "\"number\"")
    has(errmsg(sy.data.read_csv, p, { delimeter = ";" }), "unknown option 'delimeter'")
    has(errmsg(sy.data.read_csv, p, { decimal = ";" }), "decimal")
    has(errmsg(sy.data.read_csv, p, { delimiter = "ab" }), "one character")
    has(errmsg(sy.data.read_csv, p, { nrows = 0 }), "positive integer")
  end)

  it("renames duplicate and empty header names", function()
    local p = write_tmp("a,a,,b\n1,2,3,4\n")
    assert.are.same({ "a", "a.1", "column3", "b" }, sy.data.read_csv(p):columns())
  end)

  it("infers kinds from the first infer_rows rows and names a later misfit", function()
    local lines = { "x,y" }
    for i = 1, 1500 do lines[#lines + 1] = i .. "," .. i * 2 end
    lines[#lines + 1] = "1501,abc"
    local p = write_tmp(table.concat(lines, "\n") .. "\n")
    local msg = errmsg(sy.data.read_csv, p)
    has(msg, p .. ":1502: column 'y' (2): 'abc' is not a number")
    local df = sy.data.read_csv(p, { types = { y = "text" } })
    assert.are.equal("text", df:kind("y"))
    assert.are.equal("abc", df:col("y")[1501])
    assert.are.equal(1501, df:rows())
    -- a value column that is mostly numbers is a number column: the odd value is an error
    local q = write_tmp("v\n1\n2\noops\n4\n")
    has(errmsg(sy.data.read_csv, q), q .. ":4: column 'v' (1): 'oops' is not a number")
  end)

  it("gives the documented error for each malformed sample", function()
    has(errmsg(sy.data.read_csv, DATA .. "empty.csv"), DATA .. "empty.csv is empty")
    has(errmsg(sy.data.read_csv, DATA .. "wrong_field_count.csv"),
      DATA .. "wrong_field_count.csv:4: row has 4 fields, the header has 3")
    has(errmsg(sy.data.read_csv, DATA .. "short_row.csv"), DATA .. "short_row.csv:3: row has 2 fields, the header has 3")
    has(errmsg(sy.data.read_csv, DATA .. "not_a_number.csv"),
      DATA .. "not_a_number.csv:5: column 'close' (2): 'n/a' is not a number")
    has(errmsg(sy.data.read_csv, DATA .. "bad_date.csv"),
      DATA .. "bad_date.csv:4: column 'date' (1): '2013-02-30' is not a date or date-time")
    has(errmsg(sy.data.read_csv, DATA .. "bad_quote.csv"), DATA .. "bad_quote.csv:3: malformed quoted field")
    has(errmsg(sy.data.read_csv, DATA .. "unclosed_quote.csv"), "unclosed_quote.csv:4: quoted field not closed")
    has(errmsg(sy.data.read_csv, DATA .. "missing.csv"), "cannot open " .. DATA .. "missing.csv: No such file")
    has(errmsg(sy.data.read_csv, DATA), "cannot read " .. DATA .. ": Is a directory")
    has(errmsg(sy.data.read_csv, 42), "path must be a string")
    -- the markers fix the sample that failed
    assert.is_true(is_nan(sy.data.read_csv(DATA .. "not_a_number.csv", { na = "n/a" }):col("close")[4]))
  end)

  it("reads a large file with every value in place", function()
    local lines = { "t,v,w" }
    for i = 1, 30000 do
      lines[#lines + 1] = string.format("2020-01-01 %02d:%02d:00,%d.5,%s", i // 60 % 24, i % 60, i,
        i % 1000 == 0 and "" or tostring(i * 3))
    end
    local df = sy.data.read_csv(write_tmp(table.concat(lines, "\n")))   -- no final newline
    assert.are.equal(30000, df:rows())
    local v, w = df:col("v"):totable(), df:col("w"):totable()
    for i = 1, 30000 do
      assert(v[i] == i + 0.5, i)
      assert((i % 1000 == 0 and is_nan(w[i])) or w[i] == i * 3, i)
    end
  end)
end)

describe("frames", function()
  local function small()
    return sy.data.frame({
      { "date", { "2021-01-01", "2021-01-02", "2021-01-03" }, "datetime" },
      { "name", { "a", false, "c" } },
      { "x", { 1, 2, 3 } },
      { "y", sy.tensor({ 10, 20, 30 }) },
    })
  end

  it("has rows, columns, kinds and column data", function()
    local f = small()
    assert.are.equal(3, f:rows())
    assert.are.same({ "date", "name", "x", "y" }, f:columns())
    assert.are.equal("datetime", f:kind("date"))
    assert.are.equal("text", f:kind("name"))
    assert.are.equal("float64", f:col("y"):dtype())
    assert.are.same({ "x", "y" }, f:columns_of("number"))
    has(errmsg(f.col, f, "z"), "frame has no column 'z' (columns: date, name, x, y)")
  end)

  it("selects, drops, slices and stacks columns into a tensor", function()
    local f = small()
    assert.are.same({ "y", "x" }, f:select({ "y", "x" }):columns())
    assert.are.same({ "date", "y" }, f:drop({ "name", "x" }):columns())
    assert.are.same({ "date", "name", "y" }, f:drop("x"):columns())
    local h = f:head(2)
    assert.are.equal(2, h:rows())
    assert.are.same({ "a", false }, h:col("name"))
    assert.is_true(h:col("x"):shares_storage(f:col("x")))
    local s = f:slice(2, 3)
    same_values({ 20, 30 }, s:col("y"):totable())
    assert.are.equal(0, f:slice(2, 1):rows())
    assert.are.same({ { 1, 10 }, { 2, 20 }, { 3, 30 } }, f:tensor():totable())
    assert.are.same({ { 10, 1 }, { 20, 2 }, { 30, 3 } }, f:tensor({ "y", "x" }, "float32"):totable())
    assert.are.equal("float32", f:tensor(nil, "float32"):dtype())
    has(errmsg(f.tensor, f, { "name" }), "column 'name' is text")
    has(errmsg(f.slice, f, 0, 2), "outside")
    has(errmsg(f.set, f, "z", { 1, 2 }), "column 'z' has 2 rows, the frame has 3")
    assert.is_truthy(tostring(f):find("2021-01-02", 1, true))
  end)
end)

-- A small frame over an ISO-week year boundary (hand-computed values below).
local function calendar_frame()
  return sy.data.frame({
    { "date", { "2020-12-28", "2020-12-31", "2021-01-01", "2021-01-03", "2021-01-04", "2019-12-30" }, "datetime" },
    { "kind", { "b", "a", "b", "c", "a", "b" } },
    { "level", { 10, 20, 10, 10, 20, 10 } },
    { "wide", { 1, 2, 3, 4, 5, 6, } },
    { "target", { 1, 2, 3, 4, 5, 6 } },
  })
end

describe("feature engineering", function()
  it("computes date parts with ISO weeks", function()
    local f = sy.data.date_parts(calendar_frame(), "date")
    assert.are.same({ 28, 31, 1, 3, 4, 30 }, f:col("date_day"):totable())
    assert.are.same({ 12, 12, 1, 1, 1, 12 }, f:col("date_month"):totable())
    assert.are.same({ 53, 53, 53, 53, 1, 1 }, f:col("date_week"):totable())
    assert.are.same({ 2020, 2020, 2021, 2021, 2021, 2019 }, f:col("date_year"):totable())
    assert.are.same({ 4, 4, 1, 1, 1, 4 }, f:col("date_quarter"):totable())
    assert.are.same({ 0, 3, 4, 6, 0, 0 }, f:col("date_dayofweek"):totable())
    assert.are.same({ 0, 0, 0, 1, 0, 0 }, f:col("date_is_weekend"):totable())
    -- more ISO-week corner cases: 2015-12-31 and 2016-01-03 are in week 53 of
    -- 2015, 2008-12-29 in week 1 of 2009, 2010-01-03 in week 53 of 2009
    local g = sy.data.date_parts(sy.data.frame({ { "d", { "2015-12-31", "2016-01-03", "2008-12-29", "2010-01-03",
      "2010-01-04", "2024-02-29" }, "datetime" } }), "d", { prefix = "p" })
    assert.are.same({ 53, 53, 1, 53, 1, 9 }, g:col("p_week"):totable())
    assert.are.same({ 3, 6, 0, 6, 0, 3 }, g:col("p_dayofweek"):totable())
    has(errmsg(sy.data.date_parts, calendar_frame(), "kind"), "is text, expected datetime")
  end)

  it("label-encodes text and low-cardinality columns in sorted order", function()
    local f, enc = sy.data.label_encode(calendar_frame(), { exclude = { "target" }, max_distinct = 5 })
    assert.are.same({ 1, 0, 1, 2, 0, 1 }, f:col("kind"):totable())
    assert.are.same({ "a", "b", "c" }, enc.kind)
    assert.are.same({ 0, 1, 0, 0, 1, 0 }, f:col("level"):totable())
    assert.are.same({ 10, 20 }, enc.level)
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, f:col("wide"):totable())    -- 6 distinct values > max_distinct 5
    assert.is_nil(enc.target)
    local g = sy.data.label_encode(calendar_frame(), { columns = { "wide" }, max_distinct = 5 })
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, g:col("wide"):totable())    -- ... unless named
    assert.are.same({ "b", "a", "b", "c", "a", "b" }, g:col("kind"))
    local h = sy.data.label_encode(calendar_frame(), { exclude = { "target" } })   -- default: at most 10
    assert.are.same({ 0, 1, 2, 3, 4, 5 }, h:col("wide"):totable())
  end)

  it("builds target lags and, only when asked, leaky leads", function()
    local f = sy.data.lags(calendar_frame(), "target", { 1, 3 })
    same_values({ NAN, 1, 2, 3, 4, 5 }, f:col("target_lag1"):totable())
    same_values({ NAN, NAN, NAN, 1, 2, 3 }, f:col("target_lag3"):totable())
    same_values({ NAN, NAN, NAN, NAN, NAN, NAN }, sy.data.lags(calendar_frame(), "target", { 7 }):col("target_lag7"):totable())
    local g = sy.data.leaky_leads(calendar_frame(), "target", { 1 })
    same_values({ 2, 3, 4, 5, 6, NAN }, g:col("target_lead1"):totable())
    has(errmsg(sy.data.lags, calendar_frame(), "target", { 0 }), "positive integer")
    has(errmsg(sy.data.lags, calendar_frame(), "kind", { 1 }), "is text")
  end)

  it("fills gaps forward, backward and with the mean", function()
    local f = sy.data.frame({ { "v", { NAN, 1, NAN, NAN, 4, NAN } } })
    same_values({ NAN, 1, 1, 1, 4, 4 }, sy.data.fill(f, "forward"):col("v"):totable())
    same_values({ 1, 1, 4, 4, 4, NAN }, sy.data.fill(f, "backward"):col("v"):totable())
    same_values({ 2.5, 1, 2.5, 2.5, 4, 2.5 }, sy.data.fill(f, "mean"):col("v"):totable())
    local g, counts = sy.data.fill(f, { "forward", "backward", "mean" })
    same_values({ 1, 1, 1, 1, 4, 4 }, g:col("v"):totable())
    assert.are.equal(4, counts.v)
    same_values({ NAN, 1, NAN, NAN, 4, NAN }, f:col("v"):totable())   -- the input is untouched
    has(errmsg(sy.data.fill, f, { "sideways" }), "unknown method 'sideways'")
    -- the kernel also fills a strided column in place
    local m = sy.tensor({ { 1, NAN }, { NAN, 5 }, { 3, NAN } }, "float64")
    assert.are.equal(1, sy._fill_gaps(m:select(2, 1), "forward"))
    assert.are.equal(2, sy._fill_gaps(m:select(2, 2), "mean"))
    same_values({ 1, 5, 1, 5, 3, 5 }, m:view(6):totable())
  end)

  it("runs the whole recipe for each protocol; leads only under paper and only on request", function()
    local paper = sy.data.engineer(calendar_frame(), { target = "target", time = "date", protocol = "paper",
      lags = { 1, 2 } })
    assert.are.same({ "date", "kind", "level", "wide", "target", "date_day", "date_month", "date_week",
      "date_year", "date_quarter", "date_dayofweek", "date_is_weekend", "target_lag1", "target_lag2" },
      paper:columns())
    assert.are.equal(6, paper:rows())
    -- lags filled: forward leaves the first rows, backward gives them the first value
    same_values({ 1, 1, 2, 3, 4, 5 }, paper:col("target_lag1"):totable())
    same_values({ 1, 1, 1, 2, 3, 4 }, paper:col("target_lag2"):totable())
    assert.are.same({ 1, 0, 1, 2, 0, 1 }, paper:col("kind"):totable())
    for _, n in ipairs(paper:columns()) do assert.is_nil(n:find("lead"), n) end

    local leaky = sy.data.engineer(calendar_frame(), { target = "target", time = "date", protocol = "paper",
      lags = false, leaky_leads = { 1, 2 } })
    same_values({ 2, 3, 4, 5, 6, 6 }, leaky:col("target_lead1"):totable())
    same_values({ 3, 4, 5, 6, 6, 6 }, leaky:col("target_lead2"):totable())
    has(errmsg(sy.data.engineer, calendar_frame(), { target = "target", leaky_leads = { 1 } }),
      "only the paper protocol may enable it")

    -- clean: the rows whose lags are undefined are dropped, nothing is averaged in
    local clean = sy.data.engineer(calendar_frame(), { target = "target", time = "date", lags = { 1, 2 } })
    assert.are.equal(4, clean:rows())
    same_values({ 2, 3, 4, 5 }, clean:col("target_lag1"):totable())
    same_values({ 3, 4, 5, 6 }, clean:col("target"):totable())
    assert.are.equal("clean", clean.protocol)
  end)
end)

describe("windows and splits", function()
  -- X[t] = {t, 10 t}, y[t] = 100 t
  local function series(T)
    local x, y = {}, {}
    for t = 1, T do
      x[t] = { t, 10 * t }
      y[t] = 100 * t
    end
    return sy.tensor(x, "float64"), sy.tensor(y, "float64")
  end

  it("cuts [N, L, D] inputs and [N, h] targets", function()
    local X, y = series(6)
    local Xw, yw = sy.data.windows(X, y, 2)
    assert.are.same({ 4, 2, 2 }, Xw:size())
    assert.are.same({ 4, 1 }, yw:size())
    assert.are.equal("float32", Xw:dtype())
    assert.are.same({ { 1, 10 }, { 2, 20 } }, Xw[1]:totable())
    assert.are.same({ { 4, 40 }, { 5, 50 } }, Xw[4]:totable())
    assert.are.same({ { 300 }, { 400 }, { 500 }, { 600 } }, yw:totable())
    local Xh, yh = sy.data.windows(X, y, 3, 2)
    assert.are.same({ 2, 3, 2 }, Xh:size())
    assert.are.same({ { 400, 500 }, { 500, 600 } }, yh:totable())
    local _, yc = sy.data.windows(X, X, 4, 2)          -- channel-wise targets [N, h, C]
    assert.are.same({ 1, 2, 2 }, yc:size())
    assert.are.same({ { { 5, 50 }, { 6, 60 } } }, yc:totable())
    has(errmsg(sy.data.windows, X, y, 6), "6 rows are too few for windows of length 6")
    has(errmsg(sy.data.windows, X, y, 0), "window length")
  end)

  it("splits windows chronologically, paper and clean", function()
    assert.are.same({ train = { 1, 80 }, val = { 81, 100 }, test = { 81, 100 } }, sy.data.split(100, "paper"))
    assert.are.same({ train = { 1, 795 }, val = { 796, 994 }, test = { 796, 994 } }, sy.data.split(994, "paper"))
    assert.are.same({ train = { 1, 70 }, val = { 71, 80 }, test = { 81, 100 } }, sy.data.split(100, "clean"))
    -- horizon 3: two windows left out at each boundary
    assert.are.same({ train = { 1, 70 }, val = { 73, 82 }, test = { 85, 100 } },
      sy.data.split(100, "clean", { horizon = 3 }))
    assert.are.same({ train = { 1, 60 }, val = { 61, 80 }, test = { 81, 100 } },
      sy.data.split(100, "clean", { train = 0.6, val = 0.2 }))
    has(errmsg(sy.data.split, 100, "random"), "protocol must be")
    has(errmsg(sy.data.split, 1, "paper"), "no training or evaluation")
  end)
end)

describe("scalers", function()
  it("standard: population std per column, 1 for a constant column, exact inverse", function()
    local x = sy.tensor({ { 1, 5 }, { 3, 5 }, { 5, 5 } }, "float64")
    local s = sy.data.scaler("standard"):fit(x)
    same_values({ 3, 5 }, s.shift:totable())
    same_values({ math.sqrt(8 / 3), 1 }, s.scale:totable(), 1e-15)
    local z = s:transform(x)
    same_values({ -math.sqrt(1.5), 0, math.sqrt(1.5) }, z:select(2, 1):totable(), 1e-15)
    same_values({ 0, 0, 0 }, z:select(2, 2):totable())
    same_values({ 1, 3, 5 }, s:inverse(z):select(2, 1):totable(), 1e-14)
    -- float32 stays float32; windows [N, L, D] broadcast over the last dim
    assert.are.equal("float32", s:transform(x:float()):dtype())
    assert.are.same({ 2, 3, 2 }, s:transform(sy.stack({ x, x })):size())
    has(errmsg(s.transform, s, sy.zeros(3, 4)), "fitted on 2 columns, got 4")
  end)

  it("minmax maps into [0, 1]; the target scaler inverts predictions", function()
    local y = sy.tensor({ 2, 4, 10 }, "float64")
    local s = sy.data.scaler("minmax"):fit(y)
    same_values({ 0, 0.25, 1 }, s:transform(y):totable())
    assert.are.same({ { 6 }, { 10 } }, s:inverse(sy.tensor({ { 0.5 }, { 1 } }, "float64")):totable())
  end)

  it("refuses what it cannot do", function()
    has(errmsg(sy.data.scaler, "robust"), "\"standard\" or \"minmax\"")
    has(errmsg(sy.data.scaler("standard").transform, sy.data.scaler("standard"), sy.zeros(2)), "not been fitted")
    local s = sy.data.scaler("standard")
    has(errmsg(s.fit, s, sy.tensor({ 1, NAN })), "column 1 of the data has 1 missing value (NaN)")
    has(errmsg(s.fit, s, sy.tensor({ { 1, 2 }, { 3, math.huge }, { 5, -math.huge } })),
      "column 2 of the data has 2 infinite values")
  end)
end)

describe("prepare", function()
  -- 40 rows; a level shift in the last quarter makes train-only statistics differ
  local function frame()
    local x, y = {}, {}
    for t = 1, 40 do
      x[t] = t <= 30 and t or 100 + t
      y[t] = 2 * x[t] + 1
    end
    return sy.data.frame({ { "x", x }, { "y", y } })
  end

  it("paper: scalers on every row, 80/20 windows, the eval set twice", function()
    local d = sy.data.prepare(frame(), { seq_len = 3, protocol = "paper", target = "y" })
    assert.are.equal(37, d.windows)
    assert.are.same({ 29, 3, 2 }, d.train.X:size())
    assert.are.same({ 8, 1 }, d.val.y:size())
    assert.are.equal(d.val.X:size(1), d.test.X:size(1))
    assert.are.equal(40, d.fit_rows)
    local all = frame():tensor({ "x", "y" })
    same_values(all:mean(1):totable(), d.x_scaler.shift:totable(), 1e-12)
  end)

  it("clean: scalers fit only on the rows the training windows touch", function()
    local f = frame()
    local d = sy.data.prepare(f, { seq_len = 3, target = "y" })
    -- 37 windows: 25 train, 3 val, 9 test; training windows touch rows 1..28
    assert.are.same({ 25, 3, 2 }, d.train.X:size())
    assert.are.same({ 3, 1 }, d.val.y:size())
    assert.are.same({ 9, 1 }, d.test.y:size())
    assert.are.equal(28, d.fit_rows)
    same_values({ 14.5, 30 }, d.x_scaler.shift:totable(), 1e-12)      -- mean of rows 1..28
    assert.are.equal(30, d.y_scaler.shift:item())
    -- changing a test row changes no statistic
    local g = f:copy()
    local y = g:col("y"):clone()
    y[40] = 1e6
    g:set("y", y)
    local d2 = sy.data.prepare(g, { seq_len = 3, target = "y" })
    same_values(d.x_scaler.shift:totable(), d2.x_scaler.shift:totable())
    same_values(d.x_scaler.scale:totable(), d2.x_scaler.scale:totable())
    -- the target comes back in its own units
    -- the first test window is window 29: rows 29..31 in, row 32 (x = 132) out
    same_values({ 2 * 132 + 1, 2 * 133 + 1, 2 * 134 + 1 },
      d.y_scaler:inverse(d.test.y:narrow(1, 1, 3):double()):view(3):totable(), 1e-3)
    same_values({ 2, 3, 4 }, d.x_scaler:inverse(d.train.X[2]:double()):select(2, 1):totable(), 1e-5)
  end)

  it("refuses missing values and too-short series", function()
    local f = sy.data.frame({ { "x", { 1, NAN, 3, 4, 5 } }, { "y", { 1, 2, 3, 4, 5 } } })
    has(errmsg(sy.data.prepare, f, { seq_len = 2, target = "y" }), "column 'x' has 1 missing values")
    has(errmsg(sy.data.prepare, frame(), { seq_len = 39, target = "y" }), "too few")
    has(errmsg(sy.data.prepare, frame(), { target = "y" }), "seq_len")
  end)
end)

describe("batch iterator", function()
  local X = sy.arange(10):double():view(10, 1)
  local y = sy.arange(10):double()

  local function order(loader)
    local seen, sizes = {}, {}
    for xb, yb in loader:iter() do
      sizes[#sizes + 1] = xb:size(1)
      for _, v in ipairs(yb:totable()) do seen[#seen + 1] = v end
      assert.are.same(yb:totable(), xb:view(xb:size(1)):totable())   -- X and y stay paired
    end
    return seen, sizes
  end

  it("keeps the last partial batch and visits every row once", function()
    local l = sy.data.loader(X, y, { batch_size = 4 })
    assert.are.equal(3, #l)
    local seen, sizes = order(l)
    assert.are.same({ 4, 4, 2 }, sizes)
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, seen)
    local s = order(sy.data.loader(X, y, { batch_size = 3, shuffle = true, seed = 7 }))
    table.sort(s)
    assert.are.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, s)
  end)

  it("shuffles the same way for the same seed, differently per epoch and per seed", function()
    local a = sy.data.loader(X, y, { batch_size = 4, shuffle = true, seed = 42 })
    local b = sy.data.loader(X, y, { batch_size = 4, shuffle = true, seed = 42 })
    local a1, b1 = order(a), order(b)
    assert.are.same(a1, b1)
    assert.are.same(order(a), order(b))                  -- second epochs agree too
    assert.are_not.same(a1, order(a))                    -- ... and differ from the first
    assert.are_not.same(a1, order(sy.data.loader(X, y, { batch_size = 4, shuffle = true, seed = 43 })))
  end)

  it("leaves the global generator alone with a seed, and follows it without one", function()
    sy.manual_seed(1)
    local r1 = sy.rand(3):totable()
    sy.manual_seed(1)
    order(sy.data.loader(X, y, { shuffle = true, seed = 5 }))
    assert.are.same(r1, sy.rand(3):totable())
    sy.manual_seed(9)
    local u = order(sy.data.loader(X, y, { shuffle = true }))
    sy.manual_seed(9)
    assert.are.same(u, order(sy.data.loader(X, y, { shuffle = true })))
  end)

  it("checks its arguments", function()
    has(errmsg(sy.data.loader, X, y, { batch_size = 0 }), "batch_size")
    has(errmsg(sy.data.loader, X, sy.zeros(3)), "10 rows like X")
    has(errmsg(sy.data.loader, X, y, { seed = 1.5 }), "seed must be an integer")
  end)
end)

describe("windows are views of the series", function()
  -- Bitwise equality of two tensors of the same shape and dtype.
  local function bits(a, b)
    assert.are.same(a:size(), b:size())
    assert.are.equal(a:dtype(), b:dtype())
    assert.are.equal(a:numel(), a:eq(b):sum():item())
  end

  local function materialised(d)
    local c = {}
    for k, v in pairs(d) do c[k] = v end
    for _, s in ipairs({ "train", "val", "test" }) do
      c[s] = { X = d[s].X:contiguous(), y = d[s].y }
    end
    return c
  end

  -- 300 rows of a noisy sine and two features
  local function series_frame()
    sy.manual_seed(3)
    local t = sy.arange(1, 301):double()
    local close = (t * 0.07):sin() * 10 + 50 + sy.randn(300):double() * 0.3
    local vol = sy.rand(300):double() * 100
    return sy.data.frame({ { "close", close:totable() }, { "volume", vol:totable() },
                           { "trend", (t * 0.01):totable() } })
  end

  it("shares X's storage with strides (D, D, 1) and the values of a row-by-row copy", function()
    sy.manual_seed(2)
    local X, y = sy.randn(20, 3), sy.randn(20)
    local Xw = sy.data.windows(X, y, 5, 2)
    assert.are.same({ 14, 5, 3 }, Xw:size())
    assert.are.same({ 3, 3, 1 }, Xw:stride())
    assert.are.equal("float32", Xw:dtype())
    for i = 1, 14 do bits(X:narrow(1, i, 5), Xw[i]) end
    X[4][2] = 99   -- X is float32 and contiguous: Xw is a view of it
    assert.are.equal(99, Xw[1][4][2])
    assert.are.equal(99, Xw[4][1][2])
    -- a float64 or strided X is converted once, then viewed; values unchanged
    local Xd = sy.randn(3, 20):double():t()
    local Wd = sy.data.windows(Xd, y, 5)
    assert.are.same({ 3, 3, 1 }, Wd:stride())
    for i = 1, 15 do bits(Xd:narrow(1, i, 5):float(), Wd[i]) end
    -- batches gathered from the view are contiguous copies of the windows
    local idx = sy.tensor({ 14, 1, 7 }, "int64")
    local b = Xw:index_select(1, idx)
    assert.is_true(b:is_contiguous())
    bits(Xw:contiguous():index_select(1, idx), b)
    -- sy.save writes the windows' values (bench/vs_pytorch.lua hands them to PyTorch)
    local path = os.tmpname()
    sy.save(path, { X = Xw })
    local back = sy.load(path).X
    os.remove(path)
    bits(Xw:contiguous(), back)
  end)

  it("every model and recurrent layer gives the same bits on a window view as on its copy", function()
    local L, D = 8, 3
    sy.manual_seed(4)
    local Xw = sy.data.windows(sy.randn(60, D), sy.randn(60), L)
    local chunk = Xw:narrow(1, 5, 16)          -- what predict passes: a strided view
    assert.is_false(chunk:is_contiguous())
    local models = {
      sy.models.RNN({ input_dim = D, hidden = 6 }),
      sy.models.LSTM({ input_dim = D, hidden = 6 }),
      sy.models.PaperPatchTST({ input_dim = D, seq_len = L, d_model = 8, heads = 2, layers = 1, d_ff = 16 }),
      sy.models.PatchTST({ input_dim = D, seq_len = L, horizon = 2, patch_len = 4, stride = 2, d_model = 8,
                           heads = 2, layers = 1, d_ff = 16, dropout = 0 }),
      sy.nn.GRU({ input_size = D, hidden_size = 5, batch_first = true }),
      sy.nn.LSTM({ input_size = D, hidden_size = 5, batch_first = true }),
      sy.nn.RNN({ input_size = D, hidden_size = 5, batch_first = true }),
      sy.nn.Linear(D, 4),
    }
    for _, m in ipairs(models) do
      local function run(x)
        m:zero_grad()
        local out = m(x)
        if type(out) == "table" and not sy.is_tensor(out) then out = out[1] end
        out:sum():backward()
        local grads = {}
        for name, p in pairs(m:named_parameters()) do grads[name] = p.grad:clone() end
        return out, grads
      end
      local a, ga = run(chunk)
      local b, gb = run(chunk:contiguous())
      bits(a, b)
      for name, g in pairs(ga) do bits(g, gb[name]) end
    end
  end)

  it("train, evaluate and predict as materialised windows do, bit for bit", function()
    sy.set_num_threads(1)
    local d = sy.data.prepare(series_frame(), { seq_len = 10, protocol = "clean", target = "close" })
    assert.is_false(d.train.X:is_contiguous())
    local c = materialised(d)
    for _, case in ipairs({ { "LSTM", "none" }, { "RNN", "mc" }, { "LSTM", "prune" } }) do
      local function trial(data)
        return sy.train.trial({ data = data, method = case[2], protocol = "clean", epochs = 3, seed = 11,
          arch = case[1]:lower(), batch_size = 32,
          model = function(o) return sy.models[case[1]]({ input_dim = 3, hidden = 8, dropout = o.dropout }) end })
      end
      local a, b = trial(d), trial(c)
      assert.are.equal(3, #a.train_losses)
      assert.are.same(b.train_losses, a.train_losses)
      assert.are.same(b.val_losses, a.val_losses)
      assert.are.equal(b.mae, a.mae)
      assert.are.equal(b.rmse, a.rmse)
      bits(a.prediction, b.prediction)
    end
    -- unshuffled batches are narrow()ed views of the windows
    local m = sy.models.LSTM({ input_dim = 3, hidden = 8 })
    bits(sy.train.predict(m, d.test.X, { batch_size = 7 }), sy.train.predict(m, c.test.X, { batch_size = 7 }))
    local l1, l2 = {}, {}
    for xb in sy.data.loader(d.train.X, d.train.y, { batch_size = 50 }):iter() do l1[#l1 + 1] = m(xb) end
    for xb in sy.data.loader(c.train.X, c.train.y, { batch_size = 50 }):iter() do l2[#l2 + 1] = m(xb) end
    for i = 1, #l2 do bits(l1[i], l2[i]) end
  end)
end)
