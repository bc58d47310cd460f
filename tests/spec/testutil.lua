-- Small helpers shared by the specs: whole-file reads and writes, shell
-- quoting, temporary directories, and temporary files removed by `cleanup()` (call it in teardown).
local M = {}

function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The file's bytes; raises if it cannot be read.
function M.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The file's bytes, or nil when it does not exist (yet): for files a child
-- process may or may not have written.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- A fresh empty directory (not removed by cleanup(): the callers do).
function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. M.quote(d)))
  return d
end

function M.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local temps = {}

-- A fresh temporary path, holding `bytes` when given.
function M.tempfile(bytes)
  local path = os.tmpname()
  temps[#temps + 1] = path
  if bytes then M.write_file(path, bytes) end
  return path
end

function M.cleanup()
  for _, path in ipairs(temps) do os.remove(path) end
  temps = {}
end

return M
