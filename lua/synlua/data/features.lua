-- Feature engineering (REFERENCE.md §6): calendar parts of the date column,
-- label encoding, target lags, gap filling, and — only behind an option whose
-- name says so — target leads. Every function returns a new frame and leaves
-- its input as it was.
local sy = require("synlua")

local M = {}

local NAN = 0 / 0
M.DEFAULT_LAGS = { 1, 3, 7, 14, 30 }
M.DATE_PARTS = { "day", "month", "week", "year", "quarter", "dayofweek", "is_weekend" }

local function check_frame(f, fname)
  if type(f) ~= "table" or type(f.rows) ~= "function" then
    error(string.format("%s: expected a frame, got %s", fname, type(f)), 3)
  end
end

local function check_number_column(f, name, fname)
  if type(name) ~= "string" or not f:has(name) then
    error(string.format("%s: frame has no column '%s' (columns: %s)", fname, tostring(name),
      table.concat(f:columns(), ", ")), 3)
  end
  if f:kind(name) ~= "number" then
    error(string.format("%s: column '%s' is %s, expected a number column", fname, name, f:kind(name)), 3)
  end
end

local function check_steps(ks, fname, what)
  if type(ks) ~= "table" then error(string.format("%s: %s must be a list of positive integers", fname, what), 3) end
  for i, k in ipairs(ks) do
    if math.type(k) ~= "integer" or k < 1 then
      error(string.format("%s: %s entry %d must be a positive integer, got %s", fname, what, i, tostring(k)), 3)
    end
  end
end

-- Adds <prefix>_day, _month, _week (ISO 8601), _year, _quarter, _dayofweek
-- (Monday = 0) and _is_weekend for the datetime column.
function M.date_parts(f, column, opts)
  check_frame(f, "date_parts")
  opts = opts or {}
  if type(column) ~= "string" or not f:has(column) then
    error(string.format("date_parts: frame has no column '%s'", tostring(column)), 2)
  end
  if f:kind(column) ~= "datetime" then
    error(string.format("date_parts: column '%s' is %s, expected datetime", column, f:kind(column)), 2)
  end
  local prefix = opts.prefix or column
  local parts = sy._datetime_parts(f:col(column))
  local out = f:copy()
  for j, suffix in ipairs(M.DATE_PARTS) do
    out:set(prefix .. "_" .. suffix, parts:select(2, j):contiguous(), "number")
  end
  return out
end

-- Distinct non-missing values of a column, or nil once there are more than max.
local function distinct(values, n, max)
  local seen, list = {}, {}
  for i = 1, n do
    local v = values[i]
    if v ~= false and v == v and not seen[v] then
      if #list == max then return nil end
      seen[v] = true
      list[#list + 1] = v
    end
  end
  table.sort(list)
  return list
end

-- Replaces text columns and number columns with at most max_distinct (10)
-- distinct values by codes 0..k-1 in sorted order of the values (missing
-- stays NaN). opts.columns names the columns to encode whatever their
-- cardinality; without it the text and low-cardinality number columns among
-- opts.among (default: all), less opts.exclude, are encoded. Returns the new
-- frame and {column = {value of code 0, value of code 1, ...}}.
function M.label_encode(f, opts)
  check_frame(f, "label_encode")
  opts = opts or {}
  local max = opts.max_distinct or 10
  local exclude = {}
  for _, n in ipairs(opts.exclude or {}) do exclude[n] = true end
  local explicit = opts.columns ~= nil
  local columns = opts.columns or opts.among or f:columns_of("number", "text")
  local out, encodings = f:copy(), {}
  local n = f:rows()
  for _, name in ipairs(columns) do
    if not f:has(name) then error(string.format("label_encode: frame has no column '%s'", tostring(name)), 2) end
    local kind = f:kind(name)
    if not exclude[name] and (kind == "text" or kind == "number") then
      local c = f:col(name)
      local limit = (explicit or kind == "text") and math.huge or max
      -- most number columns show more than `max` values in their first rows
      local maybe = kind == "text" or limit == math.huge or n <= 4096
        or distinct(c:narrow(1, 1, 4096):totable(), 4096, limit) ~= nil
      local values = maybe and (kind == "text" and c or c:totable())
      local levels = maybe and distinct(values, n, limit)
      if levels then
        local code = {}
        for i, v in ipairs(levels) do code[v] = i - 1 end
        local coded = {}
        for i = 1, n do
          local v = values[i]
          coded[i] = (v == false or v ~= v) and NAN or code[v]
        end
        out:set(name, sy.tensor(coded, "float64"), "number")
        encodings[name] = levels
      end
    end
  end
  return out, encodings
end

-- <column>_lag<k> = column k rows earlier (NaN for the first k rows).
function M.lags(f, column, ks)
  check_frame(f, "lags")
  check_number_column(f, column, "lags")
  ks = ks or M.DEFAULT_LAGS
  check_steps(ks, "lags", "lags")
  local y, n = f:col(column), f:rows()
  local out = f:copy()
  for _, k in ipairs(ks) do
    local t = sy.full({ n }, NAN, "float64")
    if k < n then t:narrow(1, k + 1, n - k):copy_(y:narrow(1, 1, n - k)) end
    out:set(column .. "_lag" .. k, t, "number")
  end
  return out
end

-- <column>_lead<k> = column k rows LATER (NaN for the last k rows). These are
-- future values: a model given them sees the answer. They exist to reproduce
-- the reference code and are never on by default.
function M.leaky_leads(f, column, ks)
  check_frame(f, "leaky_leads")
  check_number_column(f, column, "leaky_leads")
  check_steps(ks, "leaky_leads", "leads")
  local y, n = f:col(column), f:rows()
  local out = f:copy()
  for _, k in ipairs(ks) do
    local t = sy.full({ n }, NAN, "float64")
    if k < n then t:narrow(1, 1, n - k):copy_(y:narrow(1, k + 1, n - k)) end
    out:set(column .. "_lead" .. k, t, "number")
  end
  return out
end

local FILLS = { forward = true, backward = true, mean = true }

-- Fills missing values of number columns (opts.columns, default all) by the
-- methods in order: "forward" (last value seen), "backward" (next value
-- seen), "mean" (mean of the column's values). Returns the new frame and the
-- number of values filled per column.
function M.fill(f, methods, opts)
  check_frame(f, "fill")
  opts = opts or {}
  if type(methods) == "string" then methods = { methods } end
  if type(methods) ~= "table" or #methods == 0 then
    error("fill: methods must be a list of \"forward\", \"backward\", \"mean\"", 2)
  end
  for _, m in ipairs(methods) do
    if not FILLS[m] then
      error(string.format("fill: unknown method '%s' (forward, backward, mean)", tostring(m)), 2)
    end
  end
  local out, counts = f:copy(), {}
  local n = f:rows()
  for _, name in ipairs(opts.columns or f:columns_of("number")) do
    check_number_column(f, name, "fill")
    local c = f:col(name)
    if n > 0 and c:isnan():sum():item() > 0 then
      local v, filled = c:clone(), 0
      for _, m in ipairs(methods) do filled = filled + sy._fill_gaps(v, m) end
      counts[name] = filled
      out:set(name, v, "number")
    end
  end
  return out, counts
end

-- The whole recipe: date parts of the time column, label encoding of the
-- other columns, target lags, (paper protocol and explicit request only)
-- target leads, then gap filling.
--   opts.protocol      "clean" (default) or "paper"
--   opts.target, opts.time   default to the frame's own (set by sy.datasets)
--   opts.lags          list (default 1,3,7,14,30) or false
--   opts.leaky_leads   list of lead steps; refused under "clean"
--   opts.date_parts, opts.label_encode   false to skip
--   opts.max_distinct  label-encoding threshold (10)
--   opts.fill          methods; default forward, backward, mean (paper) or
--                      forward, backward after dropping the rows whose lags
--                      are undefined (clean: no statistic of the whole series
--                      flows into a row)
function M.engineer(f, opts)
  check_frame(f, "engineer")
  opts = opts or {}
  local protocol = opts.protocol or "clean"
  if protocol ~= "paper" and protocol ~= "clean" then
    error(string.format("engineer: protocol must be \"paper\" or \"clean\", got %s", tostring(protocol)), 2)
  end
  local target = opts.target or f.target
  if target == nil then error("engineer: no target column (pass opts.target)", 2) end
  check_number_column(f, target, "engineer")
  local time = opts.time
  if time == nil then time = f.time end
  if opts.leaky_leads ~= nil and protocol ~= "paper" then
    error("engineer: leaky_leads puts future target values into the features; only the paper protocol " ..
      "may enable it", 2)
  end
  local lags = opts.lags
  if lags == nil then lags = M.DEFAULT_LAGS elseif lags == false then lags = {} end

  local originals = {}
  for _, n in ipairs(f:columns()) do
    if n ~= target and n ~= time then originals[#originals + 1] = n end
  end
  local out = f:copy()
  if time and opts.date_parts ~= false then out = M.date_parts(out, time) end
  if opts.label_encode ~= false then
    out = M.label_encode(out, { among = originals, max_distinct = opts.max_distinct })
  end
  if #lags > 0 then out = M.lags(out, target, lags) end
  if opts.leaky_leads then out = M.leaky_leads(out, target, opts.leaky_leads) end

  local methods = opts.fill
  if protocol == "clean" then
    local warmup = 0
    for _, k in ipairs(lags) do warmup = math.max(warmup, k) end
    if warmup > 0 and warmup < out:rows() then out = out:slice(warmup + 1, out:rows()) end
    methods = methods or { "forward", "backward" }
  else
    methods = methods or { "forward", "backward", "mean" }
  end
  if methods ~= false then out = M.fill(out, methods) end
  out.protocol = protocol
  out.target = target
  out.time = time or nil
  return out
end

return M
