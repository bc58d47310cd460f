-- sy.datasets: the study's datasets by name. Each is described by
-- datasets/<name>.lua in the checkout (file name, sha256, source, licence,
-- CSV options, time and target columns); the raw files are never part of the
-- repository. Files are looked for in, in order: opts.data (a script's
-- --data DIR), $SYNLUA_DATA, and datasets/ in the checkout.
--
--   local df = sy.datasets.load("airquality")                   -- cleaned frame
--   local fe = sy.datasets.load("sp500", {protocol = "clean"})  -- + features
--   sy.datasets.fetch("bitcoin", {data = "/data"})              -- download + sha256
local sy = require("synlua")

local M = {}

-- The datasets of the study (plus the ETT benchmarks), in the paper's order.
M.NAMES = { "sp500", "bitcoin", "airquality", "household", "etth1", "etth2" }

local function module_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) ~= "@" then return nil end
  local dir = src:sub(2):match("^(.*)/[^/]*$") or "."
  -- Lua cannot change directory, so the shell's PWD is where relative paths start.
  if dir:sub(1, 1) ~= "/" and os.getenv("PWD") then dir = os.getenv("PWD") .. "/" .. dir end
  return (dir:gsub("/%./", "/"))
end

-- datasets/ in the checkout (this file is <checkout>/lua/synlua/datasets.lua),
-- or <prefix>/share/synlua/datasets next to an installed copy.
local function checkout_datasets()
  local here = module_dir()
  if not here then return nil end
  local root = here:match("^(.*)/lua/synlua$")
  if root then return root .. "/datasets" end
  local share = here:match("^(.*)/lua/5%.4/synlua$")
  if share then return share .. "/synlua/datasets" end
  return nil
end
M.checkout_dir = checkout_datasets

-- A readable regular file ("x/." opens only when x is a directory).
local function exists(path)
  local f = io.open(path, "rb")
  if not f then return false end
  f:close()
  local d = io.open(path .. "/.", "rb")
  if d then
    d:close()
    return false
  end
  return true
end

local function check_name(name, fname)
  if type(name) ~= "string" or not name:match("^[%w_%-]+$") then
    error(string.format("%s: dataset name must be a word like 'sp500', got %s", fname, tostring(name)), 0)
  end
end

local REQUIRED = { "file", "sha256", "source", "licence", "target" }

-- The description table of a dataset (datasets/<name>.lua).
local function describe(name)
  check_name(name, "describe")
  local dir = checkout_datasets()
  local path = dir and (dir .. "/" .. name .. ".lua")
  if not path or not exists(path) then
    error(string.format("sy.datasets: no description for '%s' (looked for %s; known: %s)", name,
      path or "datasets/<name>.lua", table.concat(M.NAMES, ", ")), 0)
  end
  local chunk, err = loadfile(path, "t", {})
  if not chunk then error("sy.datasets: " .. err, 0) end
  local d = chunk()
  for _, k in ipairs(REQUIRED) do
    if type(d) ~= "table" or type(d[k]) ~= "string" then
      error(string.format("sy.datasets: %s: field '%s' is missing", path, k), 0)
    end
  end
  d.name = d.name or name
  d.description_path = path
  return d
end

-- The data directories searched, each with where it came from.
function M.dirs(opts)
  opts = opts or {}
  local list, seen = {}, {}
  local function add(dir, why)
    if dir and dir ~= "" and not seen[dir] then
      seen[dir] = true
      list[#list + 1] = { dir = dir, why = why }
    end
  end
  add(opts.data, "--data")
  add(os.getenv("SYNLUA_DATA"), "$SYNLUA_DATA")
  add(checkout_datasets(), "the checkout")
  return list
end

local function fetch_command(name)
  local dir = checkout_datasets()
  return string.format("synlua %s/fetch.lua %s --data DIR", dir or "datasets", name)
end

-- Path of the dataset's file: opts.file if given, else the first directory
-- holding the file (or one of its alternative names).
local function locate(name, opts)
  opts = opts or {}
  local d = describe(name)
  if opts.file then
    if not exists(opts.file) then
      error(string.format("sy.datasets: %s: file %s does not exist", name, opts.file), 0)
    end
    return opts.file, d
  end
  local files = { d.file }
  for _, alt in ipairs(d.alternatives or {}) do files[#files + 1] = alt end
  local dirs = M.dirs(opts)
  for _, e in ipairs(dirs) do
    for _, f in ipairs(files) do
      local p = e.dir .. "/" .. f
      if exists(p) then return p, d end
    end
  end
  local searched = {}
  for i, e in ipairs(dirs) do searched[i] = e.dir .. " (" .. e.why .. ")" end
  error(string.format(
    "sy.datasets: %s: %s not found\n  searched: %s\n  source: %s\n  licence: %s\n" ..
    "  get it with: %s\n  (or download %s into one of those directories; sha256 %s)",
    name, table.concat(files, " or "), #searched > 0 and table.concat(searched, ", ") or "(no directory)",
    d.source, d.licence, fetch_command(name), d.url or "it", d.sha256), 0)
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function have(cmd)
  local ok = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return ok == true
end

-- sha256 of a file, by the system's sha256sum (or shasum).
local function sha256(path)
  local cmd
  if have("sha256sum") then cmd = "sha256sum -- " .. shell_quote(path)
  elseif have("shasum") then cmd = "shasum -a 256 " .. shell_quote(path)
  else error("sy.datasets: neither sha256sum nor shasum is installed; cannot verify " .. path, 0) end
  local p = assert(io.popen(cmd .. " 2>/dev/null"))
  local out = p:read("a")
  p:close()
  local hex = out:match("^(%x+)")
  if not hex or #hex ~= 64 then error("sy.datasets: could not compute the sha256 of " .. path, 0) end
  return hex:lower()
end

-- Date + time columns joined into one datetime column at the date's place.
local function combine(df, c)
  if not (c and df:has(c.date) and df:has(c.time)) then return df end
  if df:kind(c.date) ~= "datetime" or df:kind(c.time) ~= "time" then
    error(string.format("sy.datasets: columns '%s' and '%s' are %s and %s, expected a date and a time", c.date,
      c.time, df:kind(c.date), df:kind(c.time)), 0)
  end
  local spec = {}
  for _, n in ipairs(df:columns()) do
    if n == c.date then
      spec[#spec + 1] = { c.into, df:col(c.date) + df:col(c.time), "datetime" }
    elseif n ~= c.time then
      spec[#spec + 1] = { n, df:col(n), df:kind(n) }
    end
  end
  local out = sy.data.frame(spec)
  out.path = df.path
  return out
end

-- sy.datasets.load(name [, opts]) -> frame with name, target and time set;
-- missing markers are NaN. opts: data (directory), file (explicit path),
-- verify (check the sha256 first). With opts.protocol ("paper" or "clean")
-- the frame goes through sy.data.engineer(frame, opts) too (lags,
-- leaky_leads, fill, ... as documented there).
local function load_frame(name, opts)
  check_name(name, "load")
  opts = opts or {}
  if type(opts) ~= "table" then error("load: options must be a table", 0) end
  local path, d = locate(name, opts)
  if opts.verify then
    local sum = sha256(path)
    if sum ~= d.sha256 then
      error(string.format("sy.datasets: %s: %s has sha256 %s, expected %s (a different or damaged file)", name,
        path, sum, d.sha256), 0)
    end
  end
  local df = combine(sy.data.read_csv(path, d.csv), d.combine)
  if not df:has(d.target) then
    error(string.format("sy.datasets: %s: %s has no target column '%s' (columns: %s)", name, path, d.target,
      table.concat(df:columns(), ", ")), 0)
  end
  df.name, df.target, df.path = d.name, d.target, path
  df.time = d.time and df:has(d.time) and d.time or nil
  if opts.protocol then return sy.data.engineer(df, opts) end
  return df
end

local function download(url, dest, quiet)
  local cmd
  if have("curl") then
    cmd = string.format("curl -fL --connect-timeout 30 %s -o %s %s", quiet and "-sS" or "--progress-bar",
      shell_quote(dest), shell_quote(url))
  elseif have("wget") then
    cmd = string.format("wget --timeout=30 --tries=2 %s -O %s %s", quiet and "-q" or "-q --show-progress",
      shell_quote(dest), shell_quote(url))
  else
    return false, "neither curl nor wget is installed"
  end
  local ok, how, code = os.execute(cmd)
  if ok then return true end
  return false, string.format("%s failed (%s %s)", cmd:match("^%S+"), how, tostring(code))
end

-- sy.datasets.fetch(name [, opts]) -> path: downloads the file into opts.data
-- (else $SYNLUA_DATA, else datasets/ in the checkout) from opts.url or the
-- description's url, with progress on stderr unless opts.quiet, and keeps it
-- only if its sha256 matches the description. A file already there with the
-- right checksum is kept as it is.
local function fetch(name, opts)
  check_name(name, "fetch")
  opts = opts or {}
  local d = describe(name)
  local url = opts.url or d.url
  if not url then error(string.format("sy.datasets: %s: the description has no download url", name), 0) end
  local dirs = M.dirs(opts)
  if #dirs == 0 then error("sy.datasets: no directory to fetch into (pass --data DIR)", 0) end
  local dir = dirs[1].dir
  os.execute("mkdir -p " .. shell_quote(dir))
  local dest = dir .. "/" .. d.file
  if exists(dest) and not opts.force then
    local sum = sha256(dest)
    if sum == d.sha256 then return dest, "present" end
    error(string.format("sy.datasets: %s already exists with sha256 %s, expected %s; remove it or use --force",
      dest, sum, d.sha256), 0)
  end
  local part = dest .. ".part"
  os.remove(part)
  if not opts.quiet then io.stderr:write(string.format("fetching %s: %s -> %s\n", name, url, dest)) end
  local ok, why = download(url, part, opts.quiet)
  if not ok then
    os.remove(part)
    error(string.format("sy.datasets: download of %s failed: %s", url, why), 0)
  end
  local sum = sha256(part)
  if sum ~= d.sha256 then
    os.remove(part)
    error(string.format("sy.datasets: checksum mismatch for %s from %s: sha256 %s, expected %s; the download " ..
      "was deleted", d.file, url, sum, d.sha256), 0)
  end
  local renamed, err = os.rename(part, dest)
  if not renamed then
    os.remove(part)
    error("sy.datasets: " .. tostring(err), 0)
  end
  return dest, "fetched"
end

-- Public entry points raise at the caller's line; the messages above are
-- built without a position so it appears only once.
local function public(f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if not r[1] then error(r[2], 2) end
    return table.unpack(r, 2, r.n)
  end
end
M.describe, M.locate, M.sha256 = public(describe), public(locate), public(sha256)
M.load, M.fetch = public(load_frame), public(fetch)

return M
