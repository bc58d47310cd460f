-- sy.data frames: a small column store. Columns have a name and a kind:
--   "number"   float64 tensor [rows], NaN = missing
--   "datetime" float64 tensor [rows], seconds since 1970-01-01 00:00 UTC
--   "time"     float64 tensor [rows], seconds since midnight
--   "text"     Lua array of strings, `false` = missing
-- Frames share column data: select, drop, head and slice make new frames
-- over the same tensors (views), and set replaces a column in place.
local sy = require("synlua")

local M = {}

local Frame = {}
Frame.__index = Frame
M.Frame = Frame

local KINDS = { number = true, datetime = true, time = true, text = true }

local function is_frame(v) return getmetatable(v) == Frame end
M.is_frame = is_frame

local function new(names, cols, kinds, nrows, meta)
  local f = setmetatable({ _names = names, _cols = cols, _kinds = kinds, _n = nrows }, Frame)
  if meta then
    for k, v in pairs(meta) do f[k] = v end
  end
  return f
end

-- Metadata carried from frame to frame (set by sy.datasets).
local META = { "name", "target", "time", "path" }

local function meta_of(f)
  local m = {}
  for _, k in ipairs(META) do m[k] = f[k] end
  return m
end

-- Checks a column's values against the row count and the kind, converting a
-- Lua table of numbers to a float64 tensor and strings to datetimes where the
-- kind asks for it.
local function column_values(fname, name, values, kind, nrows)
  if sy.is_tensor(values) then
    if values:dim() ~= 1 then
      error(string.format("%s: column '%s' must be a 1-d tensor, got %d-d", fname, name, values:dim()), 3)
    end
    kind = kind or "number"
    if kind == "text" then error(string.format("%s: text column '%s' must be a Lua table", fname, name), 3) end
    if values:dtype() ~= "float64" then values = values:double() end
    return values, kind, values:size(1)
  end
  if type(values) ~= "table" then
    error(string.format("%s: column '%s' must be a tensor or a table, got %s", fname, name, type(values)), 3)
  end
  local n = nrows or #values
  local first
  for i = 1, n do
    if values[i] ~= false and values[i] ~= nil then first = values[i]; break end
  end
  kind = kind or (type(first) == "string" and "text" or "number")
  if kind == "text" then
    local copy = {}
    for i = 1, n do
      local v = values[i]
      if v ~= false and type(v) ~= "string" then
        error(string.format("%s: text column '%s' row %d is a %s, expected a string or false", fname, name, i,
          type(v)), 3)
      end
      copy[i] = v
    end
    return copy, kind, n
  end
  local nums = {}
  for i = 1, n do
    local v = values[i]
    if type(v) == "string" and kind ~= "number" then
      local parsed = kind == "time" and sy._parse_time(v) or sy._parse_datetime(v)
      if not parsed then
        error(string.format("%s: column '%s' row %d: '%s' is not a %s", fname, name, i, v, kind), 3)
      end
      v = parsed
    elseif v == false then
      v = 0 / 0
    elseif type(v) ~= "number" then
      error(string.format("%s: column '%s' row %d is a %s, expected a number", fname, name, i, type(v)), 3)
    end
    nums[i] = v
  end
  return sy.tensor(nums, "float64"), kind, n
end

-- sy.data.frame{ {name, values [, kind]}, ... }: values are tensors or Lua
-- tables (numbers, or strings for text; strings with kind "datetime" are
-- parsed as dates).
function M.frame(spec)
  if type(spec) ~= "table" then error("frame: expected a list of {name, values [, kind]}", 2) end
  local f = new({}, {}, {}, nil)
  for i, c in ipairs(spec) do
    if type(c) ~= "table" or type(c[1]) ~= "string" then
      error(string.format("frame: entry %d must be {name, values [, kind]}", i), 2)
    end
    f:set(c[1], c[2], c[3])
  end
  f._n = f._n or 0
  return f
end

function Frame:rows() return self._n end

function Frame:columns()
  local out = {}
  for i, n in ipairs(self._names) do out[i] = n end
  return out
end

function Frame:has(name) return self._kinds[name] ~= nil end

local function check_name(self, name, fname, level)
  if self._kinds[name] == nil then
    error(string.format("%s: frame has no column '%s' (columns: %s)", fname, tostring(name),
      table.concat(self._names, ", ")), level + 1)
  end
end

function Frame:kind(name)
  check_name(self, name, "kind", 2)
  return self._kinds[name]
end

-- The column's data: a float64 tensor, or for text a Lua array.
function Frame:col(name)
  check_name(self, name, "col", 2)
  return self._cols[name]
end

-- Names of the columns of the given kind(s), in order.
function Frame:columns_of(...)
  local want = {}
  for _, k in ipairs({ ... }) do want[k] = true end
  local out = {}
  for _, n in ipairs(self._names) do
    if want[self._kinds[n]] then out[#out + 1] = n end
  end
  return out
end

-- Adds the column, or replaces it in place (keeping its position).
function Frame:set(name, values, kind)
  if type(name) ~= "string" then error("set: column name must be a string", 2) end
  if kind ~= nil and not KINDS[kind] then
    error(string.format("set: kind must be number, datetime, time or text, got %s", tostring(kind)), 2)
  end
  local v, k, n = column_values("set", name, values, kind, nil)
  if self._n ~= nil and n ~= self._n then
    error(string.format("set: column '%s' has %d rows, the frame has %d", name, n, self._n), 2)
  end
  self._n = n
  if self._kinds[name] == nil then self._names[#self._names + 1] = name end
  self._cols[name] = v
  self._kinds[name] = k
  return self
end

local function name_list(names, fname)
  if type(names) == "string" then return { names } end
  if type(names) ~= "table" then
    error(string.format("%s: expected a column name or a list of names, got %s", fname, type(names)), 3)
  end
  return names
end

function Frame:select(names)
  names = name_list(names, "select")
  local f = new({}, {}, {}, self._n, meta_of(self))
  for _, n in ipairs(names) do
    check_name(self, n, "select", 2)
    if f._kinds[n] == nil then
      f._names[#f._names + 1] = n
      f._cols[n] = self._cols[n]
      f._kinds[n] = self._kinds[n]
    end
  end
  return f
end

function Frame:drop(names)
  names = name_list(names, "drop")
  local gone = {}
  for _, n in ipairs(names) do
    check_name(self, n, "drop", 2)
    gone[n] = true
  end
  local keep = {}
  for _, n in ipairs(self._names) do
    if not gone[n] then keep[#keep + 1] = n end
  end
  return self:select(keep)
end

-- Rows first..last (1-based, inclusive); tensors are views.
function Frame:slice(first, last)
  if math.type(first) ~= "integer" or math.type(last) ~= "integer" then
    error("slice: first and last must be integers", 2)
  end
  if first < 1 or last > self._n or last < first - 1 then
    error(string.format("slice: rows %d..%d are outside 1..%d", first, last, self._n), 2)
  end
  local n = last - first + 1
  local f = new({}, {}, {}, n, meta_of(self))
  for i, name in ipairs(self._names) do
    f._names[i] = name
    f._kinds[name] = self._kinds[name]
    local c = self._cols[name]
    if sy.is_tensor(c) then
      f._cols[name] = c:narrow(1, first, n)
    else
      f._cols[name] = table.move(c, first, last, 1, {})
    end
  end
  return f
end

function Frame:head(n)
  n = n or 5
  if math.type(n) ~= "integer" or n < 0 then error("head: n must be a non-negative integer", 2) end
  return self:slice(1, math.min(n, self._n))
end

-- A [rows, #columns] tensor of the given columns (default: every number
-- column), float64 unless dtype says otherwise.
function Frame:tensor(columns, dtype)
  columns = columns and name_list(columns, "tensor") or self:columns_of("number")
  if #columns == 0 then error("tensor: no columns to stack", 2) end
  local list = {}
  for i, n in ipairs(columns) do
    check_name(self, n, "tensor", 2)
    if self._kinds[n] == "text" then
      error(string.format("tensor: column '%s' is text; label-encode it first (sy.data.label_encode)", n), 2)
    end
    list[i] = self._cols[n]
  end
  local t = self._n == 0 and sy.zeros(0, #list, "float64") or sy.stack(list, 2)
  if dtype and dtype ~= "float64" then t = t:to(dtype) end
  return t
end

-- A shallow copy: new column list, same data.
function Frame:copy() return self:select(self._names) end

local function cell(kind, v)
  if kind == "text" then return v == false and "NA" or v end
  if v ~= v then return "NaN" end
  if kind == "datetime" then
    local days = v // 86400
    local secs = v - days * 86400
    local p = sy._datetime_parts(sy.tensor({ v }, "float64")):totable()[1]
    local s = string.format("%04d-%02d-%02d", p[4], p[2], p[1])
    if secs ~= 0 then
      s = s .. string.format(" %02d:%02d:%02d", secs // 3600, secs // 60 % 60, math.floor(secs % 60))
    end
    return s
  elseif kind == "time" then
    return string.format("%02d:%02d:%02d", v // 3600, v // 60 % 60, math.floor(v % 60))
  end
  return string.format("%.6g", v)
end

function Frame:__tostring()
  local show = math.min(self._n, 10)
  local lines = { string.format("frame: %d rows x %d columns", self._n, #self._names) }
  local cols = {}
  for j, name in ipairs(self._names) do
    local c = self._cols[name]
    local vals = sy.is_tensor(c) and (show > 0 and c:narrow(1, 1, show):totable() or {}) or c
    local cells = { name }
    for i = 1, show do cells[i + 1] = cell(self._kinds[name], vals[i]) end
    local w = 0
    for _, s in ipairs(cells) do w = math.max(w, #s) end
    cols[j] = { cells = cells, w = w }
  end
  for i = 1, show + 1 do
    local parts = {}
    for j, c in ipairs(cols) do parts[j] = string.rep(" ", c.w - #c.cells[i]) .. c.cells[i] end
    lines[#lines + 1] = table.concat(parts, "  ")
  end
  if self._n > show then lines[#lines + 1] = string.format("... (%d more rows)", self._n - show) end
  return table.concat(lines, "\n")
end

-- sy.data.read_csv(path [, opts]) -> frame. opts: delimiter (one character,
-- "tab" or "auto"; sniffed by default), decimal ("." or ","), quote, header
-- (true), dayfirst (true: 03/04/2005 is 3 April), na (extra missing markers:
-- strings match whole fields, numbers match values in number columns),
-- default_na (true: "", NA, N/A, NaN, nan, null, NULL are missing), types
-- ({column = "number"|"datetime"|"time"|"text"}), infer_rows (1000), nrows.
function M.read_csv(path, opts)
  if type(path) ~= "string" then error("read_csv: path must be a string, got " .. type(path), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("read_csv: options must be a table", 2) end
  -- The C reader's messages already name the file and line.
  local ok, raw = pcall(sy._read_csv, path, opts)
  if not ok then error(raw, 0) end
  local f = new({}, {}, {}, raw.rows, { path = path })
  for i, name in ipairs(raw.names) do
    f._names[i] = name
    f._cols[name] = raw.columns[i]
    f._kinds[name] = raw.kinds[i]
  end
  f.delimiter = raw.delimiter
  return f
end

return M
